"""Benchmark: large months against the floor of this machine, on two PostgreSQL servers.

The floor is the least work that puts a month into both local targets: the file's row
groups streamed into Postgres with binary COPY (pgpq) into a plain table, then DuckDB
reading the file into a table - one after the other. Everything the pipeline adds -
download, validation, the clean parquet, checks, Dagster's start-up - is the overhead
this measures, and whatever the run overlaps can bring it under the floor.

For each size it generates a month (once), serves it over local HTTP and, on each server
(`embedded`: the default's embedded PostgreSQL; `debian`: apt's stock `postgresql`,
reached over TCP with a password, a role and database of its own), measures the floor,
runs the whole partition as `dagster job execute`, measures the floor again, and reports
the run against the better floor: wall time, peak RSS (the run's process tree, summed,
sampled every 20 ms), the ratio, rows per second, and when each part of the run
happened (the month step's `timeline` metadata: download, the one pass, each load
streaming and committing). The floor's file: the published Parquet (official fhvhv) or
the course csv.gz's clean parquet, made by the pipeline's own code.

    .venv/bin/python scripts/benchmark_floor.py                        # fhvhv 1M, 3M, 20M, both servers
    .venv/bin/python scripts/benchmark_floor.py --fhvhv 3000000        # one size (repeatable)
    .venv/bin/python scripts/benchmark_floor.py --yellow 20000000      # the course mirror's csv.gz
    ... --server debian                                                 # one server (repeatable)
    ... --plot docs/benchmark_floor.png --timeline docs/benchmark_timeline.png

fhvhv months are written in the official layout (the bundled official-layout file's
schema: 25 columns, large_string, 1M-row row groups, zstd like the CDN's), values resampled
from its rows with the variety of a real month (pickups spread over the month in order,
zones, distances and fares jittered), so the file compresses like a real one (~25 B/row).
Not a test: it prints figures.
"""

from __future__ import annotations

import argparse
import contextlib
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
    """pgpq binary COPY of the row groups into a plain table, then DuckDB reading the file."""
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
    server_cpu = postgres_server_cpu(postgres)
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
    copy_server_cpu_s = postgres_server_cpu(postgres) - server_cpu
    with postgres.connect() as conn:
        conn.execute("DROP TABLE floor_copy")
        conn.commit()
    started = time.monotonic()
    with duckdb.connect(str(tmp / "floor.duckdb")) as con:
        con.execute(f"CREATE TABLE floor AS SELECT * FROM read_parquet('{parquet}')")
    duck_s = time.monotonic() - started
    (tmp / "floor.duckdb").unlink()
    return {"copy_s": copy_s, "duckdb_s": duck_s, "floor_s": copy_s + duck_s,
            "copy_server_cpu_s": copy_server_cpu_s}


def run_timeline(home: Path, popen_at: float, exited_at: float) -> dict[str, list[float]]:
    """When each part of the latest run happened, in seconds from the command's start: the
    start-up, the step, and inside it what the month step records as `timeline` metadata
    (download, the one pass, each load streaming and committing)."""
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_runs(limit=1)[0]
        [step] = instance.get_run_step_stats(run.run_id)
        marks: dict[str, dict] = {}
        for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION):
            materialization = entry.dagster_event.event_specific_data.materialization
            timeline = materialization.metadata.get("timeline")
            if timeline is not None:
                marks[materialization.asset_key.path[0]] = timeline.value
    at = lambda t: t - popen_at  # noqa: E731
    raw, warehouse, postgres = marks.get("lake", {}), marks.get("warehouse", {}), marks.get("postgres", {})
    last_stream = max(warehouse.get("streamed", 0), postgres.get("streamed", 0))
    return {
        "start-up (process, definitions, run)": [0, at(step.start_time)],
        "download": [at(raw["download_started"]), at(raw["pass_started"])],
        "one pass: validate, cast, clean parquet": [at(raw["pass_started"]), at(raw["pass_finished"])],
        "Postgres: COPY streamed in": [at(postgres["started"]), at(postgres["streamed"])],
        "DuckDB: insert streamed in": [at(warehouse["started"]), at(warehouse["streamed"])],
        "commits, checks, reconcile": [at(last_stream), at(step.end_time)],
        "run end, shut-down": [at(step.end_time), at(exited_at)],
    }


@contextlib.contextmanager
def debian_postgres(data: Path | None = None):
    """A stock Debian PostgreSQL cluster (apt's `postgresql`), reached over TCP with a
    password: a role and database of the benchmark's own, dropped afterwards. (`data`:
    the embedded server's folder, unused here; both servers are opened alike.)"""
    import secrets
    import shutil

    from taxi_pipeline.resources.postgres import PostgresResource

    if not shutil.which("pg_lsclusters"):
        subprocess.run(["apt-get", "install", "-y", "-q", "postgresql"], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, capture_output=True)
    version, cluster, port, status, *_ = subprocess.run(
        ["pg_lsclusters", "--no-header"], check=True, capture_output=True, text=True).stdout.split()
    if status != "online":
        subprocess.run(["pg_ctlcluster", version, cluster, "start"], check=True)
    password = secrets.token_urlsafe(16)
    database = f"taxi_bench_{secrets.token_hex(3)}"

    def psql(statement: str) -> str:
        return subprocess.run(["su", "postgres", "-c", f'psql -tAq -p {port} -c "{statement}"'], check=True,
                              capture_output=True, text=True).stdout.strip()

    if not psql("SELECT 1 FROM pg_roles WHERE rolname = 'taxi_bench'"):
        psql("CREATE ROLE taxi_bench LOGIN")
    psql(f"ALTER ROLE taxi_bench PASSWORD '{password}'")
    psql(f"CREATE DATABASE {database} OWNER taxi_bench")
    resource = PostgresResource(host="127.0.0.1", port=int(port), user="taxi_bench", password=password,
                                database=database)
    env = {"TAXI_PG_HOST": "127.0.0.1", "TAXI_PG_PORT": port, "TAXI_PG_USER": "taxi_bench",
           "TAXI_PG_PASSWORD": password, "TAXI_PG_DB": database}
    try:
        yield resource, env, f"Debian PostgreSQL {version} over TCP"
    finally:
        psql(f"DROP DATABASE IF EXISTS {database}")


@contextlib.contextmanager
def embedded_postgres(data: Path):
    with warmed_postgres(data) as postgres:
        version = postgres_version(postgres)
        yield postgres, {}, f"embedded PostgreSQL {version}"


def postgres_server_cpu(postgres) -> float:
    """CPU seconds the PostgreSQL server has used so far: the postmaster, its live processes
    and the backends it has reaped (a run's connections end before the run does)."""
    import psutil

    with postgres.connect() as conn:
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # a child of the postmaster
        postmaster = psutil.Process(pid).parent()
    total = 0.0
    for proc in [postmaster, *postmaster.children()]:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return total


def postgres_version(postgres) -> str:
    with postgres.connect() as conn:
        return conn.execute("SHOW server_version").fetchone()[0].split()[0]


SERVERS = {"embedded": embedded_postgres, "debian": debian_postgres}


def prepare_month(service: str, rows: int, tmp: Path, cache: Path | None = None) -> tuple[Path, Path]:
    """The published month (generated) and the parquet the floor loads: the official file
    itself, or the course csv.gz cast to its clean parquet by the pipeline's own code.
    With `cache`, both are kept there and reused (generating 20M rows takes minutes)."""
    import shutil

    from taxi_pipeline.cleaning import write_clean_parquet
    from taxi_pipeline.partitions import month_start
    from taxi_pipeline.services import SERVICES
    from taxi_pipeline.sources import SOURCES

    source = SOURCES["tlc" if service == "fhvhv" else "course"]
    month = FHVHV_MONTH if service == "fhvhv" else YELLOW_MONTH
    published = tmp / "mirror" / source.month_path(SERVICES[service], month)
    published.parent.mkdir(parents=True)
    clean = tmp / "floor_clean.parquet"
    kept = cache and cache / f"{service}_{rows}"
    if kept and kept.exists():
        print(f"\n== {service} {month}, {rows:,} rows ({source.name}): from {kept}", flush=True)
        shutil.copy(kept / published.name, published)
        if service != "fhvhv":
            shutil.copy(kept / clean.name, clean)
        return published, published if service == "fhvhv" else clean
    print(f"\n== {service} {month}, {rows:,} rows ({source.name}): generating ...", flush=True)
    (generate_fhvhv if service == "fhvhv" else generate_month)(rows, published)
    if service != "fhvhv":
        write_clean_parquet(published, clean, SERVICES[service], month_start(month), published.name)
    if kept:
        kept.mkdir(parents=True)
        shutil.copy(published, kept / published.name)
        if service != "fhvhv":
            shutil.copy(clean, kept / clean.name)
    return published, published if service == "fhvhv" else clean


def benchmark(service: str, rows: int, server: str, published: Path, floor_file: Path, tmp: Path) -> dict:
    from taxi_pipeline.sources import SOURCES

    source = SOURCES["tlc" if service == "fhvhv" else "course"]
    month = FHVHV_MONTH if service == "fhvhv" else YELLOW_MONTH
    work = tmp / server
    work.mkdir()
    http, url = serve(tmp / "mirror")
    env, data, home = run_environment(work, TAXI_SOURCE=source.name, **{source.url_variable: url})
    result = {"service": service, "month": month, "rows": rows, "file_bytes": published.stat().st_size,
              "server": server}
    with SERVERS[server](data) as (postgres, pg_env, description):
        result["server_name"] = description
        print(f"  {description}: floor, run, floor ...", flush=True)
        floors = [measure_floor(floor_file, postgres, work)]
        log = work / "run.log"
        command = [str(BIN / "dagster"), "job", "execute", "-m", "taxi_pipeline.definitions",
                   "-j", f"{service}_taxi_job", "--tags", json.dumps({"dagster/partition": month})]
        if os.environ.get("BENCHMARK_PY_SPY"):  # a profile of the run instead of a clean timing
            command = [str(BIN / "py-spy"), "record", "--threads", "--idle", "--rate", "50", "--format",
                       "raw", "-o", os.environ["BENCHMARK_PY_SPY"], "--", *command]
        started, popen_at = time.monotonic(), time.time()
        with open(log, "wb") as out:
            process = subprocess.Popen(command, cwd=REPO, env={**env, **pg_env}, stdout=out,
                                       stderr=subprocess.STDOUT)
        rss = TreeRss(process.pid)
        server_cpu = postgres_server_cpu(postgres)
        _, status, usage = os.wait4(process.pid, 0)  # the run's own CPU seconds, all threads
        process.returncode = code = os.waitstatus_to_exitcode(status)
        result["run_s"] = time.monotonic() - started
        result["run_cpu_s"] = usage.ru_utime + usage.ru_stime
        result["server_cpu_s"] = postgres_server_cpu(postgres) - server_cpu
        exited_at = time.time()
        rss.stop()
        if code != 0:
            sys.exit(f"the run failed; see {log}")
        result["run_rss_mb"] = rss.peak()
        result["timeline"] = run_timeline(home, popen_at, exited_at)
        with postgres.connect() as conn:
            result["postgres_rows"] = conn.execute(f"SELECT count(*) FROM {service}_taxi_trips").fetchone()[0]
            conn.execute(f"DROP TABLE {service}_taxi_trips CASCADE")  # room for the second floor
            conn.commit()
        floors.append(measure_floor(floor_file, postgres, work))
    best = min(floors, key=lambda f: f["floor_s"])
    result.update(best, floors=[round(f["floor_s"], 1) for f in floors])
    import duckdb

    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        result["warehouse_rows"] = con.execute(
            f"SELECT count(*) FROM trips_data_all.{service}_tripdata").fetchall()[0][0]
    http.terminate()
    result["ratio"] = result["run_s"] / result["floor_s"]
    print(json.dumps(result, indent=1), flush=True)
    return result


def report(results: list[dict]) -> None:
    print(f"\n## Against the floor, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}\n")
    print("| server | month | rows | file MiB | floor s (COPY + DuckDB; both runs) | run s | x floor | "
          "rows/s | peak RSS MB | start-up s | pass s | Postgres streamed s | DuckDB streamed s | "
          "commits + checks s | run CPU s | server CPU s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        span = {name: end - start for name, (start, end) in r["timeline"].items()}.get
        print(f"| {r['server_name']} | {r['service']} {r['month']} | {r['rows']:,} | "
              f"{r['file_bytes'] / 2**20:.0f} | {r['floor_s']:.1f} ({r['copy_s']:.1f} + {r['duckdb_s']:.1f}; "
              f"{', '.join(map(str, r['floors']))}) | {r['run_s']:.1f} | **{r['ratio']:.2f}** | "
              f"{r['rows'] / r['run_s']:,.0f} | {r['run_rss_mb']:.0f} | "
              f"{span('start-up (process, definitions, run)'):.1f} | "
              f"{span('one pass: validate, cast, clean parquet'):.1f} | "
              f"{span('Postgres: COPY streamed in'):.1f} | {span('DuckDB: insert streamed in'):.1f} | "
              f"{span('commits, checks, reconcile'):.1f} | {r['run_cpu_s']:.1f} | {r['server_cpu_s']:.1f} |")
    for r in results:
        assert r["postgres_rows"] == r["warehouse_rows"] == r["rows"], r


def plot(results: list[dict], path: Path) -> None:
    """Time and peak memory against month size, per service and server."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (time_ax, rss_ax) = plt.subplots(1, 2, figsize=(11, 4))
    for service, server in sorted({(r["service"], r["server"]) for r in results}):
        rs = sorted((r for r in results if (r["service"], r["server"]) == (service, server)),
                    key=lambda r: r["rows"])
        millions = [r["rows"] / 1e6 for r in rs]
        line = time_ax.plot(millions, [r["run_s"] for r in rs], "o-", label=f"{service}, {server}: run")[0]
        time_ax.plot(millions, [r["floor_s"] for r in rs], "s--", color=line.get_color(),
                     label=f"{service}, {server}: floor")
        rss_ax.plot(millions, [r["run_rss_mb"] for r in rs], "o-", label=f"{service}, {server}")
    time_ax.set(xlabel="rows in the month (millions)", ylabel="seconds", title="Time: run and floor")
    rss_ax.set(xlabel="rows in the month (millions)", ylabel="MB", title="Peak RSS of the run",
               ylim=(0, 1100))
    rss_ax.axhline(1024, color="grey", linestyle=":", label="1 GB")
    for ax in (time_ax, rss_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"One month, `dagster job execute`, {os.cpu_count()} cores ({time.strftime('%Y-%m-%d')})",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


def plot_timelines(results: list[dict], path: Path) -> None:
    """One bar chart per run: what ran when inside `dagster job execute`, against the floor's
    two loads one after the other."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    largest = max(r["rows"] for r in results)
    shown = [r for r in results if r["rows"] == largest]
    fig, axes = plt.subplots(len(shown), 1, figsize=(11, 2.6 * len(shown)), squeeze=False)
    for ax, r in zip(axes[:, 0], shown, strict=True):
        bars = list(r["timeline"].items())
        bars += [("floor: COPY, then DuckDB", None)]
        for i, (_, span) in enumerate(bars):
            if span is None:
                ax.broken_barh([(0, r["copy_s"]), (r["copy_s"], r["duckdb_s"])], (i - 0.35, 0.7),
                               facecolors=["#888888", "#bbbbbb"])
            else:
                ax.broken_barh([(span[0], span[1] - span[0])], (i - 0.35, 0.7))
        ax.axvline(r["run_s"], color="k", linestyle=":", linewidth=1)
        ax.axvline(r["floor_s"], color="grey", linestyle="--", linewidth=1)
        ax.set_yticks(range(len(bars)), [name for name, _ in bars], fontsize=7)
        ax.invert_yaxis()
        ax.set_title(f"{r['service']} {r['rows']:,} rows, {r['server_name']}: run {r['run_s']:.1f} s "
                     f"(dotted), floor {r['floor_s']:.1f} s (dashed), {r['ratio']:.2f}x", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    axes[-1, 0].set_xlabel("seconds from the command's start")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"timeline plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fhvhv", type=int, action="append", help="rows of an official fhvhv month; repeatable"
    )
    parser.add_argument(
        "--yellow", type=int, action="append", help="rows of a course yellow month; repeatable"
    )
    parser.add_argument("--server", action="append", choices=list(SERVERS),
                        help="PostgreSQL to load: embedded, debian (apt's, over TCP); default both")
    parser.add_argument("--plot", type=Path, help="write the time/memory plot here (PNG)")
    parser.add_argument("--timeline", type=Path, help="write the largest month's timelines here (PNG)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--cache", type=Path, help="keep generated months here and reuse them")
    args = parser.parse_args()
    runs = [("fhvhv", n) for n in args.fhvhv or []] + [("yellow", n) for n in args.yellow or []]
    results = []
    for service, rows in runs or [("fhvhv", n) for n in (1_000_000, 3_000_000, 20_000_000)]:
        with tempfile.TemporaryDirectory(prefix="taxi_floor_") as name:
            published, floor_file = prepare_month(service, rows, Path(name), args.cache)
            for server in args.server or list(SERVERS):
                results.append(benchmark(service, rows, server, published, floor_file, Path(name)))
                if args.json:
                    args.json.write_text(json.dumps(results, indent=1))
    report(results)
    if args.plot:
        plot(results, args.plot)
    if args.timeline:
        plot_timelines(results, args.timeline)


if __name__ == "__main__":
    main()
