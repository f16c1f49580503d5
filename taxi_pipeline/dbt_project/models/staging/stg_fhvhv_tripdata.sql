-- High-volume for-hire trips (Uber, Lyft, Via, Juno): the fields the marts use, typed.
select
    hvfhs_license_num,
    dispatching_base_num,
    cast(pickup_datetime as timestamp) as pickup_datetime,
    cast(dropoff_datetime as timestamp) as dropoff_datetime,
    source_month,
    {{ dbt.safe_cast("pulocationid", api.Column.translate_type("integer")) }} as pickup_locationid,
    {{ dbt.safe_cast("dolocationid", api.Column.translate_type("integer")) }} as dropoff_locationid,
    cast(trip_miles as numeric) as trip_miles,
    trip_time,
    cast(base_passenger_fare as numeric) as base_passenger_fare,
    cast(tolls as numeric) as tolls,
    cast(tips as numeric) as tips,
    cast(driver_pay as numeric) as driver_pay
from {{ source('trips_data_all', 'fhvhv_tripdata') }}
