"""The zone lookup: its three assets and the job that loads it."""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job, definitions

from taxi_pipeline.assets.zones import GROUP, zone_assets
from taxi_pipeline.environments import current_environment


def zone_definitions(warehouse_kind: str) -> Definitions:
    return Definitions(
        assets=zone_assets(warehouse_kind),
        jobs=[
            define_asset_job(
                "taxi_zones_job",
                selection=AssetSelection.groups(GROUP),
                description="The zone lookup into the lake, the warehouse and Postgres.",
            )
        ],
    )


@definitions
def defs() -> Definitions:
    return zone_definitions(current_environment().warehouse_kind)
