"""One monthly job per color, one for all colors, and one for the zone lookup."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from taxi_pipeline.assets.zones import GROUP as ZONES_GROUP
from taxi_pipeline.colors import COLORS
from taxi_pipeline.partitions import monthly_partitions

color_jobs = {
    name: define_asset_job(
        f"{name}_taxi_job",
        selection=AssetSelection.groups(name),
        partitions_def=monthly_partitions,
        description=f"One month of {name} trips: download, clean, warehouse, Postgres.",
    )
    for name in COLORS
}

taxi_monthly_job = define_asset_job(
    "taxi_monthly_job",
    selection=AssetSelection.groups(*COLORS),
    partitions_def=monthly_partitions,
    description="One month of every color.",
)

taxi_zones_job = define_asset_job(
    "taxi_zones_job",
    selection=AssetSelection.groups(ZONES_GROUP),
    description="The zone lookup into the lake, the warehouse and Postgres.",
)

all_jobs = [*color_jobs.values(), taxi_monthly_job, taxi_zones_job]
