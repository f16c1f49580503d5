"""The asset keys of a service's four monthly assets, for every module that names them."""

from typing import NamedTuple

from dagster import AssetKey

from taxi_pipeline.services import TaxiService


class TripAssetKeys(NamedTuple):
    raw: AssetKey
    clean: AssetKey
    warehouse: AssetKey
    postgres: AssetKey


def trip_asset_keys(service: TaxiService) -> TripAssetKeys:
    return TripAssetKeys(
        raw=AssetKey(["lake", f"raw_{service.name}_trips"]),
        clean=AssetKey(["lake", f"clean_{service.name}_trips"]),
        warehouse=AssetKey(["warehouse", service.warehouse_table]),
        postgres=AssetKey(["postgres", service.postgres_table]),
    )
