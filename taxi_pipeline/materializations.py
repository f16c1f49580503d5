"""What the instance recorded for a month of an asset: its latest materialization.

One query for two readers: the reconcile check takes the raw step's row count from it,
and the freshness checks and the source sensor the data version of the raw file loaded last.
"""

from __future__ import annotations

from dagster import AssetKey, AssetMaterialization, AssetRecordsFilter, DagsterInstance

DATA_VERSION_TAG = "dagster/data_version"


def latest_materialization(
    instance: DagsterInstance, key: AssetKey, month: str | None
) -> AssetMaterialization | None:
    """Of the month, or of the unpartitioned asset when `month` is None."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[month] if month else None), limit=1
    ).records
    return records[0].asset_materialization if records else None


def recorded_rows(instance: DagsterInstance, key: AssetKey, month: str) -> int | None:
    """The `rows` metadata of the asset's latest materialization of the month."""
    materialization = latest_materialization(instance, key, month)
    rows = materialization.metadata.get("rows") if materialization else None
    return None if rows is None else rows.value


def stored_version(instance: DagsterInstance, key: AssetKey, month: str | None) -> str | None:
    """The data version the asset's latest materialization of the month recorded."""
    materialization = latest_materialization(instance, key, month)
    return materialization.tags.get(DATA_VERSION_TAG) if materialization else None
