"""A 48-month backfill of all four services through the daemon, on the local default.

What a user does to load history: `dagster-daemon` (as `dagster dev -w workspace.yaml` runs it) with the
repository's dagster.yaml (sqlite instance, 4 runs at once, 3 per backfill, one slot per
pool), the embedded Postgres and the DuckDB warehouse; one backfill per service, 2021-01..2024-12,
from an official-layout mirror on disk: the bundled real rows of each service moved into
each month (`--scale K`: K times over). `--launch asset` (the default) submits asset
backfills (`python -m taxi_pipeline.backfills`: several months per run, as the backfill
policy says), `--launch job` job backfills (`dagster job backfill`: one run per month).
Prints the wall time, the runs and their outcomes, any automation runs (the dbt models
following the months), the runs' peak RSS, and checks every month in every target (lake,
warehouse, Postgres) against the file's rows.

    .venv/bin/python scripts/benchmark_backfill.py [--months 48] [--launch job] [--scale 200] [--keep DIR]
    .venv/bin/python scripts/benchmark_backfill.py --service green --first 2014-01 --months 150
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TEMPLATES = {  # a bundled real month per service, in the layout of 2021-2024
    "yellow": "yellow_tripdata_2024-01.parquet",
    "green": "green_tripdata_2022-01.parquet",
    "fhv": "fhv_tripdata_2024-03.parquet",
    "fhvhv": "fhvhv_tripdata_2021-01.parquet",
}
FIRST = "2021-01"


def months(count: int, first: str = FIRST) -> list[str]:
    year, month = map(int, first.split("-"))
    keys = []
    for _ in range(count):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year, month + 1) if month < 12 else (year + 1, 1)
    return keys


def build_mirror(
    root: Path, keys: list[str], services: list[str], scale: int = 1
) -> dict[tuple[str, str], int]:
    """`root/trip-data/{service}_tripdata_{month}.parquet` for every month: the template's
    rows (`scale` times over) with every timestamp moved by the months between them.
    Returns the rows per file."""
    sample = REPO / "taxi_pipeline" / "sample_mirror" / "trip-data"
    (root / "trip-data").mkdir(parents=True)
    rows = {}
    con = duckdb.connect()
    for service in services:
        template = TEMPLATES[service]
        path = sample / template
        origin = template.rsplit("_", 1)[-1].removesuffix(".parquet")
        columns = con.execute(f"describe select * from read_parquet('{path}')").fetchall()
        stamps = [name for name, kind, *_ in columns if kind.startswith("TIMESTAMP")]
        for key in keys:
            shift = f"to_days(cast(date '{key}-01' - date '{origin}-01' as integer))"
            moved = ", ".join(f'"{c}" + {shift} as "{c}"' for c in stamps)
            target = root / "trip-data" / f"{service}_tripdata_{key}.parquet"
            con.execute(f"copy (select * exclude (range) replace ({moved}) "
                        f"from read_parquet('{path}'), range({scale})) "
                        f"to '{target}' (format parquet)")
            rows[service, key] = con.execute(f"select count(*) from read_parquet('{target}')").fetchone()[0]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--months", type=int, default=48)
    parser.add_argument("--first", default=FIRST, help="first month, YYYY-MM (default %(default)s)")
    parser.add_argument("--service", action="append", choices=list(TEMPLATES),
                        help="a service to backfill; repeatable (default: all four)")
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temporary one)")
    parser.add_argument("--scale", type=int, default=1,
                        help="each month holds the template's rows this many times")
    parser.add_argument("--launch", choices=["asset", "job"], default="asset",
                        help="asset: one asset backfill per service (python -m taxi_pipeline.backfills, "
                        "runs as the backfill policy says); job: `dagster job backfill` (one run per month)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="taxi_backfill_"))
    keys = months(args.months, args.first)
    services = args.service or list(TEMPLATES)
    expected = build_mirror(work / "mirror", keys, services, args.scale)
    home = work / "home"
    home.mkdir()
    home.joinpath("dagster.yaml").write_text(
        (REPO / "dagster.yaml").read_text().replace("taxi_data/dagster", str(work / "dagster"))
    )
    env = {**os.environ, "DAGSTER_HOME": str(home), "TAXI_DATA_DIR": str(work / "data"),
           "TAXI_SOURCE": "tlc", "TAXI_TLC_URL": f"file://{work / 'mirror'}"}
    for name in ("TAXI_PG_HOST", "TAXI_PIPELINE_ENV"):
        env.pop(name, None)
    bin_dir = Path(sys.executable).parent
    # The instance's tables first: the daemon and the CLI creating them at once race on sqlite.
    subprocess.run([str(bin_dir / "dagster"), "instance", "migrate"], env=env, check=True,
                   capture_output=True)
    daemon = subprocess.Popen(
        [str(bin_dir / "dagster-daemon"), "run", "-w", str(REPO / "workspace.yaml")],
        cwd=REPO, env=env, stdout=open(work / "daemon.log", "wb"), stderr=subprocess.STDOUT,  # noqa: SIM115
        start_new_session=True,
    )
    memory = PeakMemory(home)
    try:
        start = time.monotonic()
        for service in services:
            command = (
                [sys.executable, "-m", "taxi_pipeline.backfills", service, keys[0], keys[-1]]
                if args.launch == "asset" else
                [str(bin_dir / "dagster"), "job", "backfill", "-w", str(REPO / "workspace.yaml"),
                 "-l", "taxi_pipeline", "-j", f"{service}_taxi_job", "--partitions", ",".join(keys),
                 "--noprompt"])
            subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True)
        outcome = wait_for_backfills(home, len(services))
        wall = time.monotonic() - start
    finally:
        os.killpg(daemon.pid, 15)
        daemon.wait(60)
    print(f"{len(services)} services x {len(keys)} months ({keys[0]}..{keys[-1]}), "
          f"{sum(expected.values()):,} rows, through the daemon (4 runs at once)")
    print(f"wall time {wall:.0f} s; backfill runs {outcome['runs']}: {outcome['statuses']}; "
          f"automation runs {outcome['automation']}: {outcome['automation_statuses']}; {memory.stop()}")
    wrong = check_targets(env, expected)
    print(f"months exact in every target: {len(expected) - len(wrong)} of {len(expected)}"
          + (f"; wrong: {wrong[:10]}" if wrong else ""))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(1 if wrong or set(outcome["statuses"]) != {"SUCCESS"} else 0)


def wait_for_backfills(home: Path, wanted: int) -> dict:
    """Polls the instance until its `wanted` backfills are done and every run of theirs has
    ended; then counts the runs."""
    from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
    from dagster._core.execution.backfill import BulkActionStatus
    from dagster._core.instance.ref import InstanceRef

    ended = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        while True:
            backfills = instance.get_backfills()
            runs = instance.get_runs(RunsFilter(tags={}))
            backfill = [r for r in runs if "dagster/backfill" in r.tags]
            if (len(backfills) >= wanted and all(b.status != BulkActionStatus.REQUESTED for b in backfills)
                    and all(r.status in ended for r in backfill)):
                break
            time.sleep(5)
        others = [r for r in runs if r not in backfill]
        count = lambda rs: {s: sum(r.status.value == s for r in rs) for s in {r.status.value for r in rs}}  # noqa: E731
        return {"runs": len(backfill), "statuses": count(backfill),
                "automation": len(others), "automation_statuses": count(others)}


class PeakMemory:
    """Samples the resident memory of the run processes (the code server starts each as a
    multiprocessing child) of the instance in `home` every 0.5 s: the largest one, and the
    largest sum at one time."""

    def __init__(self, home: Path):
        import threading

        self.home = f"DAGSTER_HOME={home}".encode()
        self.largest, self.total, self._stop = 0, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.5):
            sizes = []
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    if b"spawn_main" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                        continue
                    if self.home not in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                        continue
                    status = Path(f"/proc/{pid}/status").read_text()
                except (OSError, ProcessLookupError):
                    continue
                sizes += [int(line.split()[1]) * 1024
                          for line in status.splitlines() if line.startswith("VmRSS:")]
            self.largest, self.total = max(self.largest, *sizes, 0), max(self.total, sum(sizes))

    def stop(self) -> str:
        self._stop.set()
        self._thread.join()
        return (f"peak RSS of a run {self.largest / 2**20:.0f} MB, "
                f"of the runs at once {self.total / 2**20:.0f} MB")


def check_targets(env: dict, expected: dict) -> list:
    from taxi_pipeline.io_managers.lake import LocalFolder
    from taxi_pipeline.io_managers.warehouse import WAREHOUSE_SCHEMA
    from taxi_pipeline.resources.postgres import PostgresResource
    from taxi_pipeline.resources.warehouse import DuckDBWarehouse
    from taxi_pipeline.sources import SOURCES
    from taxi_pipeline.targets import month_counts

    data = Path(env["TAXI_DATA_DIR"])
    lake = LocalFolder(data / "lake")
    warehouse = DuckDBWarehouse(database=str(data / "warehouse.duckdb"), dataset=WAREHOUSE_SCHEMA)
    postgres = PostgresResource(embedded_data_dir=str(data / "postgres"), database="ny_taxi")
    wrong = []
    for (service, month), rows in expected.items():
        counts = month_counts(service, month, lake, warehouse, postgres, SOURCES["tlc"])
        if set(counts.values()) != {rows}:
            wrong.append((service, month, counts))
    return wrong


if __name__ == "__main__":
    main()
