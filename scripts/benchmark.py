"""Benchmark: a whole partition the project's way against the seeds' pandas way.

For each month size it generates a yellow month by resampling the real rows of the
bundled 2021-01 sample (no network), serves it from a local HTTP server, and runs:

(a) the project: each asset of `yellow_taxi_job` for the partition as its own
    `dagster asset materialize` process (as the multiprocess executor runs steps):
    download -> raw csv.gz in the lake; streaming cast -> zstd parquet; the parquet read
    by DuckDB itself into the warehouse; Arrow batches -> binary COPY into Postgres; plus
    their asset checks.
(b) the seeds (the course's flows): `pandas.read_csv(url)`, `to_datetime`,
    `to_parquet(compression="gzip")`, the parquet read back into pandas and loaded into
    DuckDB (their BigQuery step), `to_sql(chunksize=100000)` - in one process.

It prints, per step, the seconds and the peak RSS (each project step's process tree;
the seeds' process so far; sampled every 20 ms), the totals and the ratios, and the parquet sizes.

    .venv/bin/python scripts/benchmark.py                  # 1,369,765 and 7,500,000 rows
    .venv/bin/python scripts/benchmark.py --rows 1369765   # one size

Postgres is a throwaway embedded server for both ways. Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SAMPLE = REPO / "taxi_pipeline" / "sample_mirror" / "yellow" / "yellow_tripdata_2021-01.csv.gz"
SIZES = {1_369_765: "2021-01", 7_500_000: "2019-01"}  # like yellow 2021-01 and 2019-01
CHUNK_ROWS = 1_000_000
BIN = Path(sys.executable).parent


def generate_month(rows: int, dest: Path) -> None:
    """Resample the real rows (seeded) into a month-sized csv.gz, as the release ships it.

    The month is a run of sample-sized blocks, each a random draw of the sample's rows
    kept in the sample's order: release files run roughly in pickup order.
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    # The original text values, written back out as they came: read everything as strings.
    header = pacsv.read_csv(pa.input_stream(str(SAMPLE), compression="gzip")).column_names
    text = pacsv.read_csv(
        pa.input_stream(str(SAMPLE), compression="gzip"),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in header}),
    )
    picks = np.random.default_rng(2021).integers(0, text.num_rows, rows)
    for start in range(0, rows, text.num_rows):
        picks[start : start + text.num_rows].sort()
    options = pacsv.WriteOptions(quoting_style="none")
    with pa.CompressedOutputStream(str(dest), "gzip") as out, \
            pacsv.CSVWriter(out, text.schema, write_options=options) as writer:
        for start in range(0, rows, CHUNK_ROWS):
            writer.write_table(text.take(picks[start : start + CHUNK_ROWS]))


class PeakRss:
    """Samples the resident memory of a process tree every 20 ms; keeps the largest process's.

    Not `ru_maxrss`: Linux folds the parent's memory at fork time into a child's high-water
    mark, and this script holds a whole generated month when it starts the ways it measures.
    """

    def __init__(self, pid: int):
        import psutil

        self.root = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                for proc in [self.root, *self.root.children(recursive=True)]:
                    self.peak = max(self.peak, proc.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(0.02)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20


def run_measured(command: list[str], env: dict, log: Path, stderr=subprocess.STDOUT) -> tuple[float, float]:
    """Run a command, its output appended to `log`; its wall seconds and the peak RSS (MB)
    of its largest process."""
    started = time.monotonic()
    with open(log, "ab") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=stderr)
    peak = PeakRss(process.pid)
    code = process.wait()
    seconds, rss = time.monotonic() - started, peak.stop()
    if code != 0:
        sys.exit(f"{' '.join(command)} failed; see {log}")
    return seconds, rss


# --- (a) the project -------------------------------------------------------------------

PROJECT_STEPS = [
    ("download -> raw csv.gz (lake)", "lake/raw_yellow_trips"),
    ("csv.gz -> zstd parquet (lake)", "lake/clean_yellow_trips"),
    ("parquet -> DuckDB warehouse", "warehouse/yellow_tripdata"),
    ("parquet -> Postgres (COPY)", "postgres/yellow_taxi_trips"),
]


def step_seconds(home: Path) -> dict[str, float]:
    """Seconds of each step of the latest run, from the instance's event log."""
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_runs(limit=1)[0]
        return {s.step_key: s.end_time - s.start_time for s in instance.get_run_step_stats(run.run_id)}


def run_project(month: str, env: dict, home: Path, log: Path) -> list[dict]:
    rows = []
    for label, key in PROJECT_STEPS:
        command = [str(BIN / "dagster"), "asset", "materialize", "-m", "taxi_pipeline.definitions",
                   "--select", key, "--partition", month]
        wall, rss = run_measured(command, env, log)
        steps = step_seconds(home)
        # Each asset alone is a subset of the month's one step (its checks evaluated in it).
        rows.append({"step": label, "seconds": steps.pop("yellow_month"), "process_s": wall,
                     "checks_s": sum(steps.values()), "rss_mb": rss})
        print(f"  {label:34} {rows[-1]['seconds']:7.1f} s in the step (its checks in it), {wall:6.1f} s "
              f"with Dagster start-up, {rss:5.0f} MB", flush=True)
    return rows


# --- (b) the seeds ----------------------------------------------------------------------

def seeds_child(url: str, conninfo: str, tmp: str) -> None:
    """The course's flows, step by step, in this one process; prints JSON per step."""
    import duckdb
    import pandas as pd
    import psycopg2
    from sqlalchemy import create_engine

    steps = []
    clock = time.monotonic()
    peak = PeakRss(os.getpid())

    def done(name: str) -> None:
        nonlocal clock
        now = time.monotonic()
        rss = peak.peak / 2**20
        steps.append({"step": name, "seconds": now - clock, "rss_mb": rss})
        print(f"  {name:34} {now - clock:7.1f} s, peak so far {rss:5.0f} MB", file=sys.stderr, flush=True)
        clock = time.monotonic()

    df = pd.read_csv(url, low_memory=False)
    done("read_csv(url)")
    df.tpep_pickup_datetime = pd.to_datetime(df.tpep_pickup_datetime)
    df.tpep_dropoff_datetime = pd.to_datetime(df.tpep_dropoff_datetime)
    done("to_datetime")
    parquet = Path(tmp) / "seeds.parquet"
    df.to_parquet(parquet, compression="gzip")
    done("to_parquet(gzip)")
    warehouse = pd.read_parquet(parquet)
    with duckdb.connect(str(Path(tmp) / "seeds.duckdb")) as con:
        con.execute("CREATE OR REPLACE TABLE yellow_tripdata AS SELECT * FROM warehouse")
    del warehouse
    done("read_parquet + DuckDB (their BQ)")
    engine = create_engine("postgresql+psycopg2://", creator=lambda: psycopg2.connect(conninfo))
    df.head(n=0).to_sql(name="yellow_taxi_data_seeds", con=engine, if_exists="replace")
    df.to_sql(name="yellow_taxi_data_seeds", con=engine, if_exists="append", chunksize=100000)
    done("to_sql(chunksize=100000)")
    print(json.dumps({"steps": steps, "parquet_bytes": parquet.stat().st_size}))


def run_seeds(url: str, conninfo: str, tmp: Path) -> tuple[list[dict], int, float]:
    """The seeds' process; its progress goes to the terminal, its JSON result to a file."""
    out = tmp / "seeds.json"
    command = [sys.executable, __file__, "--seeds-child", url, conninfo, str(tmp)]
    _, rss = run_measured(command, dict(os.environ), out, stderr=None)
    result = json.loads(out.read_text().strip().splitlines()[-1])
    return result["steps"], result["parquet_bytes"], rss


# --- one month, both ways ------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(folder: Path) -> tuple[subprocess.Popen, str]:
    """`folder` over HTTP from a process of its own, as a remote server would be; its base URL."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port),
                               "--directory", str(folder)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    return server, f"http://127.0.0.1:{port}"


def run_environment(tmp: Path, **variables: str) -> tuple[dict, Path, Path]:
    """The environment of a run on the embedded default under `tmp` (a fresh DAGSTER_HOME
    and TAXI_DATA_DIR), plus `variables`; and those two folders."""
    data, home = tmp / "data", tmp / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "TAXI_DATA_DIR": str(data), "TAXI_PIPELINE_ENV": "local",
           **variables}
    env.pop("TAXI_PG_HOST", None)
    return env, data, home


@contextlib.contextmanager
def warmed_postgres(data: Path):
    """The embedded server of `data`, kept up by this process's handle. A fresh cluster
    first zero-fills its WAL segments: warmed so that no way measured pays for that."""
    from taxi_pipeline.environments import postgres_resource

    with postgres_resource(data / "postgres").process_config_and_initialize_cm() as postgres:
        with postgres.connect() as conn:
            conn.execute("CREATE TABLE warm AS SELECT g, md5(g::text) FROM generate_series(1, 5000000) g")
            conn.execute("DROP TABLE warm")
            conn.commit()
        yield postgres


def benchmark(rows: int, month: str, tmp: Path) -> dict:
    mirror = tmp / "mirror"
    (mirror / "yellow").mkdir(parents=True)
    csv_gz = mirror / "yellow" / f"yellow_tripdata_{month}.csv.gz"
    print(f"\n== {rows:,} rows as yellow {month}: generating by resampling {SAMPLE.name} ...", flush=True)
    generate_month(rows, csv_gz)
    print(f"  {csv_gz.stat().st_size / 2**20:.1f} MiB gzipped", flush=True)

    server, url = serve(mirror)
    env, data, home = run_environment(tmp, TAXI_SOURCE="course", TAXI_SOURCE_URL=url)
    os.environ["TAXI_DATA_DIR"] = str(data)
    with warmed_postgres(data) as postgres:  # one server for both ways
        log = tmp / "project.log"
        print(f"(a) project, one `dagster asset materialize` per asset (log: {log.name})", flush=True)
        project = run_project(month, env, home, log)
        print("(a) project, the whole partition as one run: `dagster job execute -j yellow_taxi_job`",
              flush=True)
        job = run_measured([str(BIN / "dagster"), "job", "execute", "-m", "taxi_pipeline.definitions", "-j",
                            "yellow_taxi_job", "--tags", json.dumps({"dagster/partition": month})],
                           env, log)
        print(f"  {job[0]:.1f} s, {job[1]:.0f} MB", flush=True)
        parquet = next((data / "lake").rglob("*.parquet"))
        print("(b) seeds, one pandas process", flush=True)
        seeds, seeds_parquet, seeds_rss = run_seeds(f"{url}/yellow/{csv_gz.name}",
                                                    postgres._conninfo(postgres.database), tmp)
        with postgres.connect() as conn:
            loaded = conn.execute("SELECT count(*) FROM yellow_taxi_trips").fetchone()[0]
            seeded = conn.execute("SELECT count(*) FROM yellow_taxi_data_seeds").fetchone()[0]
    server.terminate()
    return {"rows": rows, "month": month, "gz_bytes": csv_gz.stat().st_size, "project": project, "job": job,
            "seeds": seeds, "seeds_rss": seeds_rss, "parquet_bytes": parquet.stat().st_size,
            "seeds_parquet_bytes": seeds_parquet, "loaded": (loaded, seeded)}


def report(r: dict) -> None:
    mib = 2**20
    print(f"\n### {r['rows']:,} rows (yellow {r['month']}, {r['gz_bytes'] / mib:.0f} MiB csv.gz)\n")
    print("| way | step | seconds | peak RSS MB |")
    print("|---|---|---:|---:|")
    for s in r["project"]:
        print(f"| project | {s['step']} | {s['seconds']:.1f} | {s['rss_mb']:.0f} |")
    checks = sum(s["checks_s"] for s in r["project"])
    startup = sum(s["process_s"] - s["seconds"] - s["checks_s"] for s in r["project"])
    print(f"| project | asset checks (rows reconcile, schema, nulls, ...) | {checks:.1f} | |")
    print(f"| project | Dagster start-up, 4 processes | {startup:.1f} | |")
    for s in r["seeds"]:
        print(f"| seeds | {s['step']} | {s['seconds']:.1f} | {s['rss_mb']:.0f} |")
    work = sum(s["seconds"] for s in r["project"])
    wall = sum(s["process_s"] for s in r["project"])
    seeds = sum(s["seconds"] for s in r["seeds"])
    rss = max([s["rss_mb"] for s in r["project"]] + [r["job"][1]])
    job_s, job_rss = r["job"]
    print(
        "| project | whole partition: `dagster job execute` (steps, checks, start-up) "
        f"| {job_s:.1f} | {job_rss:.0f} |"
    )
    print(f"\n- whole partition, one `dagster job execute` run with its checks and start-up: "
          f"{job_s:.1f} s against the seeds' {seeds:.1f} s -> **{seeds / job_s:.1f}x**")
    print(f"- the four steps' own work: {work:.1f} s -> {seeds / work:.1f}x "
          f"(one process per asset, with start-up and checks: {wall:.1f} s -> {seeds / wall:.1f}x)")
    print(f"- peak RSS: project {rss:.0f} MB, seeds {r['seeds_rss']:.0f} MB -> "
          f"**{rss / r['seeds_rss']:.2f}x**")
    print(f"- parquet: project zstd {r['parquet_bytes'] / mib:.1f} MiB, seeds gzip "
          f"{r['seeds_parquet_bytes'] / mib:.1f} MiB ({r['parquet_bytes'] / r['seeds_parquet_bytes']:.2f}x)")
    print(f"- rows in Postgres: project {r['loaded'][0]:,}, seeds {r['loaded'][1]:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="month size; repeatable")
    parser.add_argument("--seeds-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.seeds_child:
        return seeds_child(*args.seeds_child)
    results = []
    for rows in args.rows or list(SIZES):
        month = SIZES.get(rows, "2021-01")
        with tempfile.TemporaryDirectory(prefix="taxi_benchmark_") as name:
            results.append(benchmark(rows, month, Path(name)))
    print(f"\n## Benchmark on {os.cpu_count()} cores ({time.strftime('%Y-%m-%d')})")
    for r in results:
        report(r)


if __name__ == "__main__":
    main()
