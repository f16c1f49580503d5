"""taxi_pipeline: the NYC TLC trip releases as Dagster software-defined assets."""

from taxi_pipeline.definitions import defs

__all__ = ["defs"]
