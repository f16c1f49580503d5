"""Benchmark: the dbt models' incremental month against a full build (not a test: figures).

Builds a DuckDB warehouse of MONTHS months of yellow and green (ROWS rows each, resampled
from the bundled real rows, each month's pickups moved into it) plus the zone lookup,
then times, through the same dbt project and `dbt` resource the assets use:
  1. a full build of fact_trips (its staging views and dim_zones) over every month,
  2. one more month loaded upstream, then its incremental run (the window of one month),
  3. a re-run of an existing month in the middle.
Prints the seconds, the ratio of one month to the full build, and fact_trips' row counts
(which show that the incremental runs touched only their month).

    .venv/bin/python scripts/benchmark_models.py                      # 12 months x 1,000,000 rows
    .venv/bin/python scripts/benchmark_models.py --months 12 --rows 200000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

import duckdb

from taxi_pipeline.cleaning import write_clean_parquet
from taxi_pipeline.resources.dbt import DBT_EXECUTABLE, DBT_PROJECT_DIR, TaxiDbtResource
from taxi_pipeline.services import SERVICES

REPO = Path(__file__).resolve().parents[1]
MIRROR = REPO / "taxi_pipeline" / "sample_mirror"
SAMPLES = {"yellow": "yellow/yellow_tripdata_2021-01.csv.gz", "green": "green/green_tripdata_2020-01.csv.gz"}
PICKUP = {"yellow": "tpep", "green": "lpep"}
SCHEMA = "trips_data_all"


def month(index: int) -> datetime:
    return datetime(2022 + index // 12, index % 12 + 1, 1)


def add_month(con, folder: Path, service: str, index: int, rows: int) -> None:
    """`rows` trips of `service` in month `index`: the real sample repeated, moved into it."""
    sample = folder / f"{service}.parquet"
    p, start = PICKUP[service], month(index)
    con.execute(f"""
        insert into {SCHEMA}.{service}_tripdata by name
        select * exclude (n, range) replace (
            timestamp '{start:%Y-%m-%d}' + (({p}_pickup_datetime - date_trunc('month', {p}_pickup_datetime))
                + to_seconds(n % 2000000)) as {p}_pickup_datetime,
            timestamp '{start:%Y-%m-%d}' + (({p}_dropoff_datetime - date_trunc('month', {p}_pickup_datetime))
                + to_seconds(n % 2000000)) as {p}_dropoff_datetime,
            timestamp '{start:%Y-%m-%d}' as source_month
        )
        from (select *, row_number() over () as n from read_parquet('{sample}'), range(
            cast(ceil({rows} / (select count(*) from read_parquet('{sample}'))) as bigint)))
        limit {rows}
    """)


def build_warehouse(path: Path, folder: Path, months: int, rows: int) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(f"create schema {SCHEMA}")
        for service, sample in SAMPLES.items():
            parquet = folder / f"{service}.parquet"
            write_clean_parquet(MIRROR / sample, parquet, SERVICES[service], datetime(2020, 1, 1), sample)
            con.execute(
                f"create table {SCHEMA}.{service}_tripdata as select * from read_parquet('{parquet}') limit 0"
            )
            for index in range(months):
                add_month(con, folder, service, index, rows)
        con.execute(f"""create table {SCHEMA}.taxi_zone_lookup as
            select * from read_csv('{MIRROR / "misc" / "taxi_zone_lookup.csv"}', all_varchar = true,
                                   columns = {{'LocationID': 'INTEGER', 'Borough': 'VARCHAR',
                                               'Zone': 'VARCHAR', 'service_zone': 'VARCHAR'}})""")


def dbt_build(resource: TaxiDbtResource, window: tuple[int, int] | None) -> float:
    """`dbt build` of fact_trips and what it reads, as the asset runs it; its seconds."""
    args = ["build", "--select", "stg_yellow_tripdata", "stg_green_tripdata", "dim_zones", "fact_trips",
            "--indirect-selection", "buildable"]
    if window:
        args += ["--vars", json.dumps({"start_month": f"{month(window[0]):%Y-%m-%d}",
                                        "end_month": f"{month(window[1]):%Y-%m-%d}"})]
    command = [DBT_EXECUTABLE, *args, "--project-dir", str(DBT_PROJECT_DIR),
               "--profiles-dir", str(DBT_PROJECT_DIR), "--target", "duckdb", "--quiet"]
    with resource.profile_environment() as variables:  # the profile exactly as the assets' runs get it
        started = time.monotonic()
        env = {**os.environ, **variables, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        subprocess.run(command, env=env, check=True)
    return time.monotonic() - started


def fact_months(path: Path) -> dict[str, int]:
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute("select strftime(source_month, '%Y-%m'), count(*) from taxi_models.fact_trips "
                           "group by 1 order by 1").fetchall()
    return dict(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per service and month")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = folder / "warehouse.duckdb"
        started = time.monotonic()
        build_warehouse(path, folder, args.months, args.rows)
        print(f"warehouse: {args.months} months x {args.rows:,} rows of yellow and green "
              f"in {time.monotonic() - started:.1f} s")
        resource = TaxiDbtResource(database=str(path), source_database="warehouse", source_schema=SCHEMA)
        full = dbt_build(resource, None)
        before = fact_months(path)
        with duckdb.connect(str(path)) as con:
            for service in SAMPLES:
                add_month(con, folder, service, args.months, args.rows)
        one = dbt_build(resource, (args.months, args.months + 1))
        after = fact_months(path)
        middle = args.months // 2
        again = dbt_build(resource, (middle, middle + 1))
        final = fact_months(path)
    unchanged = all(after[m] == before[m] for m in before)
    print("| build | months built | seconds | x full build |")
    print("|---|---:|---:|---:|")
    print(f"| full build (fact_trips, views, dim_zones) | {args.months} | {full:.1f} | 1.00 |")
    print(f"| one more month (incremental) | 1 | {one:.1f} | {one / full:.2f} |")
    print(f"| re-run of an existing month | 1 | {again:.1f} | {again / full:.2f} |")
    print(f"fact_trips: {sum(before.values()):,} rows in {len(before)} months, then "
          f"{sum(after.values()):,} in {len(after)} (earlier months unchanged: {unchanged}); "
          f"after the re-run {sum(final.values()):,} (same: {final == after})")


if __name__ == "__main__":
    main()
