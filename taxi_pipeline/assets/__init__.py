from taxi_pipeline.assets.trips import build_trip_assets
from taxi_pipeline.assets.zones import zone_assets
from taxi_pipeline.services import SERVICES
from taxi_pipeline.sources import Source, current_source


def assets_for(source: Source) -> list:
    """Every asset, with raw files of `source`'s type (the raw zone keeps files as published)."""
    return [*(a for service in SERVICES.values() for a in build_trip_assets(service, source)), *zone_assets]


all_assets = assets_for(current_source())
