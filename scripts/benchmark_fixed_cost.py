"""Benchmark: the fixed cost of a month's run - what a tiny month pays whatever its rows.

Runs `dagster job execute` of one small official-layout green month (the bundled real
rows, a few hundred) several times on the local default (embedded PostgreSQL, DuckDB,
sqlite instance) and splits each run's wall time by the event log: the process start and
loading the definitions (until RUN_START), the run's set-up (until the first STEP_START),
the steps, and the end (RUN_SUCCESS, process exit), and takes the run process's peak RSS.
Also the import of the definitions alone, in a fresh interpreter, with the packages it
loaded that a month does not need (dbt, the Google clients, the geo code). Not a test: it
prints figures. To measure another checkout (an older commit), copy this script into it.

    .venv/bin/python scripts/benchmark_fixed_cost.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent
MONTH = "2022-01"
SAMPLE = REPO / "taxi_pipeline" / "sample_mirror" / "trip-data" / f"green_tripdata_{MONTH}.parquet"


def phases(home: Path, popen_at: float, exited_at: float) -> dict[str, float]:
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_runs(limit=1)[0]
        stamps: dict[DagsterEventType, list[float]] = {}
        for entry in instance.all_logs(run.run_id):
            if entry.dagster_event is not None:
                stamps.setdefault(entry.dagster_event.event_type, []).append(entry.timestamp)
    run_start = min(stamps[DagsterEventType.RUN_START])
    first_step = min(stamps[DagsterEventType.STEP_START])
    last_step = max(stamps[DagsterEventType.STEP_SUCCESS])
    return {
        "start-up: process, definitions (to RUN_START)": run_start - popen_at,
        "run set-up (to the first step)": first_step - run_start,
        "steps": last_step - first_step,
        "end: run success, exit": exited_at - last_step,
        "total": exited_at - popen_at,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="taxi_fixed_"))
    mirror = work / "mirror" / "trip-data"
    mirror.mkdir(parents=True)
    shutil.copy(SAMPLE, mirror / SAMPLE.name)
    home = work / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {**os.environ, "DAGSTER_HOME": str(home), "TAXI_DATA_DIR": str(work / "data"),
           "TAXI_SOURCE": "tlc", "TAXI_TLC_URL": f"file://{work / 'mirror'}", "TAXI_PIPELINE_ENV": "local"}
    env.pop("TAXI_PG_HOST", None)
    started = time.monotonic()
    heavy = ("dbt", "dagster_dbt", "google", "dagster_gcp", "shapely", "pyproj")
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, taxi_pipeline.definitions as d; d.defs(); "
         f"print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r}))))"],
        cwd=REPO, env=env, check=True, capture_output=True, text=True).stdout.split()
    imports = time.monotonic() - started
    command = [str(BIN / "dagster"), "job", "execute", "-m", "taxi_pipeline.definitions", "-j",
               "green_taxi_job", "--tags", json.dumps({"dagster/partition": MONTH})]
    results, peaks = [], []
    for i in range(args.runs + 1):  # the first run starts the embedded server: not counted
        popen_at = time.time()
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        exited_at = time.time()
        if process.returncode:
            raise SystemExit(f"the run failed ({process.returncode}): {' '.join(command)}")
        if i:
            results.append(phases(home, popen_at, exited_at))
            peaks.append(usage.ru_maxrss / 1024)
    print(f"\n## Fixed cost of a month's run ({os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}), "
          f"green {MONTH}, median of {args.runs} runs\n")
    print(f"importing and building the definitions alone: {imports:.2f} s; "
          f"of the packages a month does not need, it loaded: {', '.join(loaded) or 'none'}\n")
    print("| phase | seconds |\n|---|---:|")
    for name in results[0]:
        print(f"| {name} | {statistics.median(r[name] for r in results):.2f} |")
    print(f"| peak RSS of the run's process (MB) | {statistics.median(peaks):.0f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
