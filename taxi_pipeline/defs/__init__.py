"""The pipeline location's definitions, loaded as a `dg` defs folder (definitions.py).

One module per concern, each with one `@definitions` function that Dagster calls when it
loads the location (importing a module here builds nothing):
services.py (one factory per service, fed by the registry), zones.py, sensors.py,
resources.py, freshness.py. The dbt models are a location of their own (taxi_pipeline/models/).
"""
