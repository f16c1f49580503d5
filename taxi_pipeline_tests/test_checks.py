"""Asset checks run with each materialization: they pass on real months, and fail when
the data or the targets say so."""

import gzip

from dagster import AssetCheckSeverity, AssetSelection, Definitions, define_asset_job

from taxi_pipeline.assets.keys import trip_asset_keys
from taxi_pipeline.partitions import monthly_partitions
from taxi_pipeline.services import SERVICES
from taxi_pipeline_tests.definitions import all_checks, assets_for

YELLOW = trip_asset_keys(SERVICES["yellow"])


def _edit_pickups(taxi_env, month: str, lines: range, value: str) -> None:
    text = gzip.decompress(taxi_env.mirror.path("yellow", month).read_bytes()).decode()
    rows = text.split("\r\n")
    for line in lines:
        fields = rows[line - 1].split(",")
        fields[1] = value
        rows[line - 1] = ",".join(fields)
    taxi_env.mirror.put("yellow", month, gzip.compress("\r\n".join(rows).encode()))


def test_a_real_month_passes_every_check_and_reconciles(taxi_env):
    result = taxi_env.materialize("yellow", "2021-01")

    checks = taxi_env.checks(result)
    assert sorted(checks) == [
        "negative_total_amount", "pickup_never_null", "pickups_in_month",
        "rows_reconcile", "schema_is_canonical", "zones_located",
    ]
    assert all(c.passed for c in checks.values())
    assert checks["zones_located"].metadata["located"].value == "no: the file has zone IDs"
    reconcile = {k: v.value for k, v in checks["rows_reconcile"].metadata.items()}
    assert set(reconcile.values()) == {22792}
    in_month = checks["pickups_in_month"].metadata
    assert in_month["pickups_outside_month"].value == 16
    assert checks["negative_total_amount"].metadata["negative_total_amount"].value > 0


def test_fhv_has_no_total_amount_check(taxi_env):
    checks = taxi_env.checks(taxi_env.materialize("fhv", "2019-01"))
    assert "negative_total_amount" not in checks and checks["rows_reconcile"].passed


def test_many_pickups_outside_the_month_warn_without_failing_the_run(taxi_env):
    _edit_pickups(taxi_env, "2020-01", range(100, 120), "2019-12-15 08:00:00")  # 20 rows

    result = taxi_env.materialize("yellow", "2020-01")

    check = taxi_env.checks(result)["pickups_in_month"]
    assert result.success and not check.passed
    assert check.severity == AssetCheckSeverity.WARN
    assert check.metadata["pickups_outside_month"].value == 22  # 20 + the sample's own 2


def test_a_null_pickup_blocks_the_month_from_warehouse_and_postgres(taxi_env):
    _edit_pickups(taxi_env, "2020-01", range(50, 51), "")

    result = taxi_env.materialize("yellow", "2020-01", raise_on_error=False)

    check = taxi_env.checks(result)["pickup_never_null"]
    assert not check.passed and check.severity == AssetCheckSeverity.ERROR
    assert check.metadata["null_pickups"].value == 1
    assert not (taxi_env.data_dir / "warehouse.duckdb").exists()
    assert taxi_env.pg("SELECT count(*) FROM pg_tables WHERE tablename = 'yellow_taxi_trips'") == [(0,)]


def test_reconciliation_fails_when_a_target_lost_rows(taxi_env):
    assert taxi_env.materialize("yellow", "2021-01").success
    taxi_env.pg("DELETE FROM yellow_taxi_trips WHERE ctid IN (SELECT ctid FROM yellow_taxi_trips LIMIT 5)")

    job = define_asset_job(
        "reconcile_yellow",
        selection=AssetSelection.checks_for_assets(YELLOW.postgres),
        partitions_def=monthly_partitions(SERVICES["yellow"]),
    )
    defs = Definitions(
        assets=assets_for(taxi_env.source),
        asset_checks=all_checks(taxi_env.source),
        jobs=[job],
        resources=taxi_env.resources,
    )
    # A checks-only job has no asset to take the partitions from: pass the partition as a tag.
    result = defs.resolve_job_def(job.name).execute_in_process(
        tags={"dagster/partition": "2021-01"}, raise_on_error=False
    )

    check = taxi_env.checks(result)["rows_reconcile"]
    assert not check.passed and check.severity == AssetCheckSeverity.ERROR
    assert check.metadata["rows postgres"].value == 22787
    assert check.metadata["rows warehouse"].value == 22792
