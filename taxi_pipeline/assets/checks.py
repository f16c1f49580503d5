"""A service's asset checks: evaluated by the month's step itself and shown in the UI.

The clean parquet's checks are counted on the batches as the step writes them (a tally,
no second read of the month); ERROR checks are blocking: a month that fails them is kept
in the lake but never committed to the warehouse or Postgres. WARN checks flag what real
months do contain (pickups from the previous month, refunds as negative totals) when
there is more of it than usual. `rows_reconcile` compares the four targets once the month
is committed. A check run on its own (from the UI) reads the lake and the targets instead.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, PreviewWarning

from taxi_pipeline.assets.keys import trip_asset_keys
from taxi_pipeline.partitions import monthly_partitions
from taxi_pipeline.services import UNKNOWN_ZONE, TaxiService
from taxi_pipeline.targets import counts_agree

# Partitioned asset checks are a preview feature in Dagster 1.13; we rely on them so each
# month's checks show with that month in the UI.
warnings.filterwarnings("ignore", category=PreviewWarning, message=".*partitions_def on an AssetCheckSpec")

PICKUPS_OUTSIDE_MONTH_WARN_SHARE = 0.01
"""Real files hold a few pickups from the previous month (0.07% of yellow 2021-01's head)."""

NEGATIVE_TOTAL_WARN_SHARE = 0.02
"""Refunds and disputes show as negative totals (0.9% of yellow 2021-01's head)."""

TOTAL_AMOUNT = "total_amount"
SCHEMA_IS_CANONICAL = "schema_is_canonical"
PICKUP_NEVER_NULL = "pickup_never_null"
PICKUPS_IN_MONTH = "pickups_in_month"
NEGATIVE_TOTAL_AMOUNT = "negative_total_amount"
ROWS_RECONCILE = "rows_reconcile"
ZONES_LOCATED = "zones_located"
ZONES_LOCATED_WARN_SHARE = 0.90
"""A month located from coordinates puts at least this share of its trip ends in a zone."""


def month_check_specs(service: TaxiService) -> list[AssetCheckSpec]:
    keys = trip_asset_keys(service)
    months = monthly_partitions(service)

    def on_clean(name: str, description: str, blocking: bool = False) -> AssetCheckSpec:
        return AssetCheckSpec(name, asset=keys.clean, description=description, blocking=blocking,
                              partitions_def=months)

    specs = [
        on_clean(SCHEMA_IS_CANONICAL, "The stored parquet has exactly the service's canonical schema.", True),
        on_clean(PICKUP_NEVER_NULL, "Every trip has a pickup time.", True),
        on_clean(PICKUPS_IN_MONTH, "Warns when more than 1% of pickups fall outside the file's month."),
    ]
    if TOTAL_AMOUNT in service.schema.names:
        specs.append(on_clean(NEGATIVE_TOTAL_AMOUNT,
                              "Warns when more than 2% of trips have a negative total_amount."))
    if service.located_zones:
        specs.append(on_clean(ZONES_LOCATED, "Warns when a month whose trips carry coordinates instead "
                              f"of zone IDs locates fewer than {ZONES_LOCATED_WARN_SHARE:.0%} of its "
                              "trip ends (pickups and dropoffs) in a zone."))
    specs.append(AssetCheckSpec(
        ROWS_RECONCILE, asset=keys.postgres, additional_deps=[keys.raw, keys.clean, keys.warehouse],
        description="Rows in the raw file = the parquet = the warehouse's month = Postgres' month.",
        partitions_def=months,
    ))
    return specs


@dataclass
class CleanTally:
    """What the clean checks count, accumulated batch by batch as the month is written."""

    service: TaxiService
    start: datetime
    end: datetime
    rows: int = 0
    null_pickups: int = 0
    outside_month: int = 0
    negative_totals: int = 0
    trip_ends: int = 0
    trip_ends_located: int = 0

    @property
    def located_month(self) -> bool:
        """The month's files carry coordinates, so its zones were located (registry)."""
        months = self.service.coordinate_months
        return bool(months) and months[0] <= f"{self.start:%Y-%m}" <= months[1]

    def __call__(self, batch: pa.RecordBatch | pa.Table) -> None:
        pickups = batch.column(self.service.pickup_column)
        self.rows += len(pickups)
        self.null_pickups += pickups.null_count
        outside = pc.or_(pc.less(pickups, self.start), pc.greater_equal(pickups, self.end))
        self.outside_month += pc.sum(outside).as_py() or 0
        if TOTAL_AMOUNT in batch.schema.names:
            self.negative_totals += pc.sum(pc.less(batch.column(TOTAL_AMOUNT), 0)).as_py() or 0
        for zone in self.service.located_zones:
            self.trip_ends += len(pickups)
            self.trip_ends_located += pc.sum(pc.less(batch.column(zone), UNKNOWN_ZONE)).as_py() or 0

    def read(self, clean: Path) -> CleanTally:
        """Tally a stored month, its needed columns a row group at a time."""
        columns = [c for c in (self.service.pickup_column, TOTAL_AMOUNT, *self.service.located_zones)
                   if c in self.service.schema.names]
        for batch in pq.ParquetFile(clean, pre_buffer=False).iter_batches(columns=columns):
            self(batch)
        return self


def clean_check_results(
    service: TaxiService, tally: CleanTally, stored: pa.Schema, wanted: set[str]
) -> list[AssetCheckResult]:
    """The clean parquet's checks named in `wanted`, from its tally and its stored schema."""
    key = trip_asset_keys(service).clean
    stored = stored.remove_metadata()
    differences = [f"{f.name}: {f.type}" for f in stored if f not in service.schema] + [
        f"missing {f.name}" for f in service.schema if f.name not in stored.names]
    results = {
        SCHEMA_IS_CANONICAL: lambda: dict(
            passed=stored.equals(service.schema), metadata={"differences": ", ".join(differences) or "none"}),
        PICKUP_NEVER_NULL: lambda: dict(
            passed=tally.null_pickups == 0, metadata={"null_pickups": tally.null_pickups}),
        PICKUPS_IN_MONTH: lambda: _share_warning(
            "pickups_outside_month", tally.rows, tally.outside_month, PICKUPS_OUTSIDE_MONTH_WARN_SHARE),
        NEGATIVE_TOTAL_AMOUNT: lambda: _share_warning(
            "negative_total_amount", tally.rows, tally.negative_totals, NEGATIVE_TOTAL_WARN_SHARE),
        ZONES_LOCATED: lambda: _located(tally),
    }
    return [AssetCheckResult(asset_key=key, check_name=name, **result())
            for name, result in results.items() if name in wanted]


def blocking_failures(service: TaxiService, results: list[AssetCheckResult]) -> list[str]:
    blocking = {spec.name for spec in month_check_specs(service) if spec.blocking}
    return [r.check_name for r in results if r.check_name in blocking and not r.passed]


def reconcile_result(service: TaxiService, counts: dict[str, int | None]) -> AssetCheckResult:
    return AssetCheckResult(
        asset_key=trip_asset_keys(service).postgres,
        check_name=ROWS_RECONCILE,
        passed=counts_agree(counts),
        metadata={f"rows {target}": -1 if n is None else n for target, n in counts.items()},
    )


def _located(tally: CleanTally) -> dict:
    """WARN when a month located from coordinates put too few trip ends in a zone; a month
    whose file had zone IDs has nothing to locate and passes."""
    if not tally.located_month:
        return dict(passed=True, metadata={"located": "no: the file has zone IDs"})
    share = tally.trip_ends_located / tally.trip_ends if tally.trip_ends else 0.0
    return dict(passed=share >= ZONES_LOCATED_WARN_SHARE, severity=AssetCheckSeverity.WARN,
                metadata={"trip_ends": tally.trip_ends, "trip_ends_located": tally.trip_ends_located,
                          "share": round(share, 6), "threshold": ZONES_LOCATED_WARN_SHARE})


def _share_warning(name: str, rows: int, count: int, threshold: float) -> dict:
    """WARN when the share of rows flagged is above `threshold`; the count is metadata."""
    share = count / rows if rows else 0.0
    return dict(
        passed=share <= threshold,
        severity=AssetCheckSeverity.WARN,
        metadata={name: count, "share": round(share, 6), "threshold": threshold},
    )
