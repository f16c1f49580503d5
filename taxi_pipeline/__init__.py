"""taxi_pipeline: the NYC TLC trip releases as Dagster software-defined assets.

The code location is `taxi_pipeline.definitions`; importing the package builds nothing.
"""
