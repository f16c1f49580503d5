"""A service's asset checks, run with each materialization and shown in the UI.

ERROR checks on the clean parquet are blocking: a month that fails them never reaches
the warehouse or Postgres. WARN checks flag what real months do contain (pickups from
the previous month, refunds as negative totals) when there is more of it than usual.
"""

import warnings
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetIn,
    PreviewWarning,
    asset_check,
)

from taxi_pipeline.assets.trips import trip_asset_keys
from taxi_pipeline.materializations import recorded_rows
from taxi_pipeline.partitions import monthly_partitions
from taxi_pipeline.resources.postgres import PostgresResource
from taxi_pipeline.resources.warehouse import WarehouseResource
from taxi_pipeline.services import TaxiService
from taxi_pipeline.targets import counts_agree, parquet_rows, postgres_month_rows

# Partitioned asset checks are a preview feature in Dagster 1.13; we rely on them so each
# month's checks show with that month in the UI.
warnings.filterwarnings("ignore", category=PreviewWarning, message=".*partitions_def on an AssetCheckSpec")

PICKUPS_OUTSIDE_MONTH_WARN_SHARE = 0.01
"""Real files hold a few pickups from the previous month (0.07% of yellow 2021-01's head)."""

NEGATIVE_TOTAL_WARN_SHARE = 0.02
"""Refunds and disputes show as negative totals (0.9% of yellow 2021-01's head)."""

TOTAL_AMOUNT = "total_amount"


def _month_bounds(partitions, partition_key: str):
    window = partitions.time_window_for_partition_key(partition_key)
    return window.start.replace(tzinfo=None), window.end.replace(tzinfo=None)


def _count_flagged(clean: Path, column: str, flag) -> tuple[int, int]:
    """(rows, rows where `flag(values)` is true) of one column, a row group at a time, so a
    check's memory does not grow with the month."""
    rows = flagged = 0
    for batch in pq.ParquetFile(clean, pre_buffer=False).iter_batches(columns=[column]):
        values = batch.column(0)
        rows += len(values)
        flagged += pc.sum(flag(values)).as_py() or 0
    return rows, flagged


def _share_warning(name: str, rows: int, count: int, threshold: float) -> AssetCheckResult:
    """WARN when the share of rows flagged is above `threshold`; the count is metadata."""
    share = count / rows if rows else 0.0
    return AssetCheckResult(
        passed=share <= threshold,
        severity=AssetCheckSeverity.WARN,
        metadata={name: count, "share": round(share, 6), "threshold": threshold},
    )


def trip_checks(service: TaxiService) -> list[AssetChecksDefinition]:
    keys = trip_asset_keys(service)
    months = monthly_partitions(service)
    checks = []

    @asset_check(asset=keys.clean, name="schema_is_canonical", blocking=True,
                 partitions_def=months)
    def schema_is_canonical(clean: Path) -> AssetCheckResult:
        """The stored parquet has exactly the service's canonical schema."""
        stored = pq.read_schema(clean).remove_metadata()
        differences = [
            f"{field.name}: {field.type}" for field in stored if field not in service.schema
        ] + [f"missing {field.name}" for field in service.schema if field.name not in stored.names]
        return AssetCheckResult(
            passed=stored.equals(service.schema),
            metadata={"differences": ", ".join(differences) or "none"},
        )

    @asset_check(asset=keys.clean, name="pickup_never_null", blocking=True,
                 partitions_def=months)
    def pickup_never_null(clean: Path) -> AssetCheckResult:
        """Every trip has a pickup time."""
        _, nulls = _count_flagged(clean, service.pickup_column, pc.is_null)
        return AssetCheckResult(passed=nulls == 0, metadata={"null_pickups": nulls})

    @asset_check(asset=keys.clean, name="pickups_in_month", partitions_def=months)
    def pickups_in_month(context: AssetCheckExecutionContext, clean: Path) -> AssetCheckResult:
        """Warns when more than 1% of pickups fall outside the file's month."""
        start, end = _month_bounds(months, context.partition_key)
        rows, outside = _count_flagged(
            clean,
            service.pickup_column,
            lambda pickups: pc.or_(pc.less(pickups, start), pc.greater_equal(pickups, end)),
        )
        return _share_warning("pickups_outside_month", rows, outside, PICKUPS_OUTSIDE_MONTH_WARN_SHARE)

    checks += [schema_is_canonical, pickup_never_null, pickups_in_month]

    if TOTAL_AMOUNT in service.schema.names:

        @asset_check(asset=keys.clean, name="negative_total_amount",
                     partitions_def=months)
        def negative_total_amount(clean: Path) -> AssetCheckResult:
            """Warns when more than 2% of trips have a negative total_amount."""
            rows, negative = _count_flagged(clean, TOTAL_AMOUNT, lambda totals: pc.less(totals, 0))
            return _share_warning("negative_total_amount", rows, negative, NEGATIVE_TOTAL_WARN_SHARE)

        checks.append(negative_total_amount)

    @asset_check(
        asset=keys.postgres,
        name="rows_reconcile",
        additional_ins={"clean": AssetIn(keys.clean)},
        additional_deps=[keys.raw, keys.warehouse],
        partitions_def=months,
    )
    def rows_reconcile(
        context: AssetCheckExecutionContext,
        clean: Path,
        warehouse: WarehouseResource,
        postgres: PostgresResource,
    ) -> AssetCheckResult:
        """Rows in the raw file = the parquet = the warehouse's month = Postgres' month."""
        month = context.partition_key
        counts = {
            # Counted by the raw step, which reads the whole file: counting a 20M-row
            # csv.gz's lines again took 6 s (and a download of it from GCS).
            "raw file": recorded_rows(context.instance, keys.raw, month),
            "clean parquet": parquet_rows(clean),
            "warehouse": warehouse.month_rows(service.warehouse_table, month),
            "postgres": postgres_month_rows(postgres, service.postgres_table, month),
        }
        return AssetCheckResult(
            passed=counts_agree(counts),
            metadata={f"rows {target}": -1 if n is None else n for target, n in counts.items()},
        )

    checks.append(rows_reconcile)
    return checks

