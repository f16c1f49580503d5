"""The Dagster internals the warehouse IO managers build on, imported in this one place.

Dagster 1.13.27 has no public path for these: `DbIOManager`, `DbTypeHandler` and
`TableSlice` are what dagster-duckdb and dagster-gcp build their own IO managers from
(they import them from the same private modules), and `TableMetadataSet` (the
`dagster/column_schema`, `dagster/partition_row_count` and `dagster/storage_kind` keys)
is not exported from `dagster` either; nor is `AssetCheckExecutionRecordStatus`, which the
freshness check needs to read its own last completed evaluation. A run of several months
(`assets/month_range.py`) reports each month as Dagster reports a run of one: with the
tags Dagster builds for a materialization's data version (`data_version_tags`,
`compute_logical_data_version`), the target of a check's evaluation, and the run tags of
backfills and resumed runs. Checked against dagster
1.13.27 and the 0.29.27 integrations: on an upgrade, look here first, and prefer a public
import once one exists.
"""

from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.definitions.data_version import compute_logical_data_version
from dagster._core.definitions.metadata.metadata_set import TableMetadataSet
from dagster._core.execution.plan.execute_step import _build_data_version_tags as data_version_tags
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.db_io_manager import (
    DbIOManager,
    DbTypeHandler,
    TablePartitionDimension,
    TableSlice,
)
from dagster._core.storage.tags import BACKFILL_ID_TAG, RESUME_RETRY_TAG

__all__ = [
    "BACKFILL_ID_TAG", "RESUME_RETRY_TAG", "AssetCheckEvaluationTargetMaterializationData",
    "AssetCheckExecutionRecordStatus", "DbIOManager", "DbTypeHandler", "TableMetadataSet",
    "TablePartitionDimension", "TableSlice", "compute_logical_data_version", "data_version_tags",
]
