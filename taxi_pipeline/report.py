"""How many rows of a month are in each target: the lake, the warehouse and Postgres.

    python -m taxi_pipeline.report --month 2021-01 [--job yellow_taxi_job | --color yellow ...] [--check]

`--check` exits non-zero unless every target holds the month and all counts agree.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
from psycopg import errors, sql

from taxi_pipeline.colors import COLORS, SOURCE_MONTH_COLUMN
from taxi_pipeline.io_managers.warehouse import WAREHOUSE_SCHEMA
from taxi_pipeline.jobs import color_jobs, taxi_monthly_job
from taxi_pipeline.partitions import month_start
from taxi_pipeline.resources.environments import resources_for_environment

JOB_COLORS = {job.name: [color] for color, job in color_jobs.items()}
JOB_COLORS[taxi_monthly_job.name] = list(COLORS)
TARGETS = ("raw csv.gz", "clean parquet", "warehouse", "postgres")


def month_counts(color: str, month: str, resources: dict) -> dict[str, int | None]:
    """Rows of one color's month per target; None where the target does not hold it."""
    lake = Path(resources["lake_io_manager"].root)
    name = COLORS[color].file_name(month)
    raw = lake / "raw" / color / name
    clean = lake / "clean" / color / name.replace(".csv.gz", ".parquet")
    start = month_start(month)
    counts: dict[str, int | None] = {
        "raw csv.gz": _csv_rows(raw) if raw.exists() else None,
        "clean parquet": pq.ParquetFile(clean).metadata.num_rows if clean.exists() else None,
    }
    database = resources["warehouse_io_manager"].database
    counts["warehouse"] = None
    if Path(database).exists():
        with duckdb.connect(database, read_only=True) as conn:
            try:
                counts["warehouse"] = conn.execute(
                    f"SELECT count(*) FROM {WAREHOUSE_SCHEMA}.{color}_tripdata "
                    f"WHERE {SOURCE_MONTH_COLUMN} = ?",
                    [start],
                ).fetchone()[0]
            except duckdb.CatalogException:
                pass
    postgres = resources["postgres"].process_config_and_initialize()
    counts["postgres"] = None
    with postgres.connect() as conn:
        try:
            counts["postgres"] = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {} = %s").format(
                    sql.Identifier(f"{color}_taxi_trips"), sql.Identifier(SOURCE_MONTH_COLUMN)
                ),
                [start],
            ).fetchone()[0]
        except errors.UndefinedTable:
            pass
    return counts


def _csv_rows(path: Path) -> int:
    with gzip.open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b"")) - 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--month", required=True, help="partition key, YYYY-MM")
    parser.add_argument("--color", action="append", choices=sorted(COLORS))
    parser.add_argument("--job", choices=sorted(JOB_COLORS), help="the colors a job loads")
    parser.add_argument("--check", action="store_true", help="fail unless all targets agree")
    args = parser.parse_args(argv)
    resources = resources_for_environment()
    ok = True
    print(f"{'color':8} {'month':8} " + " ".join(f"{t:>14}" for t in TARGETS))
    for color in args.color or JOB_COLORS.get(args.job) or list(COLORS):
        counts = month_counts(color, args.month, resources)
        cells = " ".join(f"{'-' if v is None else v:>14}" for v in counts.values())
        print(f"{color:8} {args.month:8} {cells}")
        values = set(counts.values())
        ok = ok and None not in values and len(values) == 1 and 0 not in values
    if args.check and not ok:
        print("CHECK FAILED: a target is missing the month or the counts differ", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
