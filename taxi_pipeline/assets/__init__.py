from taxi_pipeline.assets.trips import build_trip_assets
from taxi_pipeline.assets.zones import zone_assets
from taxi_pipeline.colors import COLORS

trip_assets = [a for color in COLORS.values() for a in build_trip_assets(color)]
all_assets = [*trip_assets, *zone_assets]
