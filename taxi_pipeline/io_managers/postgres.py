"""Postgres tables loaded with COPY, replacing exactly one month in one transaction.

A partition is identified by the `source_month` lineage column (the file it came in),
not by pickup time: real files carry pickups from the previous month. In one
transaction the IO manager deletes that month's rows and COPYs the new ones, so readers
see the old month or the new one, never a mix, and a failed load leaves the old rows.
Rows stream as Arrow record batches written as CSV into COPY: no row-by-row Python.
"""

from __future__ import annotations

import io
import time

import pyarrow as pa
import pyarrow.csv as pacsv
from dagster import ConfigurableIOManager, InputContext, OutputContext
from psycopg import errors, sql

from taxi_pipeline.colors import SOURCE_MONTH_COLUMN
from taxi_pipeline.partitions import month_start
from taxi_pipeline.resources.postgres import PostgresResource

PG_SCHEMA = "public"
PICKUP_COLUMN_KEY = "pickup_column"

_PG_TYPES = {
    pa.int16(): "smallint",
    pa.int32(): "integer",
    pa.int64(): "bigint",
    pa.float64(): "double precision",
    pa.string(): "text",
}


def pg_type(type_: pa.DataType) -> str:
    if pa.types.is_timestamp(type_):
        return "timestamp"
    return _PG_TYPES[type_]


class PostgresLoadError(Exception):
    """COPY rejected a row; the message names the table, month, row and column."""


class PostgresTableIOManager(ConfigurableIOManager):
    """Stores a `pyarrow.RecordBatchReader` as table `public.<asset name>`."""

    postgres: PostgresResource

    def handle_output(self, context: OutputContext, obj: pa.RecordBatchReader) -> None:
        table = context.asset_key.path[-1]
        month = context.asset_partition_key if context.has_asset_partitions else None
        pickup = context.definition_metadata.get(PICKUP_COLUMN_KEY)
        target = sql.Identifier(PG_SCHEMA, table)
        started = time.monotonic()
        context.log.info(f"Loading {table} ({month or 'whole table'}) into {self.postgres.describe()}")
        with self.postgres.connect() as conn:
            with conn.transaction():
                # Serialize concurrent first loads of a table: CREATE IF NOT EXISTS races.
                conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [table])
                conn.execute(create_table_sql(target, obj.schema))
                if pickup:
                    conn.execute(_index_sql(table, target, pickup))
                if month:
                    conn.execute(_index_sql(table, target, SOURCE_MONTH_COLUMN))
            with conn.transaction():
                if month:
                    where = sql.SQL("WHERE {} = %s").format(sql.Identifier(SOURCE_MONTH_COLUMN))
                    params = [month_start(month)]
                else:
                    conn.execute(sql.SQL("LOCK TABLE {}").format(target))
                    where, params = sql.SQL(""), []
                before = _count(conn, target, where, params)
                conn.execute(sql.SQL("DELETE FROM {} ").format(target) + where, params)
                loaded = _copy(conn, target, obj, table, month)
                after = _count(conn, target, where, params)
        seconds = time.monotonic() - started
        context.log.info(f"{table} {month or ''}: {loaded} rows in {seconds:.1f} s")
        context.add_output_metadata(
            {
                "table": f"{PG_SCHEMA}.{table}",
                "rows_loaded": loaded,
                "rows_before": before,
                "rows_after": after,
                "seconds": round(seconds, 3),
                "rows_per_second": round(loaded / seconds) if seconds else loaded,
            }
        )

    def load_input(self, context: InputContext):
        raise NotImplementedError("Postgres tables are final targets; read them with SQL.")


def create_table_sql(target: sql.Identifier, schema: pa.Schema) -> sql.Composed:
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}{}").format(
            sql.Identifier(f.name),
            sql.SQL(pg_type(f.type)),
            sql.SQL("" if f.nullable else " NOT NULL"),
        )
        for f in schema
    )
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(target, columns)


def _index_sql(table: str, target: sql.Identifier, column: str) -> sql.Composed:
    return sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
        sql.Identifier(f"{table}_{column}_idx"), target, sql.Identifier(column)
    )


def _count(conn, target, where, params) -> int:
    return conn.execute(sql.SQL("SELECT count(*) FROM {} ").format(target) + where, params).fetchone()[0]


def _copy(conn, target, reader: pa.RecordBatchReader, table: str, month: str | None) -> int:
    columns = sql.SQL(", ").join(sql.Identifier(f.name) for f in reader.schema)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT csv)").format(target, columns)
    options = pacsv.WriteOptions(include_header=False)
    loaded = 0
    try:
        with conn.cursor().copy(statement) as copy:
            for batch in reader:
                buffer = io.BytesIO()
                pacsv.write_csv(batch, buffer, options)
                copy.write(buffer.getbuffer())
                loaded += batch.num_rows
    except errors.DataError as err:
        where = f"{table}, month {month}" if month else table
        raise PostgresLoadError(
            f"COPY into {where} failed: {err.diag.message_primary} ({err.diag.context}); "
            "the table keeps its previous rows."
        ) from None
    return loaded
