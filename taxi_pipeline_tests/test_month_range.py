"""Several months in one run (a backfill's range): each month loaded, reported and failed on
its own, as in a run of its own."""

import gzip

from dagster import AssetRecordsFilter, AssetsDefinition, AssetSpec, DagsterInstance

from taxi_pipeline.assets.keys import trip_asset_keys
from taxi_pipeline.partitions import monthly_partitions
from taxi_pipeline.services import SERVICES

from .conftest import data_file
from .definitions import assets_for

MONTHS = ["2019-01", "2019-02", "2019-03", "2019-04"]
BAD = "2019-03"
RANGE = {"dagster/asset_partition_range_start": MONTHS[0], "dagster/asset_partition_range_end": MONTHS[-1]}


def _materialized(instance, key) -> dict[str, list]:
    """Partition -> its materializations' metadata, oldest first."""
    records = instance.fetch_materializations(AssetRecordsFilter(asset_key=key), limit=1000).records
    found: dict[str, list] = {}
    for record in sorted(records, key=lambda r: r.storage_id):
        event = record.asset_materialization
        found.setdefault(event.partition, []).append(event)
    return found


def test_a_range_loads_each_month_alone_and_a_bad_month_fails_alone(taxi_env):
    from dagster._core.definitions.data_version import StaleStatus
    from dagster._utils.test.data_versions import get_stale_status_resolver

    green = SERVICES["green"]
    keys = trip_asset_keys(green)
    for number, month in enumerate(MONTHS):  # each month's figures its own: 8, 7, 6, 5 rows
        lines = gzip.decompress(taxi_env.mirror.path("green", month).read_bytes()).splitlines(keepends=True)
        taxi_env.mirror.put("green", month, gzip.compress(b"".join(lines[:len(lines) - number])))
    rows = {month: taxi_env.mirror.rows("green", month) for month in MONTHS}
    assert len(set(rows.values())) == len(MONTHS)
    good_file = taxi_env.mirror.path("green", BAD).read_bytes()
    taxi_env.mirror.put("green", BAD, data_file("yellow_tripdata_2021-01.head.csv.gz").read_bytes())
    instance = DagsterInstance.ephemeral()

    result = taxi_env.materialize("green", tags=RANGE, instance=instance, raise_on_error=False)

    assert not result.success and taxi_env.retries(result) == 0  # a bad file is not retried
    (failure,) = taxi_env.failures(result)
    assert f"1 of 4 green months failed (the others are loaded): {BAD}: " in failure
    assert f"green_tripdata_{BAD}.csv.gz" in failure
    good = [m for m in MONTHS if m != BAD]
    for month in good:
        assert taxi_env.warehouse_month("green", month) == (rows[month],)
        assert taxi_env.pg_month("green", month) == (rows[month],)
        assert taxi_env.lake_file("clean", "green", month).exists()
    assert taxi_env.warehouse_month("green", BAD) == (0,)
    assert taxi_env.pg_month("green", BAD) == (0,)
    assert not taxi_env.lake_file("raw", "green", BAD).exists()
    assert not taxi_env.lake_file("clean", "green", BAD).exists()

    # Each good month is materialized once per asset, with its own figures, and checked.
    for key in keys:
        materialized = _materialized(instance, key)
        assert sorted(materialized) == good, key
        assert all(len(events) == 1 for events in materialized.values())
    raw, clean = _materialized(instance, keys.raw), _materialized(instance, keys.clean)
    warehouse = _materialized(instance, keys.warehouse)
    for month in good:
        assert raw[month][0].metadata["rows"].value == rows[month]
        assert clean[month][0].metadata["rows"].value == rows[month]
        # The IO managers' own metadata, for the month they stored.
        assert clean[month][0].metadata["path"].value.endswith(f"green_tripdata_{month}.parquet")
        assert warehouse[month][0].metadata["dagster/partition_row_count"].value == rows[month]
        # The clean month was made from that month's raw file's version.
        version = raw[month][0].tags["dagster/data_version"]
        assert clean[month][0].tags[f"dagster/input_data_version/{keys.raw.to_user_string()}"] == version
    assert len({raw[m][0].tags["dagster/data_version"] for m in good}) == len(good)
    evaluations = [e for e in result.get_asset_check_evaluations() if e.check_name == "rows_reconcile"]
    assert sorted(e.partition for e in evaluations) == good
    assert all(e.passed and e.target_materialization_data for e in evaluations)
    graph = [AssetsDefinition(specs=[a]) if isinstance(a, AssetSpec) else a
             for a in assets_for(taxi_env.source)]
    resolver = get_stale_status_resolver(instance, graph)
    assert {m: resolver.get_status(keys.postgres, m) for m in good} == dict.fromkeys(good, StaleStatus.FRESH)

    # The UI's partition grid: the good months materialized, the bad one failed.
    statuses = instance.get_status_by_partition(keys.postgres, MONTHS, monthly_partitions(green))
    assert {m: s.value for m, s in statuses.items()} == {
        **dict.fromkeys(good, "MATERIALIZED"), BAD: "FAILED"}

    # The failed month, re-run on its own once its file is right, loads; the others stay.
    taxi_env.mirror.put("green", BAD, good_file)
    assert taxi_env.materialize("green", BAD, instance=instance).success
    for month in MONTHS:
        assert taxi_env.pg_month("green", month) == (rows[month],)
        assert taxi_env.warehouse_month("green", month) == (rows[month],)


def test_a_retried_range_skips_the_months_it_loaded(taxi_env, monkeypatch):
    """A transient failure in the second month (its early download, then its own): the
    step's retry loads it without loading the first again."""
    from taxi_pipeline.resources.source import TaxiSourceResource

    real = TaxiSourceResource.download_month
    calls: list[str] = []

    def flaky(self, service, month, *args):
        calls.append(month)
        if month == "2019-02" and calls.count(month) <= 2:
            raise ConnectionResetError("the mirror dropped the connection")
        return real(self, service, month, *args)

    monkeypatch.setattr(TaxiSourceResource, "download_month", flaky)
    instance = DagsterInstance.ephemeral()
    tags = {**RANGE, "dagster/asset_partition_range_end": "2019-02"}

    result = taxi_env.materialize("green", tags=tags, instance=instance)

    assert result.success and taxi_env.retries(result) == 1
    # 2019-01 once; 2019-02 early (failed, forgotten), in its step (failed), on the retry
    assert sorted(calls) == ["2019-01", "2019-02", "2019-02", "2019-02"]
    for month in ("2019-01", "2019-02"):
        assert taxi_env.pg_month("green", month) == (taxi_env.mirror.rows("green", month),)
    assert sorted(_materialized(instance, trip_asset_keys(SERVICES["green"]).raw)) == ["2019-01", "2019-02"]


def test_the_next_months_file_downloads_while_a_month_loads(taxi_env, monkeypatch):
    """In a range, month i+1's file is fetched while month i loads (once: its step takes
    the file), so a large file's download does not wait for the month before it."""
    import threading

    from taxi_pipeline.resources.source import TaxiSourceResource

    real = TaxiSourceResource.download_month
    threads: dict[str, list[str]] = {}

    def recorded(self, service, month, *args):
        threads.setdefault(month, []).append(threading.current_thread().name.split("_")[0])
        return real(self, service, month, *args)

    monkeypatch.setattr(TaxiSourceResource, "download_month", recorded)
    instance = DagsterInstance.ephemeral()
    tags = {**RANGE, "dagster/asset_partition_range_end": "2019-03"}

    assert taxi_env.materialize("green", tags=tags, instance=instance).success

    assert threads == {"2019-01": ["MainThread"], "2019-02": ["prefetch"], "2019-03": ["prefetch"]}
    raw = _materialized(instance, trip_asset_keys(SERVICES["green"]).raw)
    timeline = {month: events[-1].metadata["timeline"].value for month, events in raw.items()}
    assert timeline["2019-02"]["download_started"] < timeline["2019-01"]["pass_finished"]
    assert timeline["2019-03"]["download_started"] < timeline["2019-02"]["pass_finished"]
    for month in ("2019-01", "2019-02", "2019-03"):
        assert taxi_env.pg_month("green", month) == (taxi_env.mirror.rows("green", month),)
        assert raw[month][-1].metadata["rows"].value == taxi_env.mirror.rows("green", month)
