"""The dbt models' code location (`taxi_pipeline.models.definitions`), apart from the
pipeline's (`taxi_pipeline.definitions`) so that a service month's run never imports
dagster-dbt and dbt-core (1.1 s and 81 MB a run): each run loads only its own location.
Declarative automation follows the trip tables across the two locations.
"""
