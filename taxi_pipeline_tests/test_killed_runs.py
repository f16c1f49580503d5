"""A run stopped while a month's rows stream into Postgres and DuckDB leaves no part month.

The month's step streams rows into open transactions while it still reads the file
(`io_managers/streaming.py`). These tests load a month, publish a bigger version of it,
start `dagster job execute` of that month as its own process and signal it once Postgres
reports the COPY under way (`pg_stat_progress_copy`):
- SIGKILL (the process dies): every target still holds the first version, whole - the
  lake's files byte for byte, the two tables row for row;
- SIGTERM (Dagster interrupts the step, and its RetryPolicy retries an interrupt): the
  interrupted attempt rolls back, the retry loads the new version - each table holds it
  exactly once, nothing of the first version and nothing twice.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import psycopg
import pytest

from .conftest import REPO, _create_database

pytestmark = pytest.mark.slow

MONTH = "2021-01"
COPIES = 40  # the real month 40 times: ~900k rows, a COPY of a few seconds here


def _bigger_version(path: Path) -> None:
    header, _, rows = gzip.decompress(path.read_bytes()).partition(b"\n")
    rows = rows if rows.endswith(b"\n") else rows + b"\n"
    path.write_bytes(gzip.compress(header + b"\n" + rows * COPIES, compresslevel=1))


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("signal_", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_run_killed_while_rows_stream_leaves_the_previous_month_in_every_target(
    tmp_path, http_mirror, embedded_postgres_dir, signal_
):
    database = f"killed_{os.urandom(4).hex()}"
    _create_database(embedded_postgres_dir, database)
    data = tmp_path / "data"
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "TAXI_DATA_DIR": str(data),
           "TAXI_SOURCE": "course", "TAXI_SOURCE_URL": http_mirror.url,
           "TAXI_PG_HOST": str(embedded_postgres_dir), "TAXI_PG_DB": database}
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    command = [str(Path(sys.executable).with_name("dagster")), "job", "execute", "-m",
               "taxi_pipeline.definitions", "-j", "yellow_taxi_job",
               "--tags", json.dumps({"dagster/partition": MONTH})]
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)

    raw = data / "lake" / "raw" / "yellow" / f"yellow_tripdata_{MONTH}.csv.gz"
    clean = data / "lake" / "clean" / "yellow" / f"yellow_tripdata_{MONTH}.parquet"
    pg = psycopg.connect(f"host={embedded_postgres_dir} user=postgres dbname={database}", autocommit=True)

    def pg_month() -> tuple:
        return pg.execute("SELECT count(*), sum(total_amount) FROM yellow_taxi_trips").fetchone()

    def warehouse_month() -> tuple:
        with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
            return con.execute(
                "SELECT count(*), sum(total_amount) FROM trips_data_all.yellow_tripdata").fetchone()

    before = {"raw": _digest(raw), "clean": _digest(clean), "postgres": pg_month(),
              "warehouse": warehouse_month()}
    assert before["postgres"][0] == before["warehouse"][0] == http_mirror.rows("yellow", MONTH)

    _bigger_version(http_mirror.path("yellow", MONTH))
    run = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        streamed = 0
        while streamed == 0:  # rows of the new version are in the open COPY
            assert run.poll() is None and time.monotonic() < deadline, "the run ended before its COPY began"
            row = pg.execute("SELECT tuples_processed FROM pg_stat_progress_copy p JOIN pg_class c "
                             "ON c.oid = p.relid WHERE c.relname LIKE 'yellow_taxi_trips%'").fetchone()
            streamed = row[0] if row else 0
            time.sleep(0.05)
        os.killpg(run.pid, signal_)
        code = run.wait(120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)

    # The server rolls back a dropped connection's transaction; wait until it has.
    deadline = time.monotonic() + 30
    while pg.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                     [database]).fetchone()[0]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert streamed > 0
    after = {"raw": _digest(raw), "clean": _digest(clean), "postgres": pg_month(),
             "warehouse": warehouse_month()}
    assert not list((data / "lake").rglob("*.partial"))
    if signal_ == signal.SIGKILL:
        assert code != 0
        assert after == before
    else:
        assert code == 0 and _interrupted_then_retried(tmp_path)
        rows = before["postgres"][0] * COPIES
        assert after["postgres"][0] == after["warehouse"][0] == rows
        assert float(after["postgres"][1]) == pytest.approx(float(before["postgres"][1]) * COPIES)
        assert after["raw"] == _digest(http_mirror.path("yellow", MONTH))
    pg.close()


def _interrupted_then_retried(home: Path) -> bool:
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_runs(limit=1)[0]
        [retry] = instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY)
        cause = retry.dagster_event.event_specific_data.error.cause
        return cause.cls_name == "DagsterExecutionInterruptedError"
