"""Counting a month's rows in each target: the lake's two zones, the warehouse, Postgres.

Shared by the reconciliation asset check and the `report` command, so both count the
same way, from the targets themselves rather than from recorded metadata.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import pyarrow.parquet as pq
from psycopg import errors, sql

from taxi_pipeline.io_managers.lake import LakeStorage
from taxi_pipeline.partitions import month_start
from taxi_pipeline.resources.postgres import PostgresResource
from taxi_pipeline.resources.source import count_lines
from taxi_pipeline.resources.warehouse import WarehouseResource
from taxi_pipeline.services import SERVICES, SOURCE_MONTH_COLUMN
from taxi_pipeline.sources import Source, current_source

TARGETS = ("raw file", "clean parquet", "warehouse", "postgres")


def raw_rows(path: Path) -> int:
    """Data rows of a source file: a Parquet footer's count, or a csv.gz's lines after the header."""
    if path.name.endswith(".parquet"):
        return parquet_rows(path)
    with gzip.open(path, "rb") as f:
        return count_lines(f) - 1


def parquet_rows(path: Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


def postgres_month_rows(postgres: PostgresResource, table: str, month: str) -> int | None:
    query = sql.SQL("SELECT count(*) FROM {} WHERE {} = %s").format(
        sql.Identifier(table), sql.Identifier(SOURCE_MONTH_COLUMN)
    )
    with postgres.connect() as conn:
        try:
            return conn.execute(query, [month_start(month)]).fetchone()[0]
        except errors.UndefinedTable:
            return None


def month_counts(
    service: str,
    month: str,
    lake: LakeStorage,
    warehouse: WarehouseResource,
    postgres: PostgresResource,
    source: Source | None = None,
) -> dict[str, int | None]:
    """Rows of one service's month per target; None where the target does not hold it.
    The raw file is the one `source` (default: TAXI_SOURCE) publishes."""
    spec = SERVICES[service]
    raw, clean = spec.raw_path(month, (source or current_source()).suffix), spec.clean_path(month)
    return {
        "raw file": raw_rows(lake.get(raw)) if lake.exists(raw) else None,
        "clean parquet": parquet_rows(lake.get(clean)) if lake.exists(clean) else None,
        "warehouse": warehouse.month_rows(spec.warehouse_table, month),
        "postgres": postgres_month_rows(postgres, spec.postgres_table, month),
    }


def counts_agree(counts: dict[str, int | None]) -> bool:
    """Every target holds the month, with the same number of rows, and not zero."""
    values = set(counts.values())
    return None not in values and len(values) == 1 and 0 not in values
