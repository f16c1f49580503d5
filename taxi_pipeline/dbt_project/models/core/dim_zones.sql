-- The pipeline's own zone table (not a copied seed), as the course's dim_zones.
select
    locationid,
    borough,
    zone,
    replace(service_zone, 'Boro', 'Green') as service_zone
from {{ source('trips_data_all', 'taxi_zone_lookup') }}
