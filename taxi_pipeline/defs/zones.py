"""The zones: the lookup's and the shapes' assets, and the job that loads them."""

from __future__ import annotations

import functools

from dagster import AssetSelection, Definitions, define_asset_job, definitions

from taxi_pipeline.assets.zones import GROUP, shapes_in_use_specs, zone_assets
from taxi_pipeline.environments import current_environment


@functools.cache
def zones_job():
    """One object: the source sensor targets the same job."""
    return define_asset_job(
        "taxi_zones_job",
        selection=AssetSelection.groups(GROUP)
        - AssetSelection.assets(*(spec.key for spec in shapes_in_use_specs())),
        description="The zone lookup and the zone shapes into the lake, the warehouse and Postgres.",
    )


def zone_definitions(warehouse_kind: str) -> Definitions:
    return Definitions(assets=[*zone_assets(warehouse_kind), *shapes_in_use_specs()], jobs=[zones_job()])


@definitions
def defs() -> Definitions:
    return zone_definitions(current_environment().warehouse_kind)
