"""Benchmark: large months against the floor of this machine.

The floor is the least work that puts a month into both local targets: the file's row
groups streamed into Postgres with binary COPY (pgpq), plus DuckDB reading the file into
a table. Everything the pipeline adds - download, validation, the clean rewrite, checks,
Dagster's start-up, steps waiting for each other - is the overhead this measures.

For each size it generates a month, serves it over local HTTP, measures the floor on the
month's Parquet (the published file for the official source, the clean file for the
course's csv.gz), then runs the whole partition as `dagster job execute` on the embedded
default and reports: wall time and peak RSS (the run's process tree, summed, sampled
every 20 ms), each step's seconds and peak, the ratio to the floor, rows per second.

    .venv/bin/python scripts/benchmark_floor.py                        # fhvhv 1M, 3M, 20M
    .venv/bin/python scripts/benchmark_floor.py --fhvhv 3000000        # one size (repeatable)
    .venv/bin/python scripts/benchmark_floor.py --yellow 20000000      # the course mirror's csv.gz
    ... --plot docs/benchmark_floor.png                                 # time and memory vs size

fhvhv months are written in the official layout (the bundled official-layout file's
schema: 25 columns, large_string, 1M-row row groups, zstd like the CDN's), values resampled
from its rows with the variety of a real month (pickups spread over the month in order,
zones, distances and fares jittered), so the file compresses like a real one (~25 B/row).
Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from benchmark import generate_month, run_environment, serve, warmed_postgres  # noqa: E402

FHVHV_SAMPLE = REPO / "taxi_pipeline" / "sample_mirror" / "trip-data" / "fhvhv_tripdata_2025-01.parquet"
FHVHV_MONTH = "2024-06"
YELLOW_MONTH = "2019-01"
ROW_GROUP = 1_000_000
BIN = Path(sys.executable).parent


def generate_fhvhv(rows: int, dest: Path, month: str = FHVHV_MONTH) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    sample = pq.read_table(FHVHV_SAMPLE)
    schema = sample.schema.remove_metadata()
    rng = np.random.default_rng(2024)
    start = np.datetime64(f"{month}-01T00:00:00", "us")
    seconds = 30 * 86400
    with pq.ParquetWriter(dest, schema, compression="zstd") as writer:
        for first in range(0, rows, ROW_GROUP):
            n = min(ROW_GROUP, rows - first)
            picks = pa.array(rng.integers(0, sample.num_rows, n))
            part = sample.take(picks)
            # Pickups run through the month in order, as in the published files.
            offset = np.sort(rng.integers(first * seconds // rows, (first + n) * seconds // rows, n))
            pickup = start + offset.astype("timedelta64[s]")
            trip_time = rng.integers(120, 3600, n)
            columns = {
                "request_datetime": pickup - rng.integers(60, 900, n).astype("timedelta64[s]"),
                "on_scene_datetime": pickup - rng.integers(0, 300, n).astype("timedelta64[s]"),
                "pickup_datetime": pickup,
                "dropoff_datetime": pickup + trip_time.astype("timedelta64[s]"),
                "PULocationID": rng.integers(1, 266, n).astype("int32"),
                "DOLocationID": rng.integers(1, 266, n).astype("int32"),
                "trip_miles": np.round(rng.gamma(2.0, 2.5, n), 2),
                "trip_time": trip_time,
            }
            for name in ("base_passenger_fare", "tips", "driver_pay"):
                jitter = np.round(rng.uniform(0.5, 1.5, n), 2)
                columns[name] = np.round(pc.multiply(part.column(name), pa.array(jitter)).to_numpy(False), 2)
            table = part
            for name, values in columns.items():
                i = table.schema.get_field_index(name)
                field = table.schema.field(name)
                array = pa.array(values, type=field.type)
                if name == "on_scene_datetime":  # null where the sampled row has none
                    array = pc.if_else(pc.is_null(part.column(name)), pa.scalar(None, field.type), array)
                table = table.set_column(i, field, array)
            writer.write_table(table.cast(schema), row_group_size=ROW_GROUP)


class TreeRss:
    """Samples the summed resident memory of a process tree every 20 ms, keeping the samples."""

    def __init__(self, pid: int):
        import psutil

        self.root = psutil.Process(pid)
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        import psutil

        while not self._stop.is_set():
            total = 0
            try:
                for proc in [self.root, *self.root.children(recursive=True)]:
                    total += proc.memory_info().rss
            except psutil.Error:
                pass
            self.samples.append((time.time(), total))
            time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, start: float = 0, end: float = float("inf")) -> float:
        return max((r for t, r in self.samples if start <= t <= end), default=0) / 2**20


def measure_floor(parquet: Path, postgres, tmp: Path) -> dict:
    """pgpq binary COPY of the row groups into a plain table + DuckDB reading the file."""
    import duckdb
    import pyarrow.parquet as pq
    from pgpq import ArrowToPostgresBinaryEncoder
    from psycopg import sql

    file = pq.ParquetFile(parquet)
    encoder = ArrowToPostgresBinaryEncoder(file.schema_arrow)
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(c.data_type.ddl()))
        for f, c in zip(file.schema_arrow, encoder.schema().columns, strict=True)
    )
    started = time.monotonic()
    with postgres.connect() as conn:
        conn.execute("DROP TABLE IF EXISTS floor_copy")
        conn.execute(sql.SQL("CREATE TABLE floor_copy ({})").format(columns))
        with conn.cursor().copy("COPY floor_copy FROM STDIN (FORMAT binary)") as copy:
            copy.write(encoder.write_header())
            for batch in file.iter_batches(batch_size=64 * 1024):  # row group by row group
                copy.write(encoder.write_batch(batch))
            copy.write(encoder.finish())
        conn.commit()
    copy_s = time.monotonic() - started
    with postgres.connect() as conn:
        conn.execute("DROP TABLE floor_copy")
        conn.commit()
    started = time.monotonic()
    with duckdb.connect(str(tmp / "floor.duckdb")) as con:
        con.execute(f"CREATE TABLE floor AS SELECT * FROM read_parquet('{parquet}')")
    duck_s = time.monotonic() - started
    (tmp / "floor.duckdb").unlink()
    return {"copy_s": copy_s, "duckdb_s": duck_s, "floor_s": copy_s + duck_s}


def step_times(home: Path) -> dict[str, tuple[float, float]]:
    """(start, end) epoch seconds of each step of the latest run, from the event log."""
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_runs(limit=1)[0]
        return {s.step_key: (s.start_time, s.end_time) for s in instance.get_run_step_stats(run.run_id)}


def benchmark(service: str, rows: int, tmp: Path) -> dict:
    from taxi_pipeline.services import SERVICES
    from taxi_pipeline.sources import SOURCES

    source = SOURCES["tlc" if service == "fhvhv" else "course"]
    month = FHVHV_MONTH if service == "fhvhv" else YELLOW_MONTH
    mirror = tmp / "mirror"
    published = mirror / source.month_path(SERVICES[service], month)
    published.parent.mkdir(parents=True)
    print(f"\n== {service} {month}, {rows:,} rows ({source.name}): generating ...", flush=True)
    (generate_fhvhv if service == "fhvhv" else generate_month)(rows, published)
    size = published.stat().st_size
    print(f"  {published.name}: {size / 2**20:.1f} MiB", flush=True)

    server, url = serve(mirror)
    env, data, home = run_environment(tmp, TAXI_SOURCE=source.name, **{source.url_variable: url})
    result = {"service": service, "month": month, "rows": rows, "file_bytes": size}
    with warmed_postgres(data) as postgres:  # one server for the floor and the run
        if service == "fhvhv":
            result.update(measure_floor(published, postgres, tmp))
        log = tmp / "run.log"
        command = [
            str(BIN / "dagster"),
            "job",
            "execute",
            "-m",
            "taxi_pipeline.definitions",
            "-j",
            f"{service}_taxi_job",
            "--tags",
            json.dumps({"dagster/partition": month}),
        ]
        started = time.monotonic()
        with open(log, "wb") as out:
            process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
        rss = TreeRss(process.pid)
        code = process.wait()
        result["run_s"] = time.monotonic() - started
        rss.stop()
        if code != 0:
            sys.exit(f"the run failed; see {log}")
        result["run_rss_mb"] = rss.peak()
        result["steps"] = {key: {"seconds": end - start, "rss_mb": rss.peak(start, end)}
                           for key, (start, end) in step_times(home).items()}
        if service != "fhvhv":
            result.update(measure_floor(next((data / "lake" / "clean").rglob("*.parquet")), postgres, tmp))
        with postgres.connect() as conn:
            result["postgres_rows"] = conn.execute(f"SELECT count(*) FROM {service}_taxi_trips").fetchone()[0]
    import duckdb

    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        result["warehouse_rows"] = con.execute(
            f"SELECT count(*) FROM trips_data_all.{service}_tripdata"
        ).fetchall()[0][0]
    server.terminate()
    result["ratio"] = result["run_s"] / result["floor_s"]
    print(json.dumps(result, indent=1), flush=True)
    return result


CHECKS = (
    "schema_is_canonical",
    "pickup_never_null",
    "pickups_in_month",
    "negative_total_amount",
    "rows_reconcile",
)
STEP_NAMES = (
    ("raw", "lake__raw_"),
    ("clean", "lake__clean_"),
    ("warehouse", "warehouse__"),
    ("postgres", "postgres__"),
)


def report(results: list[dict]) -> None:
    print(f"\n## Against the floor, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}\n")
    print("| month | rows | file MiB | floor s (COPY + DuckDB) | run s | x floor | rows/s | peak RSS MB | "
          "raw s | clean s | warehouse s | postgres s | checks s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        steps = r["steps"]
        checks = sum(s["seconds"] for k, s in steps.items() if k.endswith(CHECKS))
        by_kind = {
            kind: sum(
                s["seconds"] for k, s in steps.items() if k.startswith(prefix) and not k.endswith(CHECKS)
            )
            for kind, prefix in STEP_NAMES
        }
        print(f"| {r['service']} {r['month']} | {r['rows']:,} | {r['file_bytes'] / 2**20:.0f} | "
              f"{r['floor_s']:.1f} ({r['copy_s']:.1f} + {r['duckdb_s']:.1f}) | {r['run_s']:.1f} | "
              f"**{r['ratio']:.2f}** | {r['rows'] / r['run_s']:,.0f} | {r['run_rss_mb']:.0f} | "
              + " | ".join(f"{by_kind[k]:.1f}" for k, _ in STEP_NAMES) + f" | {checks:.1f} |")
    for r in results:
        assert r["postgres_rows"] == r["warehouse_rows"] == r["rows"], r


def plot(results: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (time_ax, rss_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    for service in sorted({r["service"] for r in results}):
        rs = sorted((r for r in results if r["service"] == service), key=lambda r: r["rows"])
        millions = [r["rows"] / 1e6 for r in rs]
        time_ax.plot(millions, [r["run_s"] for r in rs], "o-", label=f"{service}: dagster job execute")
        time_ax.plot(millions, [r["floor_s"] for r in rs], "s--", label=f"{service}: floor")
        rss_ax.plot(millions, [r["run_rss_mb"] for r in rs], "o-", label=f"{service}: run peak RSS")
    time_ax.set(xlabel="rows in the month (millions)", ylabel="seconds", title="Time")
    rss_ax.set(xlabel="rows in the month (millions)", ylabel="MB", title="Peak memory", ylim=(0, 1100))
    rss_ax.axhline(1024, color="grey", linestyle=":", label="1 GB")
    for ax in (time_ax, rss_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"One month, embedded default, {os.cpu_count()} cores ({time.strftime('%Y-%m-%d')})", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fhvhv", type=int, action="append", help="rows of an official fhvhv month; repeatable"
    )
    parser.add_argument(
        "--yellow", type=int, action="append", help="rows of a course yellow month; repeatable"
    )
    parser.add_argument("--plot", type=Path, help="write the time/memory plot here (PNG)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    runs = [("fhvhv", n) for n in args.fhvhv or []] + [("yellow", n) for n in args.yellow or []]
    results = []
    for service, rows in runs or [("fhvhv", n) for n in (1_000_000, 3_000_000, 20_000_000)]:
        with tempfile.TemporaryDirectory(prefix="taxi_floor_") as name:
            results.append(benchmark(service, rows, Path(name)))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    report(results)
    if args.plot:
        plot(results, args.plot)


if __name__ == "__main__":
    main()
