"""Postgres loads are partition-exact and transactional, under re-runs, kills and races."""

import gzip
import os
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, materialize

from taxi_pipeline.environments import resources_for_environment
from taxi_pipeline_tests.definitions import assets_for

from .services import PasswordPostgres

PG_KEY = AssetKey(["postgres", "yellow_taxi_trips"])
MONTH_SUM = "count(*), round(sum(total_amount)::numeric, 2)"


def _pg_metadata(result, key=PG_KEY) -> dict:
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return {k: v.value for k, v in event.materialization.metadata.items()}


def _load_in_child(taxi_env, month: str) -> subprocess.Popen:
    env = {**os.environ, "TAXI_DATA_DIR": str(taxi_env.data_dir)}
    return subprocess.Popen(
        [sys.executable, "-m", "taxi_pipeline_tests.load_postgres_month",
         str(taxi_env.postgres_dir), taxi_env.database, "yellow", month],
        env=env,
    )


def test_three_loads_of_a_month_leave_exactly_its_rows_and_report_them(taxi_env):
    assert taxi_env.materialize("yellow", "2020-01").success
    other_month = taxi_env.pg_month("yellow", "2020-01", MONTH_SUM)

    results = [taxi_env.materialize("yellow", "2021-01") for _ in range(3)]

    assert taxi_env.pg_month("yellow", "2021-01") == (22792,)
    assert taxi_env.pg_month("yellow", "2020-01", MONTH_SUM) == other_month
    first, third = _pg_metadata(results[0]), _pg_metadata(results[2])
    assert (first["rows_before"], first["rows_loaded"]) == (0, 22792)
    assert (third["rows_before"], third["rows_loaded"]) == (22792, 22792)
    assert third["rows_per_second"] > 0 and third["table"] == "public.yellow_taxi_trips"


@pytest.mark.slow  # a child process killed in the middle of a COPY
def test_a_load_killed_during_copy_leaves_the_previous_month_and_a_usable_table(taxi_env):
    assert taxi_env.materialize("yellow", "2021-01").success
    previous = taxi_env.pg_month("yellow", "2021-01", MONTH_SUM)
    clean = taxi_env.lake_file("clean", "yellow", "2021-01")
    month = pq.read_table(clean)
    pq.write_table(pa.concat_tables([month] * 60), clean)  # 1,367,520 rows: a full-size month

    child = _load_in_child(taxi_env, "2021-01")
    deadline = time.monotonic() + 120
    copied = 0
    while copied < 200_000:
        assert child.poll() is None, "the load ended before it could be killed"
        assert time.monotonic() < deadline, "the COPY never got going"
        rows = taxi_env.pg("SELECT tuples_processed FROM pg_stat_progress_copy")
        copied = rows[0][0] if rows else 0
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    while taxi_env.pg("SELECT 1 FROM pg_stat_progress_copy"):  # the server aborts the COPY
        time.sleep(0.05)

    assert 200_000 <= copied < 60 * 22792
    assert taxi_env.pg_month("yellow", "2021-01", MONTH_SUM) == previous
    # The table is usable: the full month loads over the aborted attempt.
    assert _load_in_child(taxi_env, "2021-01").wait() == 0
    assert taxi_env.pg_month("yellow", "2021-01") == (60 * 22792,)


@pytest.mark.slow  # two child processes loading at once
def test_two_months_loading_at_once_into_a_new_table_both_land(taxi_env):
    for month in ("2020-01", "2021-01"):
        assert taxi_env.materialize("yellow", month).success
    taxi_env.pg("DROP TABLE yellow_taxi_trips CASCADE")  # and its view
    taxi_env.pg("DROP SCHEMA trips_data_all")

    children = [_load_in_child(taxi_env, month) for month in ("2020-01", "2021-01")]

    assert [c.wait() for c in children] == [0, 0]
    assert taxi_env.pg_month("yellow", "2020-01") == (999,)
    assert taxi_env.pg_month("yellow", "2021-01") == (22792,)
    assert taxi_env.pg("SELECT count(*) FROM yellow_taxi_trips") == [(999 + 22792,)]
    # Both made the schema and the view at once; one of them won, once.
    assert taxi_env.pg("SELECT count(*) FROM trips_data_all.yellow_tripdata") == [(999 + 22792,)]


def _with_field(taxi_env, month: str, line: int, column: int, value: str) -> None:
    """Rewrite one field of the mirror's month: `line` counts the header as line 1."""
    data = gzip.decompress(taxi_env.mirror.path("yellow", month).read_bytes()).decode()
    lines = data.split("\r\n")
    fields = lines[line - 1].split(",")
    fields[column] = value
    lines[line - 1] = ",".join(fields)
    taxi_env.mirror.put("yellow", month, gzip.compress("\r\n".join(lines).encode()))


@pytest.mark.parametrize(
    "value, column_index, column",
    [("70000", 3, "passenger_count"), ("N\x00", 6, "store_and_fwd_flag")],
    ids=["int-overflow", "nul-in-text"],
)
def test_a_value_that_does_not_fit_fails_naming_file_line_column_and_keeps_the_month(
    taxi_env, value, column_index, column
):
    assert taxi_env.materialize("yellow", "2020-01").success
    previous = taxi_env.pg_month("yellow", "2020-01", MONTH_SUM)
    previous_warehouse = taxi_env.warehouse_month("yellow", "2020-01", MONTH_SUM)
    clean = taxi_env.lake_file("clean", "yellow", "2020-01").read_bytes()
    _with_field(taxi_env, "2020-01", 42, column_index, value)

    result = taxi_env.materialize("yellow", "2020-01", raise_on_error=False)

    assert not result.success
    error = taxi_env.failure_text(result)
    assert f"yellow_tripdata_2020-01.csv.gz (partition 2020-01), line 42, column '{column}'" in error
    assert taxi_env.pg_month("yellow", "2020-01", MONTH_SUM) == previous
    assert taxi_env.warehouse_month("yellow", "2020-01", MONTH_SUM) == previous_warehouse
    assert taxi_env.lake_file("clean", "yellow", "2020-01").read_bytes() == clean


def test_a_value_only_postgres_refuses_keeps_the_month_out_of_every_target(tlc_env):
    """A NUL byte in free text passes the cast (Parquet and DuckDB hold it) and only the
    Postgres load refuses it, on its own thread: the DuckDB load streaming beside it is
    rolled back and the lake keeps its files, so no target takes a month another refused."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    month = "2025-01"
    assert tlc_env.materialize("fhvhv", month).success
    counts = "count(*), count(DISTINCT dispatching_base_num)"
    before = (tlc_env.pg_month("fhvhv", month, counts), tlc_env.warehouse_month("fhvhv", month, counts),
              tlc_env.lake_file("raw", "fhvhv", month).read_bytes(),
              tlc_env.lake_file("clean", "fhvhv", month).read_bytes())
    published = tlc_env.mirror.path("fhvhv", month, "tlc")
    table = pq.read_table(published)
    index = table.schema.get_field_index("dispatching_base_num")
    values = table.column(index).to_pylist()
    values[41] = "B0\x00"
    field = table.schema.field(index)
    table = table.set_column(index, field, pa.array(values, field.type))
    pq.write_table(table, published)

    result = tlc_env.materialize("fhvhv", month, raise_on_error=False)

    assert not result.success
    error = tlc_env.failure_text(result)
    where = f"fhvhv_tripdata_{month}.parquet (partition {month}), row 42, column 'dispatching_base_num'"
    assert where in error
    assert "NUL" in error
    assert (tlc_env.pg_month("fhvhv", month, counts), tlc_env.warehouse_month("fhvhv", month, counts),
            tlc_env.lake_file("raw", "fhvhv", month).read_bytes(),
            tlc_env.lake_file("clean", "fhvhv", month).read_bytes()) == before


@pytest.fixture
def password_postgres(tmp_path):
    server = PasswordPostgres(tmp_path / "pg", password="taxi-Secret-4821")
    yield server
    server.stop()


def test_a_configured_server_with_a_password_never_shows_the_password(
    taxi_env, password_postgres, monkeypatch
):
    monkeypatch.setenv("TAXI_PG_HOST", "127.0.0.1")
    monkeypatch.setenv("TAXI_PG_PORT", str(password_postgres.port))
    monkeypatch.setenv("TAXI_PG_PASSWORD", password_postgres.password)
    monkeypatch.setenv("TAXI_PG_DB", "postgres")
    monkeypatch.setenv("TAXI_PG_SSLMODE", "disable")
    resources = resources_for_environment()

    result = materialize(assets_for(taxi_env.source), selection=[AssetKey(["lake", "raw_yellow_trips"]),
                         AssetKey(["lake", "clean_yellow_trips"]), PG_KEY],
                         partition_key="2021-01", resources=resources)

    assert result.success
    assert _pg_metadata(result)["rows_loaded"] == 22792
    events = "\n".join(repr(e) for e in result.all_events)
    assert "127.0.0.1" in events  # the log names the server...
    assert password_postgres.password not in events  # ...never the password

    monkeypatch.setenv("TAXI_PG_PASSWORD", "wrong")
    failed = materialize(assets_for(taxi_env.source), selection=[PG_KEY], partition_key="2021-01",
                         resources=resources_for_environment(), raise_on_error=False)
    assert "password authentication failed" in taxi_env.failure_text(failed)


def test_the_embedded_server_is_set_for_months_of_millions_of_rows(taxi_env):
    """Why: EMBEDDED_SETTINGS in resources/postgres.py (a configured server is left alone)."""
    assert taxi_env.pg("SHOW max_wal_size") == [("16GB",)]
    assert taxi_env.pg("SHOW checkpoint_timeout") == [("30min",)]
    assert taxi_env.pg("SHOW wal_init_zero") == [("off",)]


PARTITIONS = ("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
              "WHERE i.inhparent = 'yellow_taxi_trips'::regclass ORDER BY 1")


def test_each_month_is_a_partition_of_its_own_and_a_failed_first_load_leaves_none(taxi_env):
    assert taxi_env.materialize("yellow", "2021-01").success
    original = taxi_env.mirror.path("yellow", "2020-01").read_bytes()
    _with_field(taxi_env, "2020-01", 42, 6, "N\x00")  # only Postgres refuses it

    assert not taxi_env.materialize("yellow", "2020-01", raise_on_error=False).success
    assert taxi_env.pg(PARTITIONS) == [("yellow_taxi_trips_2021_01",)]

    taxi_env.mirror.put("yellow", "2020-01", original)
    assert taxi_env.materialize("yellow", "2020-01").success
    assert taxi_env.pg(PARTITIONS) == [("yellow_taxi_trips_2020_01",), ("yellow_taxi_trips_2021_01",)]
    assert taxi_env.pg("SELECT count(*) FROM yellow_taxi_trips_2020_01") == [(999,)]
    in_month = "SELECT count(*) FROM yellow_taxi_trips_2021_01 WHERE source_month = '2021-01-01'"
    assert taxi_env.pg(in_month) == [(22792,)]
    assert taxi_env.pg("SELECT relkind FROM pg_class WHERE relname = 'yellow_taxi_trips'") == [("p",)]
    # No index to feed during a COPY: a month's DELETE and count read its own partition.
    assert taxi_env.pg("SELECT count(*) FROM pg_indexes WHERE tablename LIKE 'yellow_taxi_trips%%'") == [(0,)]
    plan = "\n".join(row[0] for row in taxi_env.pg(
        "EXPLAIN SELECT count(*) FROM yellow_taxi_trips WHERE source_month = '2020-01-01'"))
    assert "yellow_taxi_trips_2020_01" in plan and "yellow_taxi_trips_2021_01" not in plan


def test_a_relation_with_a_months_partition_name_stops_that_month_naming_it(taxi_env):
    assert taxi_env.materialize("yellow", "2021-01").success
    taxi_env.pg("CREATE TABLE yellow_taxi_trips_2020_01 (note text)")

    result = taxi_env.materialize("yellow", "2020-01", raise_on_error=False)

    assert ("Postgres relation public.yellow_taxi_trips_2020_01 exists but is not the 2020-01 partition of "
            "public.yellow_taxi_trips") in taxi_env.failure_text(result)
    assert taxi_env.pg(PARTITIONS) == [("yellow_taxi_trips_2021_01",)]


def test_a_table_of_the_earlier_one_table_layout_keeps_loading_in_place(taxi_env):
    """Tables made before months became partitions: one plain table, BRIN-indexed."""
    from psycopg import sql

    from taxi_pipeline.io_managers.postgres import create_table_sql
    from taxi_pipeline.services import SERVICES

    taxi_env.pg(create_table_sql(sql.Identifier("public", "yellow_taxi_trips"), SERVICES["yellow"].schema))

    for month in ("2020-01", "2021-01", "2021-01"):
        assert taxi_env.materialize("yellow", month).success

    assert taxi_env.pg("SELECT relkind FROM pg_class WHERE relname = 'yellow_taxi_trips'") == [("r",)]
    assert taxi_env.pg_month("yellow", "2020-01") == (999,)
    assert taxi_env.pg_month("yellow", "2021-01") == (22792,)
    indexes = "SELECT indexname FROM pg_indexes WHERE tablename = 'yellow_taxi_trips' ORDER BY 1"
    assert taxi_env.pg(indexes) == [
        ("yellow_taxi_trips_source_month_idx",), ("yellow_taxi_trips_tpep_pickup_datetime_idx",)]
