"""The Dagster internals the warehouse IO managers build on, imported in this one place.

Dagster 1.13.27 has no public path for these: `DbIOManager`, `DbTypeHandler` and
`TableSlice` are what dagster-duckdb and dagster-gcp build their own IO managers from
(they import them from the same private modules), and `TableMetadataSet` (the
`dagster/column_schema`, `dagster/partition_row_count` and `dagster/storage_kind` keys)
is not exported from `dagster` either; nor is `AssetCheckExecutionRecordStatus`, which the
freshness check needs to read its own last completed evaluation. Checked against dagster
1.13.27 and the 0.29.27 integrations: on an upgrade, look here first, and prefer a public
import once one exists.
"""

from dagster._core.definitions.metadata.metadata_set import TableMetadataSet
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.db_io_manager import (
    DbIOManager,
    DbTypeHandler,
    TablePartitionDimension,
    TableSlice,
)

__all__ = [
    "AssetCheckExecutionRecordStatus", "DbIOManager", "DbTypeHandler", "TableMetadataSet",
    "TablePartitionDimension", "TableSlice",
]
