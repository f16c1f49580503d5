{#- Yellow and green trips with their zones, incremental by month: a Dagster partition's
    run passes its window (start_month, end_month) and replaces exactly those months
    (delete+insert keyed on source_month; BigQuery: insert_overwrite of the month
    partitions, named statically from the window). Earlier months are never read nor
    rewritten. -#}
{{
    config(
        materialized='incremental',
        incremental_strategy=('insert_overwrite' if target.type == 'bigquery' else 'delete+insert'),
        unique_key=(none if target.type == 'bigquery' else 'source_month'),
        partition_by=({'field': 'source_month', 'data_type': 'timestamp', 'granularity': 'month'}
                      if target.type == 'bigquery' else none),
        partitions=(month_partitions() if target.type == 'bigquery' else none),
        cluster_by=(['pickup_datetime', 'pickup_locationid'] if target.type == 'bigquery' else none),
        on_schema_change='append_new_columns',
    )
}}

with green_tripdata as (
    select *, 'Green' as service_type
    from {{ ref('stg_green_tripdata') }}
    where {{ month_window('source_month') }}
),
yellow_tripdata as (
    select *, 'Yellow' as service_type
    from {{ ref('stg_yellow_tripdata') }}
    where {{ month_window('source_month') }}
),
trips_unioned as (
    select * from green_tripdata
    union all
    select * from yellow_tripdata
),
dim_zones as (
    select * from {{ ref('dim_zones') }}
    where borough != 'Unknown'
)
select
    trips_unioned.tripid,
    trips_unioned.vendorid,
    trips_unioned.service_type,
    trips_unioned.ratecodeid,
    trips_unioned.pickup_locationid,
    pickup_zone.borough as pickup_borough,
    pickup_zone.zone as pickup_zone,
    trips_unioned.dropoff_locationid,
    dropoff_zone.borough as dropoff_borough,
    dropoff_zone.zone as dropoff_zone,
    trips_unioned.pickup_datetime,
    trips_unioned.dropoff_datetime,
    trips_unioned.source_month,
    trips_unioned.store_and_fwd_flag,
    trips_unioned.passenger_count,
    trips_unioned.trip_distance,
    trips_unioned.trip_type,
    trips_unioned.fare_amount,
    trips_unioned.extra,
    trips_unioned.mta_tax,
    trips_unioned.tip_amount,
    trips_unioned.tolls_amount,
    trips_unioned.ehail_fee,
    trips_unioned.improvement_surcharge,
    trips_unioned.total_amount,
    trips_unioned.payment_type,
    trips_unioned.payment_type_description
from trips_unioned
inner join dim_zones as pickup_zone
    on trips_unioned.pickup_locationid = pickup_zone.locationid
inner join dim_zones as dropoff_zone
    on trips_unioned.dropoff_locationid = dropoff_zone.locationid
