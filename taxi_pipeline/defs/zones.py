"""The zone lookup: its three assets and the job that loads it."""

from __future__ import annotations

import functools

from dagster import AssetSelection, Definitions, define_asset_job, definitions

from taxi_pipeline.assets.zones import GROUP, zone_assets
from taxi_pipeline.environments import current_environment


@functools.cache
def zones_job():
    """One object: the source sensor targets the same job."""
    return define_asset_job(
        "taxi_zones_job",
        selection=AssetSelection.groups(GROUP),
        description="The zone lookup into the lake, the warehouse and Postgres.",
    )


def zone_definitions(warehouse_kind: str) -> Definitions:
    return Definitions(assets=zone_assets(warehouse_kind), jobs=[zones_job()])


@definitions
def defs() -> Definitions:
    return zone_definitions(current_environment().warehouse_kind)
