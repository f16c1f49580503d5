"""The official Parquet source end to end (bundled official-layout months over real HTTP),
the not-published error, and tables that already exist: ours evolve, anyone else's stop
the run."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from taxi_pipeline.services import SERVICES

from .layouts import expected, layout_of, official_sample

MONTHS = [("yellow", "2009-01"), ("yellow", "2024-01"), ("green", "2019-02"), ("green", "2025-11"),
          ("fhv", "2019-02"), ("fhvhv", "2021-01"), ("fhvhv", "2025-01")]
AMOUNTS = {"yellow": ["total_amount"], "green": ["total_amount"], "fhvhv": ["base_passenger_fare"]}


@pytest.mark.parametrize("service,month", MONTHS, ids=[f"{s}-{m}" for s, m in MONTHS])
def test_an_official_month_lands_in_every_target_with_every_row_and_the_right_sums(tlc_env, service, month):
    spec = SERVICES[service]
    file = tlc_env.mirror.path(service, month, "tlc")
    rows = pq.ParquetFile(file).metadata.num_rows
    if service == "yellow" and month < "2011":  # coordinates, located with the zone shapes
        assert tlc_env.materialize("zones").success

    result = tlc_env.materialize(service, month)

    assert result.success
    raw = tlc_env.lake_file("raw", service, month)
    assert raw.name.endswith(".parquet") and raw.read_bytes() == file.read_bytes()  # as published
    clean = pq.read_table(tlc_env.lake_file("clean", service, month))
    assert clean.schema.equals(spec.schema) and clean.num_rows == rows
    assert tlc_env.checks(result)["rows_reconcile"].passed
    assert tlc_env.pg_month(service, month) == (rows,)
    assert tlc_env.warehouse_month(service, month) == (rows,)
    # Sums of a zone and an amount column agree with the canonical rows the file was made
    # from (fhvhv's official layout already is canonical: its file is the truth).
    if service == "fhvhv":
        want = pq.read_table(file)
    else:
        want = expected(official_sample(spec, month, rows), spec, layout_of(service, month))
    for column in ["PULocationID", *AMOUNTS.get(service, [])]:
        values = [v for v in want.column(column).to_pylist() if v is not None]
        total = pytest.approx(sum(values)) if values else None  # (2009 yellow: the located zones)
        assert tlc_env.pg_month(service, month, f'sum("{column}")') == (total,)
        assert tlc_env.warehouse_month(service, month, f'sum("{column}")') == (total,)


def test_a_re_run_changes_nothing(tlc_env):
    assert tlc_env.materialize("fhvhv", "2025-01").success
    before = tlc_env.pg_month("fhvhv", "2025-01", "count(*), sum(base_passenger_fare)")
    assert tlc_env.materialize("fhvhv", "2025-01").success
    assert tlc_env.pg_month("fhvhv", "2025-01", "count(*), sum(base_passenger_fare)") == before
    assert tlc_env.warehouse_month("fhvhv", "2025-01", "count(*)") == (before[0],)


def test_a_month_not_published_fails_at_once_in_one_line_writing_nothing(tlc_env):
    result = tlc_env.materialize(
        "yellow", "2026-10", raise_on_error=False
    )  # the local server answers 404, the CDN 403: both are "not published"

    assert not result.success and tlc_env.retries(result) == 0
    [message] = tlc_env.failures(result)
    assert message.strip().count("\n") == 0
    assert message.startswith("yellow 2026-10 is not published in the official TLC Parquet files: no file at")
    assert not (tlc_env.data_dir / "lake").exists() or not any((tlc_env.data_dir / "lake").rglob("*2026-10*"))


def test_a_value_postgres_cannot_hold_names_the_parquet_row_and_keeps_the_month(tlc_env):
    assert tlc_env.materialize("fhvhv", "2025-01").success
    previous = tlc_env.pg_month("fhvhv", "2025-01", "count(*), sum(base_passenger_fare)")
    file = tlc_env.mirror.path("fhvhv", "2025-01", "tlc")
    table = pq.read_table(file)
    bases = table.column("dispatching_base_num").to_pylist()
    bases[41] = "B0\x00"  # row 42: Postgres text cannot hold NUL
    index = table.schema.get_field_index("dispatching_base_num")
    pq.write_table(
        table.set_column(index, table.field(index), pa.array(bases, table.field(index).type)), file
    )

    result = tlc_env.materialize("fhvhv", "2025-01", raise_on_error=False)

    assert not result.success and tlc_env.retries(result) == 0
    [message] = tlc_env.failures(result)
    assert message.startswith("fhvhv_tripdata_2025-01.parquet (partition 2025-01), row 42, "
                              "column 'dispatching_base_num': Postgres text cannot contain NUL")
    assert tlc_env.pg_month("fhvhv", "2025-01", "count(*), sum(base_passenger_fare)") == previous


def test_a_month_outside_the_course_mirror_fails_at_once_naming_its_range(taxi_env):
    result = taxi_env.materialize("fhvhv", "2021-01", raise_on_error=False)

    assert not result.success and taxi_env.retries(result) == 0
    [message] = taxi_env.failures(result)
    assert message.startswith(
        "fhvhv 2021-01 is not in the course's csv.gz mirror (it has yellow 2019-01..2021-07"
    )
    assert "set TAXI_SOURCE=tlc" in message


def test_a_table_of_the_previous_release_gains_the_new_columns_and_keeps_its_rows(taxi_env):
    """The previous release's fhv table had no Affiliated_base_number, its yellow table no
    airport_fee and later columns: made here as that release made them."""
    assert taxi_env.materialize("fhv", "2019-01").success
    # CASCADE: the previous release had no lower-case view depending on the column.
    taxi_env.pg('ALTER TABLE fhv_taxi_trips DROP COLUMN "Affiliated_base_number" CASCADE')
    import duckdb

    with duckdb.connect(taxi_env.resources["warehouse_io_manager"].database) as con:
        con.execute('ALTER TABLE trips_data_all.fhv_tripdata DROP COLUMN "Affiliated_base_number"')
    kept = taxi_env.pg_month("fhv", "2019-01")

    assert taxi_env.materialize("fhv", "2019-02").success

    assert taxi_env.pg_month("fhv", "2019-01") == kept  # rows kept
    assert taxi_env.pg_month("fhv", "2019-02", 'count("Affiliated_base_number")')[0] > 0
    assert taxi_env.warehouse_month("fhv", "2019-02", 'count("Affiliated_base_number")')[0] > 0
    assert taxi_env.warehouse_month("fhv", "2019-01", 'count("Affiliated_base_number")') == (0,)


def test_a_foreign_table_in_the_way_stops_the_run_at_once_naming_it(taxi_env):
    """The course's week-1 `yellow_taxi_trips`, made by pandas `to_sql`: no source_month."""
    taxi_env.pg('CREATE TABLE yellow_taxi_trips (index bigint, "VendorID" bigint, '
                'tpep_pickup_datetime timestamp, passenger_count bigint)')
    taxi_env.pg('INSERT INTO yellow_taxi_trips VALUES (0, 1, now(), 1)')

    result = taxi_env.materialize("yellow", "2021-01", raise_on_error=False)

    assert not result.success and taxi_env.retries(result) == 0
    message = "\n".join(taxi_env.failures(result))
    assert "Postgres table public.yellow_taxi_trips exists but was not created by taxi_pipeline" in message
    assert "source_month" in message and "ALTER TABLE public.yellow_taxi_trips RENAME TO" in message
    assert taxi_env.pg("SELECT count(*) FROM yellow_taxi_trips") == [(1,)]  # untouched


def test_new_zone_shapes_mark_only_the_months_located_with_the_old_ones_stale(tlc_env):
    """A 2009 month is located with the shapes of its run; when the TLC publishes other
    shapes, the UI's stale status names that month, never a month with zone IDs."""
    from dagster import AssetsDefinition, AssetSpec, DagsterInstance
    from dagster._core.definitions.data_version import StaleStatus
    from dagster._utils.test.data_versions import get_stale_status_resolver

    from taxi_pipeline.assets.keys import trip_asset_keys

    from .definitions import assets_for
    from .layouts import zip_zone_shapes

    instance = DagsterInstance.ephemeral()
    graph = [AssetsDefinition(specs=[a]) if isinstance(a, AssetSpec) else a
             for a in assets_for(tlc_env.source)]
    clean = trip_asset_keys(SERVICES["yellow"]).clean

    def stale() -> dict:
        resolver = get_stale_status_resolver(instance, graph)
        return {m: resolver.get_status(clean, m) for m in ("2009-01", "2021-01")}

    assert tlc_env.materialize("zones", instance=instance).success
    for month in ("2009-01", "2021-01"):
        assert tlc_env.materialize("yellow", month, instance=instance).success
    first = instance.get_latest_materialization_event(clean).asset_materialization  # 2021-01's
    assert "zone_shapes_version" not in first.metadata  # its file had zone IDs
    assert stale() == {"2009-01": StaleStatus.FRESH, "2021-01": StaleStatus.FRESH}

    zip_zone_shapes(tlc_env.mirror.root / "misc" / "taxi_zones.zip", "taxi_zones/")  # republished
    assert tlc_env.materialize("zones", instance=instance).success
    assert stale() == {"2009-01": StaleStatus.STALE, "2021-01": StaleStatus.FRESH}
    assert tlc_env.materialize("yellow", "2009-01", instance=instance).success  # the backfill
    assert stale() == {"2009-01": StaleStatus.FRESH, "2021-01": StaleStatus.FRESH}


def test_the_zones_located_check_run_on_its_own_counts_the_stored_month(tlc_env):
    from dagster import AssetCheckKey, AssetSelection, Definitions, define_asset_job

    from taxi_pipeline.assets.keys import trip_asset_keys
    from taxi_pipeline.partitions import monthly_partitions

    from .definitions import all_checks, assets_for

    assert tlc_env.materialize("zones").success
    first = tlc_env.materialize("yellow", "2009-01")
    key = AssetCheckKey(trip_asset_keys(SERVICES["yellow"]).clean, "zones_located")
    job = define_asset_job("zones_located_alone", selection=AssetSelection.checks(key),
                           partitions_def=monthly_partitions(SERVICES["yellow"]))
    defs = Definitions(assets=assets_for(tlc_env.source), asset_checks=all_checks(tlc_env.source),
                       jobs=[job], resources=tlc_env.resources)
    # A checks-only job has no asset to take the partitions from: the partition as a tag.
    alone = defs.resolve_job_def(job.name).execute_in_process(tags={"dagster/partition": "2009-01"})
    for result in (first, alone):
        check = tlc_env.checks(result)["zones_located"]
        # the sample: 1,692 pickups and 1,690 dropoffs in a zone of 2,000 trips (the rest
        # placed without a coordinate or in the ocean on purpose): 84.6% < 90%, a warning
        assert not check.passed and check.severity.value == "WARN"
        assert check.metadata["trip_ends"].value == 4000
        assert check.metadata["trip_ends_located"].value == 1692 + 1690
