"""A 2009 month against a 2011 month of the same rows: what locating trips costs a run.

Makes two official-layout yellow files of N rows (default 14M, a real 2009 month's size)
from the bundled legacy sample: a 2009 file (coordinates, zones located in the pass) and
the same trips as a 2011 file (zone IDs, no coordinates), then runs each month's whole job
(`dagster job execute`, embedded default, a fresh data folder) and prints wall time and the
run's peak RSS. The points are the sample's (placed inside the trips' real zones, 1 in 11
without a coordinate, 1 in 17 in the ocean), repeated.

    .venv/bin/python scripts/benchmark_locate.py [--rows 14000000] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

REPO = Path(__file__).resolve().parents[1]
MIRROR = REPO / "taxi_pipeline" / "sample_mirror"
LEGACY_2010 = ["vendor_id", "pickup_datetime", "dropoff_datetime", "passenger_count", "trip_distance",
               "rate_code", "store_and_fwd_flag", "payment_type", "fare_amount", "surcharge", "mta_tax",
               "tip_amount", "tolls_amount", "total_amount"]


def make_months(root: Path, rows: int) -> None:
    """trip-data/yellow_tripdata_2009-01.parquet and _2011-01 (same trips) under `root`."""
    sys.path.insert(0, str(REPO))
    from taxi_pipeline.services import SERVICES
    from taxi_pipeline_tests.layouts import encode, layout_of, official_sample, zone_locator

    service = SERVICES["yellow"]
    (root / "trip-data").mkdir(parents=True, exist_ok=True)
    (root / "misc").mkdir(exist_ok=True)
    for name in ("taxi_zone_lookup.csv", "taxi_zones.zip"):
        shutil.copyfile(MIRROR / "misc" / name, root / "misc" / name)
    for month in ("2009-01", "2011-01"):
        dest = root / "trip-data" / service.file_name(month, ".parquet")
        if dest.exists():
            continue
        canonical = official_sample(service, month)
        if month == "2011-01":  # the zones the 2009 pass locates: what a 2011 file gives
            from taxi_pipeline.conform import located_zones

            for zone, (lon, lat) in service.located_zones.items():
                located = located_zones(zone_locator(), canonical.column(lon).combine_chunks(),
                                        canonical.column(lat).combine_chunks())
                canonical = canonical.set_column(canonical.column_names.index(zone), zone, located)
        sample = encode(canonical, service, layout_of("yellow", month))
        with pq.ParquetWriter(dest, sample.schema, compression="snappy") as writer:
            written = 0
            while written < rows:
                part = sample.slice(0, min(sample.num_rows, rows - written))
                writer.write_table(part, row_group_size=1 << 20)
                written += part.num_rows
        print(f"made {dest.name}: {rows} rows, {dest.stat().st_size / 2**20:.0f} MiB", flush=True)


PEAK_RSS = ("import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)")
"""Runs the command and prints its peak RSS (KiB) as the last line of stderr."""


def run_month(mirror: Path, month: str) -> dict:
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "TAXI_SOURCE": "tlc", "TAXI_TLC_URL": f"file://{mirror}",
               "TAXI_DATA_DIR": data, "DAGSTER_HOME": data}
        env.pop("TAXI_PG_HOST", None)
        dagster = [str(REPO / ".venv/bin/dagster"), "job", "execute", "-m", "taxi_pipeline.definitions"]
        subprocess.run([*dagster, "-j", "taxi_zones_job"], env=env, check=True, capture_output=True)
        started = time.monotonic()
        command = [*dagster, "-j", "yellow_taxi_job", "--tags", json.dumps({"dagster/partition": month})]
        run = subprocess.run([sys.executable, "-c", PEAK_RSS, *command], env=env,
                             capture_output=True, text=True)
        seconds = time.monotonic() - started
        if run.returncode:
            print(run.stdout[-3000:], run.stderr[-3000:])
            raise SystemExit(f"{month}: the run failed")
        lines = run.stderr.splitlines()
        located = [line for line in lines if "locating trips" in line]
        return {"month": month, "seconds": round(seconds, 1), "peak_rss_mb": round(int(lines[-1]) / 1024),
                "grid": located[0].split("grid built in ")[-1].rstrip(")") if located else "-"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=14_000_000)
    parser.add_argument("--cache", type=Path, help="keep the generated months here")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    mirror = args.cache or Path(tempfile.mkdtemp())
    make_months(mirror, args.rows)
    results = []
    for _ in range(args.repeat):  # alternating, so drift hits both
        for month in ("2011-01", "2009-01"):
            results.append(run_month(mirror, month))
            print(results[-1], flush=True)
    best = {m: min(r["seconds"] for r in results if r["month"] == m) for m in ("2009-01", "2011-01")}
    print(f"\n{args.rows} rows: 2009 (located) {best['2009-01']} s, 2011 (zone IDs) {best['2011-01']} s: "
          f"{best['2009-01'] / best['2011-01']:.2f}x (best of {args.repeat})")


if __name__ == "__main__":
    main()
