"""Benchmark: the project's Postgres load against the seeds' pandas `to_sql` way.

Generates a full-size yellow month (1,369,765 rows, the real 2021-01 count) by
resampling the real rows of the bundled 2021-01 sample, then loads it into Postgres
(a) the project's way: csv.gz -> canonical parquet (streamed) -> COPY in one transaction
(b) the seeds' way: `pandas.read_csv(chunksize=100000)` + `to_datetime` + `to_sql`
each in its own process, and prints seconds, the ratio and each process's peak RSS
(which includes the imports: about 175 MB for the project's, 120 MB for pandas +
SQLAlchemy).

    .venv/bin/python scripts/benchmark_postgres.py [--rows N]

Postgres: the TAXI_PG_* variables when TAXI_PG_HOST is set, else a throwaway embedded
server in a temporary folder. Not a test: it asserts nothing, it prints figures.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SAMPLE = REPO / "taxi_pipeline" / "sample_mirror" / "yellow" / "yellow_tripdata_2021-01.csv.gz"
FULL_MONTH_ROWS = 1_369_765
MONTH = "2021-01"


def generate_month(rows: int, dest: Path) -> None:
    """Resample the real rows (seeded) into a month-sized csv.gz, as the release ships it.

    The month is a run of sample-sized blocks, each a random draw of the sample's rows
    kept in the sample's order: release files run roughly in pickup order, and that
    order is what the pickup index sees on a real load (`to_sql` builds no index).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    real = pacsv.read_csv(pa.input_stream(str(SAMPLE), compression="gzip"),
                          convert_options=pacsv.ConvertOptions(strings_can_be_null=True,
                                                               column_types={"VendorID": pa.string()}))
    picks = np.random.default_rng(2021).integers(0, real.num_rows, rows)
    for start in range(0, rows, real.num_rows):
        picks[start : start + real.num_rows].sort()
    # Write the original text values back out: read everything as strings.
    text = pacsv.read_csv(
        pa.input_stream(str(SAMPLE), compression="gzip"),
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in real.column_names}),
    )
    with pa.CompressedOutputStream(str(dest), "gzip") as out:
        pacsv.write_csv(text.take(picks), out, pacsv.WriteOptions(quoting_style="none"))


def postgres_resource(tmp: Path):
    from taxi_pipeline.resources.environments import postgres_resource as configured

    return configured(tmp / "postgres").process_config_and_initialize()


def run_project(csv_gz: Path, tmp: Path) -> dict:
    from taxi_pipeline.assets.trips import stream_parquet
    from taxi_pipeline.cleaning import write_clean_parquet
    from taxi_pipeline.colors import COLORS
    from taxi_pipeline.io_managers.postgres import replace_rows
    from taxi_pipeline.partitions import month_start

    color = COLORS["yellow"]
    parquet = tmp / "month.parquet"
    started = time.monotonic()
    write_clean_parquet(csv_gz, parquet, color, month_start(MONTH), csv_gz.name)
    cleaned = time.monotonic()
    with postgres_resource(tmp).connect() as conn:
        conn.execute("DROP TABLE IF EXISTS yellow_taxi_trips_benchmark")
        conn.commit()
        stats = replace_rows(conn, "yellow_taxi_trips_benchmark", stream_parquet(parquet),
                             month_start(MONTH), color.pickup_column)
    return {"clean_s": cleaned - started, "load_s": time.monotonic() - cleaned, "rows": stats.after}


def run_seeds(csv_gz: Path, tmp: Path) -> dict:
    """The course's ingest_data.py: chunks of 100,000 rows through pandas `to_sql`."""
    import pandas as pd
    import psycopg2
    from sqlalchemy import create_engine

    conninfo = postgres_resource(tmp)._conninfo(postgres_resource(tmp).database)
    engine = create_engine("postgresql+psycopg2://", creator=lambda: psycopg2.connect(conninfo))
    started = time.monotonic()
    rows = 0
    for i, df in enumerate(pd.read_csv(csv_gz, iterator=True, chunksize=100000)):
        df.tpep_pickup_datetime = pd.to_datetime(df.tpep_pickup_datetime)
        df.tpep_dropoff_datetime = pd.to_datetime(df.tpep_dropoff_datetime)
        if i == 0:
            df.head(n=0).to_sql(name="yellow_taxi_data_seeds", con=engine, if_exists="replace")
        df.to_sql(name="yellow_taxi_data_seeds", con=engine, if_exists="append")
        rows += len(df)
    return {"load_s": time.monotonic() - started, "rows": rows}


def child(way: str, csv_gz: str, tmp: str) -> None:
    result = {"project": run_project, "seeds": run_seeds}[way](Path(csv_gz), Path(tmp))
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(way: str, csv_gz: Path, tmp: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", way, str(csv_gz), str(tmp)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=FULL_MONTH_ROWS)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(*args.child)

    with tempfile.TemporaryDirectory(prefix="taxi_benchmark_") as name:
        tmp = Path(name)
        csv_gz = tmp / f"yellow_tripdata_{MONTH}.csv.gz"
        print(f"Generating {args.rows:,} rows by resampling {SAMPLE.name} ...", flush=True)
        generate_month(args.rows, csv_gz)
        print(f"  {csv_gz.stat().st_size / 2**20:.1f} MiB gzipped", flush=True)
        # Start (or reach) the server once, outside both timings; this process's handle
        # keeps an embedded server up until both ways have run.
        with postgres_resource(tmp).connect() as conn:
            print(f"Postgres: {conn.execute('SELECT version()').fetchone()[0].split(' on ')[0]}")
        # A fresh cluster first has to create (zero-fill) its WAL segments; a running
        # server recycles them. One untimed load warms it, so neither way pays for that.
        print("warm-up: one untimed project load ...", flush=True)
        cold = measure("project", csv_gz, tmp)
        print(f"  (first load into the fresh cluster: COPY {cold['load_s']:.1f} s)", flush=True)
        print("(a) project: streaming clean to parquet, then COPY ...", flush=True)
        project = measure("project", csv_gz, tmp)
        print("(b) seeds: pandas read_csv + to_sql(chunks of 100,000) ...", flush=True)
        seeds = measure("seeds", csv_gz, tmp)

    total = project["clean_s"] + project["load_s"]
    print()
    print(f"{'way':48} {'seconds':>9} {'peak RSS MB':>12} {'rows':>10}")
    print(f"{'(a) project: csv.gz -> parquet (clean)':48} {project['clean_s']:9.1f}")
    print(f"{'(a) project: parquet -> COPY (one transaction)':48} {project['load_s']:9.1f}")
    print(f"{'(a) project: total':48} {total:9.1f} {project['peak_rss_mb']:12.0f} {project['rows']:>10,}")
    print(f"{'(b) seeds: read_csv + to_sql':48} {seeds['load_s']:9.1f} {seeds['peak_rss_mb']:12.0f} {seeds['rows']:>10,}")
    print()
    print(f"speed-up, csv.gz to table (b / a total): {seeds['load_s'] / total:.1f}x")
    print(f"speed-up, the Postgres load alone (b / a COPY): {seeds['load_s'] / project['load_s']:.1f}x")
    print(f"peak RSS ratio (a / b): {project['peak_rss_mb'] / seeds['peak_rss_mb']:.2f}")


if __name__ == "__main__":
    main()
