-- Beyond the course: the for-hire services per pickup zone and file month. fhv: trips;
-- fhvhv (Uber, Lyft, Via, Juno): trips, passenger fares and driver pay.
with fhv as (
    select
        pickup_locationid, source_month, 'FHV' as service_type,
        count(*) as trips,
        cast(null as numeric) as base_passenger_fare,
        cast(null as numeric) as tips,
        cast(null as numeric) as driver_pay
    from {{ ref('stg_fhv_tripdata') }}
    group by 1, 2
),
fhvhv as (
    select
        pickup_locationid, source_month, 'FHVHV' as service_type,
        count(*) as trips,
        sum(base_passenger_fare) as base_passenger_fare,
        sum(tips) as tips,
        sum(driver_pay) as driver_pay
    from {{ ref('stg_fhvhv_tripdata') }}
    group by 1, 2
),
trips as (
    select * from fhv
    union all
    select * from fhvhv
)
select
    zones.zone as pickup_zone,
    zones.borough as pickup_borough,
    trips.source_month as trip_month,
    trips.service_type,
    trips.trips as total_monthly_trips,
    trips.base_passenger_fare as monthly_base_passenger_fare,
    trips.tips as monthly_tips,
    trips.driver_pay as monthly_driver_pay
from trips
left join {{ ref('dim_zones') }} as zones
    on trips.pickup_locationid = zones.locationid
