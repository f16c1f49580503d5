"""One month through every target, from a real HTTP server, into a real Postgres and DuckDB."""

import hashlib
from collections import Counter

import pyarrow.parquet as pq
from dagster import asset, materialize

from taxi_pipeline.assets.keys import trip_asset_keys
from taxi_pipeline.io_managers.lake import LakeUri
from taxi_pipeline.io_managers.warehouse import PARTITION_EXPR_KEY
from taxi_pipeline.partitions import monthly_partitions
from taxi_pipeline.services import SERVICES, SOURCE_MONTH_COLUMN

from .conftest import data_file


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_month_lands_in_every_target_unchanged_and_typed(taxi_env):
    mirror = taxi_env.mirror
    rows = mirror.rows("yellow", "2021-01")
    assert rows == 22792

    assert taxi_env.materialize("yellow", "2021-01").success

    raw = taxi_env.lake_file("raw", "yellow", "2021-01")
    assert raw.read_bytes() == mirror.path("yellow", "2021-01").read_bytes()
    parquet = pq.ParquetFile(taxi_env.lake_file("clean", "yellow", "2021-01"))
    assert parquet.schema_arrow.equals(SERVICES["yellow"].schema)
    assert parquet.metadata.num_rows == rows
    assert taxi_env.warehouse_month("yellow", "2021-01") == (rows,)
    assert taxi_env.pg_month("yellow", "2021-01") == (rows,)
    # The warehouse holds the clean file's rows value for value, typed alike (a table has
    # no order: DuckDB inserts with two threads).
    clean = parquet.read()
    warehouse = taxi_env.warehouse("SELECT * FROM trips_data_all.yellow_tripdata")
    assert Counter(warehouse) == Counter(tuple(r.values()) for r in clean.to_pylist())
    # Pickups from the previous month stay with the file they came in (16 in this sample).
    assert taxi_env.pg_month(
        "yellow", "2021-01", "count(*) FILTER (WHERE tpep_pickup_datetime < '2021-01-01')"
    ) == (16,)
    # Values survive the trip: the first row of the file.
    first = taxi_env.pg(
        'SELECT "VendorID", tpep_pickup_datetime::text, trip_distance, store_and_fwd_flag, total_amount '
        "FROM yellow_taxi_trips ORDER BY tpep_pickup_datetime, tpep_dropoff_datetime LIMIT 1"
    )[0]
    assert first[1].startswith("2020-12-31")


def test_empty_integer_fields_stay_null_with_integer_types(taxi_env):
    assert taxi_env.materialize("yellow", "2020-01").success

    parquet = pq.read_table(taxi_env.lake_file("clean", "yellow", "2020-01"))
    assert parquet.column("passenger_count").null_count == 500
    assert taxi_env.warehouse_month("yellow", "2020-01", "count(*) - count(passenger_count)") == (500,)
    assert taxi_env.pg_month("yellow", "2020-01", "count(*) - count(passenger_count)") == (500,)
    assert taxi_env.pg_month("yellow", "2020-01", "count(*)") == (999,)
    pg_type = taxi_env.pg(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'yellow_taxi_trips' AND column_name = 'passenger_count'"
    )
    assert pg_type == [("smallint",)]
    warehouse_type = taxi_env.warehouse(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 'yellow_tripdata' AND column_name = 'passenger_count'"
    )
    assert warehouse_type == [("SMALLINT",)]


def test_rematerializing_a_month_replaces_exactly_that_month(taxi_env):
    assert taxi_env.materialize("yellow", "2020-01").success
    assert taxi_env.materialize("yellow", "2021-01").success
    sums = "count(*), round(sum(total_amount)::numeric, 2)"
    first_pg = taxi_env.pg_month("yellow", "2021-01", sums)
    first_wh = taxi_env.warehouse_month("yellow", "2021-01", "count(*), round(sum(total_amount), 2)")

    for _ in range(2):
        assert taxi_env.materialize("yellow", "2021-01").success

    assert taxi_env.pg_month("yellow", "2021-01", sums) == first_pg
    assert first_pg[0] == 22792
    assert taxi_env.warehouse_month("yellow", "2021-01", "count(*), round(sum(total_amount), 2)") == first_wh
    assert taxi_env.pg_month("yellow", "2020-01") == (999,)
    assert taxi_env.warehouse_month("yellow", "2020-01") == (999,)
    assert taxi_env.pg("SELECT count(*) FROM yellow_taxi_trips") == [(22792 + 999,)]


def test_green_and_fhv_months_load_with_their_own_schemas(taxi_env):
    for service in ("green", "fhv"):
        assert taxi_env.materialize(service, "2019-01").success
        rows = taxi_env.mirror.rows(service, "2019-01")
        assert rows > 0
        parquet = pq.ParquetFile(taxi_env.lake_file("clean", service, "2019-01"))
        assert parquet.schema_arrow.equals(SERVICES[service].schema)
        assert taxi_env.warehouse_month(service, "2019-01") == (rows,)
        assert taxi_env.pg_month(service, "2019-01") == (rows,)
    # green's ehail_fee is empty for the whole month: a typed column of nulls.
    assert taxi_env.pg_month("green", "2019-01", "count(ehail_fee)") == (0,)


def test_the_real_cut_off_file_fails_naming_file_and_line_and_changes_nothing(taxi_env):
    assert taxi_env.materialize("yellow", "2021-01").success
    targets = [
        taxi_env.lake_file("raw", "yellow", "2021-01"),
        taxi_env.lake_file("clean", "yellow", "2021-01"),
    ]
    before = [_digest(p) for p in targets]

    cut = data_file("yellow_tripdata_2021-01.head.csv.gz").read_bytes()
    taxi_env.mirror.put("yellow", "2021-01", cut)
    result = taxi_env.materialize("yellow", "2021-01", raise_on_error=False)

    assert not result.success
    error = taxi_env.failure_text(result)
    assert "yellow_tripdata_2021-01.csv.gz" in error
    assert "line 22794" in error
    assert [_digest(p) for p in targets] == before
    assert taxi_env.warehouse_month("yellow", "2021-01") == (22792,)
    assert taxi_env.pg_month("yellow", "2021-01") == (22792,)


def test_a_value_that_does_not_fit_names_file_line_and_column(taxi_env):
    import gzip

    text = gzip.decompress(taxi_env.mirror.path("yellow", "2020-01").read_bytes()).decode()
    lines = text.split("\r\n")
    fields = lines[41].split(",")
    fields[3] = "one"  # passenger_count
    lines[41] = ",".join(fields)
    taxi_env.mirror.put("yellow", "2020-01", gzip.compress("\r\n".join(lines).encode()))

    result = taxi_env.materialize("yellow", "2020-01", raise_on_error=False)

    error = taxi_env.failure_text(result)
    assert "yellow_tripdata_2020-01.csv.gz (partition 2020-01), line 42, column 'passenger_count'" in error
    assert "'one'" in error
    assert not taxi_env.lake_file("clean", "yellow", "2020-01").exists()
    assert taxi_env.pg("SELECT count(*) FROM pg_tables WHERE tablename = 'yellow_taxi_trips'") == [(0,)]


def test_the_clean_month_describes_itself_in_metadata(taxi_env):
    result = taxi_env.materialize("yellow", "2020-01")

    [clean] = [
        e.materialization for e in result.get_asset_materialization_events()
        if e.asset_key.path[-1] == "clean_yellow_trips"
    ]
    meta = {k: v.value for k, v in clean.metadata.items()}
    assert meta["rows"] == 999
    assert meta["bytes"] == taxi_env.lake_file("clean", "yellow", "2020-01").stat().st_size
    assert (meta["passenger_count_missing_before"], meta["passenger_count_missing_after"]) == (500, 500)
    assert meta["min_pickup"] == "2019-12-18 15:27:49"
    assert meta["max_pickup"].startswith("2020-01-31")
    assert [c.name for c in meta["dagster/column_schema"].columns] == SERVICES["yellow"].schema.names
    assert meta["preview"].splitlines()[0].startswith("|   VendorID |")


def test_a_clean_parquet_that_breaks_midway_keeps_the_previous_warehouse_month(taxi_env, tmp_path):
    """The month goes into DuckDB inside one transaction (DELETE, then DuckDB's own Parquet
    reader): a file whose last row group is damaged (a lake object cut or corrupted) fails
    after the DELETE and after rows of the first row groups went in, and leaves the old
    month whole."""
    assert taxi_env.materialize("yellow", "2021-01").success
    before = taxi_env.warehouse_month("yellow", "2021-01", "count(*), round(sum(total_amount), 2)")
    damaged = tmp_path / "yellow_tripdata_2021-01.parquet"
    pq.write_table(pq.read_table(taxi_env.lake_file("clean", "yellow", "2021-01")), damaged,
                   row_group_size=5000, compression="zstd")
    footer = pq.ParquetFile(damaged).metadata
    last_group = footer.row_group(footer.num_row_groups - 1)
    chunk = max(
        (last_group.column(c) for c in range(footer.num_columns)), key=lambda c: c.total_compressed_size
    )
    start, end = chunk.data_page_offset + 20, chunk.data_page_offset + chunk.total_compressed_size - 1
    data = bytearray(damaged.read_bytes())
    data[start:end] = b"\xff" * (end - start)  # inside one column chunk: the footer stays readable
    damaged.write_bytes(bytes(data))
    assert pq.ParquetFile(damaged).metadata.num_rows == before[0]

    @asset(
        key=trip_asset_keys(SERVICES["yellow"]).warehouse,
        partitions_def=monthly_partitions(SERVICES["yellow"]),
        io_manager_key="warehouse_io_manager",
        metadata={PARTITION_EXPR_KEY: SOURCE_MONTH_COLUMN},
    )
    def damaged_month() -> LakeUri:
        return LakeUri(str(damaged))

    result = materialize([damaged_month], partition_key="2021-01", raise_on_error=False,
                         resources={"warehouse_io_manager": taxi_env.resources["warehouse_io_manager"]})

    assert not result.success
    assert "duckdb" in taxi_env.failure_text(result).lower()
    assert taxi_env.warehouse_month("yellow", "2021-01", "count(*), round(sum(total_amount), 2)") == before


def test_each_asset_of_a_month_reruns_on_its_own_from_the_lake(taxi_env):
    """One step makes the month's four assets in one pass; any one of them runs alone,
    reading what it needs from the lake, and replaces exactly its own target's month."""
    from dagster import AssetSelection

    keys = trip_asset_keys(SERVICES["yellow"])
    rows = taxi_env.mirror.rows("yellow", "2021-01")
    result = taxi_env.materialize("yellow", "2021-01")
    assert {e.asset_key for e in result.get_asset_materialization_events()} == set(keys)
    first = pq.read_table(taxi_env.lake_file("clean", "yellow", "2021-01"))
    assert first.num_rows == rows

    def alone(key):
        run = taxi_env.materialize("yellow", "2021-01", selection=AssetSelection.assets(key))
        assert run.success
        assert {e.asset_key for e in run.get_asset_materialization_events()} == {key}
        return run

    # The clean asset alone (a new cleaning rule, say): parsed again from the lake's raw file.
    taxi_env.pg("UPDATE yellow_taxi_trips SET total_amount = -1")
    alone(keys.clean)
    assert pq.read_table(taxi_env.lake_file("clean", "yellow", "2021-01")).equals(first)
    assert taxi_env.pg_month("yellow", "2021-01", "count(*) FILTER (WHERE total_amount = -1)") == (rows,)

    # Postgres alone: the lake's clean file, COPYed again; the warehouse untouched.
    alone(keys.postgres)
    assert taxi_env.pg_month("yellow", "2021-01", "count(*), count(*) FILTER (WHERE total_amount = -1)") == (
        rows, 0)
    alone(keys.warehouse)
    assert taxi_env.warehouse_month("yellow", "2021-01") == (rows,)

    # The raw asset alone (a re-download): validated, stored, nothing else written.
    raw_only = alone(keys.raw)
    assert raw_only.get_asset_check_evaluations() == []
    assert taxi_env.pg_month("yellow", "2021-01") == (rows,)
