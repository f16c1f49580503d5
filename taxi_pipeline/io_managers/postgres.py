"""Postgres tables loaded with COPY, replacing exactly one month in one transaction.

A trip table is partitioned by month (`PARTITION BY RANGE (source_month)`), one plain
partition per month (`yellow_taxi_trips_2019_01`), and no indexes: a month's DELETE and
count read its own partition only, and the COPY feeds no index. BRIN indexes on the
pickup column and `source_month` of the earlier one-table layout cost the server 40% more
CPU per row than the COPY itself (1.7 s on a 4M-row month, measured 2026-12-03 on Debian's
PostgreSQL 15), on a machine where a month's load is bound by CPU. Queries keep reading
the table (the parent) as one; a filter on `source_month` reads only that month.

A month's first load creates its partition as a table of its own in the load's
transaction (with a CHECK of the month, so attaching it needs no scan), COPYs with FREEZE
(no hint-bit writes on the first read afterwards) and ATTACHes it - a lock that blocks
neither readers nor other months' loads, only another ATTACH until commit. A re-load
DELETEs the partition's rows and COPYs in the same transaction. Readers see the old
month or the new one, never a mix; a failed or killed load rolls back to the old month
(and a first one leaves no partition). Tables made by earlier versions (one plain table
with BRIN indexes) keep loading that way; the zone lookup is one plain table.

A partition is identified by the `source_month` lineage column (the file it came in),
not by pickup time: real files carry pickups from the previous month. Rows stream as
Arrow record batches encoded by pgpq into COPY's binary format: no row-by-row Python,
no `to_sql`, and no text parsing on the server (binary COPY of a 1.37M-row month
measured 2x faster than CSV COPY here, 2026-11; scripts/benchmark_floor.py measures the
binary COPY of a month against this load today).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from dagster import ConfigurableIOManager, InputContext, MetadataValue, OutputContext
from pgpq import ArrowToPostgresBinaryEncoder
from psycopg import errors, sql
from pydantic import Field

from taxi_pipeline.conform import file_position
from taxi_pipeline.io_managers.evolution import TableInTheWay, columns_to_add
from taxi_pipeline.io_managers.postgres_views import ensure_view, relation_columns
from taxi_pipeline.io_managers.streaming import MonthLoad
from taxi_pipeline.partitions import month_start, month_window
from taxi_pipeline.policies import permanent
from taxi_pipeline.resources.postgres import PostgresConfigError, PostgresResource
from taxi_pipeline.services import SOURCE_MONTH_COLUMN

PG_SCHEMA = "public"
PICKUP_COLUMN_KEY = "pickup_column"
SOURCE_FILE_KEY = "source_file"
"""Asset metadata: how to name the source file (`{month}` is the partition key), so load
errors can name its line or row."""
VIEW_KEY = "postgres_view"
"""Asset metadata: the name of the table's lower-case view in the views schema."""
DEFAULT_VIEWS_SCHEMA = "trips_data_all"

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
    """COPY rejected a row; the message names the file, partition, line (CSV) or row (Parquet) and column."""


@dataclass(frozen=True)
class LoadStats:
    loaded: int
    before: int
    seconds: float
    in_month: int | None = None
    """The month's rows as the load's own transaction saw them before committing."""


def replace_rows(
    conn: psycopg.Connection,
    table: str,
    reader: pa.RecordBatchReader,
    month: datetime | None = None,
    pickup_column: str | None = None,
    source_label: str | None = None,
    view: tuple[str, str] | None = None,
) -> LoadStats:
    """Replace the rows of `month` (or the whole table when None) with `reader`'s rows.

    `source_label` names the file the rows came from, in order, so a
    rejected row is reported as that file counts it (CSV line or Parquet row).
    `view` (schema, name): the table's lower-case view, created or updated with the table.
    """
    started = time.monotonic()
    with conn.transaction():
        prepare_table(conn, table, reader.schema, month, pickup_column, view)
        loaded, before, _ = _replace_open(conn, table, reader.schema, reader, month, source_label)
    return LoadStats(loaded, before, time.monotonic() - started)


def prepare_table(
    conn: psycopg.Connection,
    table: str,
    schema: pa.Schema,
    month: datetime | None,
    pickup_column: str | None,
    view: tuple[str, str] | None,
) -> None:
    """The table (new columns added), its indexes and view, in the load's own transaction:
    a first load that fails leaves no table behind. DDL runs only when something is
    missing, under an advisory lock held to the end of the transaction (concurrent first
    loads of a table: CREATE ... IF NOT EXISTS races); a load into a table already in shape
    takes no lock here, so loads of other months run side by side."""
    target = sql.Identifier(PG_SCHEMA, table)
    existing = relation_columns(conn, PG_SCHEMA, table)
    by_month = month is not None and (not existing or is_partitioned(conn, table))
    # An earlier version's one plain table keeps its BRIN indexes (its DELETE needs them).
    indexes = [] if by_month else [
        column for column in filter(None, [pickup_column, month and SOURCE_MONTH_COLUMN])
        if conn.execute("SELECT to_regclass(%s)", [f"{PG_SCHEMA}.{table}_{column}_idx"]).fetchone()[0] is None
    ]
    if not existing or indexes or set(schema.names) - set(existing):
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [table])
        ensure_table(conn, table, target, schema, by_month)
        for column in indexes:
            conn.execute(_index_sql(table, target, column))
    if view:
        ensure_view(conn, PG_SCHEMA, table, *view)


def _replace_open(
    conn: psycopg.Connection,
    table: str,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch],
    month: datetime | None,
    source_label: str | None,
) -> tuple[int, int, int | None]:
    """DELETE the month and COPY `batches` in the connection's open transaction: (loaded,
    before, the month's rows in the transaction if known without a count)."""
    target = sql.Identifier(PG_SCHEMA, table)
    label = source_label or table
    if month is not None:
        where = sql.SQL(" WHERE {} = %s").format(sql.Identifier(SOURCE_MONTH_COLUMN))
        params = [month]
        # One load of a month at a time: a second one waits, then replaces the first's rows.
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtext(%s), %s::int)", [table, month.year * 100 + month.month]
        )
        if is_partitioned(conn, table):
            # The partition holds what this COPY put in it (emptied or made in this
            # transaction): the server's count of the COPY is the month's, without a scan
            # of millions of rows (3 s at the end of a 20M-row month's load).
            loaded, before = _replace_partition(conn, table, schema, batches, month, label)
            return loaded, before, loaded
    else:
        conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(target))
        where, params = sql.SQL(""), []
    # The DELETE's and COPY's own row counts: no extra scans of a month of millions of rows.
    before = conn.execute(sql.SQL("DELETE FROM {}").format(target) + where, params).rowcount
    loaded = _copy(conn, target, schema, batches, label)
    return loaded, before, None


ATTACH_LOCK_TIMEOUT = "60s"
"""How long a month's ATTACH waits for another month's (which holds it until that load
commits) before the load fails as transient and is retried: never a wait without end."""


def month_partition(table: str, month: datetime) -> str:
    return f"{table}_{month:%Y_%m}"


def is_partitioned(conn: psycopg.Connection, table: str) -> bool:
    return conn.execute(
        "SELECT c.relkind = 'p' FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = %s", [PG_SCHEMA, table]).fetchone() == (True,)


def _replace_partition(
    conn: psycopg.Connection, table: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch],
    month: datetime, label: str,
) -> tuple[int, int]:
    """The month's partition replaced in the open transaction: its rows deleted and COPYed,
    or, for a month's first load, a new table COPYed with FREEZE and attached."""
    name = month_partition(table, month)
    partition, parent = sql.Identifier(PG_SCHEMA, name), sql.Identifier(PG_SCHEMA, table)
    found = conn.execute(
        "SELECT i.inhparent = to_regclass(%s) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_inherits i ON i.inhrelid = c.oid WHERE n.nspname = %s AND c.relname = %s",
        [f"{PG_SCHEMA}.{table}", PG_SCHEMA, name]).fetchone()
    if found == (True,):
        before = conn.execute(sql.SQL("DELETE FROM {}").format(partition)).rowcount
        return _copy(conn, partition, schema, batches, label), before
    if found is not None:
        raise TableInTheWay(
            f"Postgres relation {PG_SCHEMA}.{name} exists but is not the {month:%Y-%m} partition of "
            f"{PG_SCHEMA}.{table}. Rename or drop it.")
    bounds = month_window(f"{month:%Y-%m}")
    column = sql.Identifier(SOURCE_MONTH_COLUMN)
    conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS, CHECK ({} >= {} AND {} < {}))").format(
        partition, parent, column, sql.Literal(bounds[0]), column, sql.Literal(bounds[1])))
    loaded = _copy(conn, partition, schema, batches, label, freeze=True)
    conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(sql.Literal(ATTACH_LOCK_TIMEOUT)))
    conn.execute(sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM ({}) TO ({})").format(
        parent, partition, sql.Literal(bounds[0]), sql.Literal(bounds[1])))
    conn.execute("RESET lock_timeout")
    return loaded, 0


class PostgresMonthLoad(MonthLoad):
    """A month streamed into `public.<table>` by COPY on its own connection, its
    transaction left open until the IO manager commits it (`streaming.py`)."""

    target = "Postgres"
    permanent_errors = (PostgresLoadError, TableInTheWay, PostgresConfigError)

    def __init__(self, postgres: PostgresResource, table: str, schema: pa.Schema, month: datetime,
                 pickup_column: str | None, source_label: str, view: tuple[str, str] | None):
        super().__init__()
        self.postgres, self.table, self.schema, self.month = postgres, table, schema, month
        self.pickup_column, self.source_label, self.view = pickup_column, source_label, view
        self._stack = contextlib.ExitStack()
        self._conn: psycopg.Connection | None = None

    def _load(self, batches: Iterator[pa.RecordBatch]) -> LoadStats:
        started = time.monotonic()
        self._conn = conn = self._stack.enter_context(self.postgres.connect())
        prepare_table(conn, self.table, self.schema, self.month, self.pickup_column, self.view)
        loaded, before, in_month = _replace_open(
            conn, self.table, self.schema, batches, self.month, self.source_label)
        if in_month is None:  # the month as this transaction sees it, in a table of many months
            (in_month,) = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE {} = %s").format(
                    sql.Identifier(PG_SCHEMA, self.table), sql.Identifier(SOURCE_MONTH_COLUMN)),
                [self.month],
            ).fetchone()
        return LoadStats(loaded, before, time.monotonic() - started, in_month)

    def _commit(self) -> None:
        self._conn.commit()
        self._stack.close()

    def _rollback(self) -> None:
        try:
            if self._conn is not None and not self._conn.closed:
                self._conn.rollback()
        except psycopg.Error:
            pass  # a broken connection: the server rolled back when it dropped
        finally:
            if self._conn is not None:
                self._conn.close()  # before the connection's `with` would commit an empty transaction
            self._stack.close()

    def _interrupt(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.cancel_safe()


class PostgresTableIOManager(ConfigurableIOManager):
    """Stores a `pyarrow.RecordBatchReader` as table `public.<asset name>`, and keeps the
    lower-case view the asset's `postgres_view` metadata names in `views_schema`."""

    postgres: PostgresResource
    views_schema: str | None = Field(
        default=DEFAULT_VIEWS_SCHEMA, description="Schema of the lower-case views; empty: no views."
    )

    def open_month(self, table: str, schema: pa.Schema, month: str, pickup_column: str | None,
                   source_label: str, view_name: str | None) -> PostgresMonthLoad:
        """Start streaming a month into `table`; `handle_output` commits it (`streaming.py`)."""
        return PostgresMonthLoad(self.postgres, table, schema, month_start(month), pickup_column,
                                 source_label, self._view(view_name)).start()

    def handle_output(self, context: OutputContext, obj: pa.RecordBatchReader | PostgresMonthLoad) -> None:
        table = context.asset_key.path[-1]
        partition = context.asset_partition_key if context.has_asset_partitions else None
        metadata = context.definition_metadata
        view = self._view(metadata.get(VIEW_KEY))
        if isinstance(obj, PostgresMonthLoad):
            if (obj.table, obj.month) != (table, partition and month_start(partition)):
                raise ValueError(f"A load of {obj.table} {obj.month} handed over as {table} {partition}")
            stats = obj.commit()
            context.log.info(f"Committed {obj.source_label} in {table} in {self.postgres.describe()}")
            context.add_output_metadata({"timeline": MetadataValue.json(obj.timeline)})
        else:
            label = metadata.get(SOURCE_FILE_KEY, table).format(month=partition)
            context.log.info(f"Loading {label} into {table} in {self.postgres.describe()}")
            with self._connect() as conn:
                try:
                    stats = replace_rows(
                        conn,
                        table,
                        obj,
                        month=month_start(partition) if partition else None,
                        pickup_column=metadata.get(PICKUP_COLUMN_KEY),
                        source_label=label,
                        view=view,
                    )
                except (PostgresLoadError, TableInTheWay) as err:
                    raise permanent(err) from None  # bad data, a foreign table: retrying cannot help
        rate = round(stats.loaded / stats.seconds) if stats.seconds else stats.loaded
        context.log.info(f"{table}: {stats.loaded} rows in {stats.seconds:.1f} s ({rate} rows/s)")
        context.add_output_metadata(
            {
                "table": f"{PG_SCHEMA}.{table}",
                "rows_loaded": stats.loaded,
                "rows_before": stats.before,
                "seconds": round(stats.seconds, 3),
                "rows_per_second": rate,
                **({"view": ".".join(view)} if view else {}),
            }
        )

    def _view(self, name: str | None) -> tuple[str, str] | None:
        return (self.views_schema, name) if self.views_schema and name else None

    @contextlib.contextmanager
    def _connect(self):
        try:
            with self.postgres.connect() as conn:
                yield conn
        except PostgresConfigError as err:
            raise permanent(err) from None  # wrong credentials or database: no retries

    def load_input(self, context: InputContext):
        raise NotImplementedError("Postgres tables are final targets; read them with SQL.")


def ensure_table(conn, table: str, target: sql.Identifier, schema: pa.Schema, by_month: bool = False) -> None:
    """Create the table (partitioned by month when `by_month`), or add the columns a newer
    schema has (rows kept; a partitioned table's partitions gain them too)."""
    existing = relation_columns(conn, PG_SCHEMA, table)
    if not existing:
        conn.execute(create_table_sql(target, schema, by_month))
        return
    for field in columns_to_add(f"{PG_SCHEMA}.{table}", "Postgres", existing, schema):
        conn.execute(
            sql.SQL("ALTER TABLE {} ADD COLUMN {} {}").format(
                target, sql.Identifier(field.name), sql.SQL(pg_type(field.type))
            )
        )


def create_table_sql(target: sql.Identifier, schema: pa.Schema, by_month: bool = False) -> sql.Composed:
    columns = sql.SQL(", ").join(
        sql.SQL("{} {}{}").format(
            sql.Identifier(f.name),
            sql.SQL(pg_type(f.type)),
            sql.SQL("" if f.nullable else " NOT NULL"),
        )
        for f in schema
    )
    partitioning = sql.SQL(" PARTITION BY RANGE ({})").format(sql.Identifier(SOURCE_MONTH_COLUMN))
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}){}").format(
        target, columns, partitioning if by_month else sql.SQL(""))


def _index_sql(table: str, target: sql.Identifier, column: str) -> sql.Composed:
    return sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} USING brin ({})").format(
        sql.Identifier(f"{table}_{column}_idx"), target, sql.Identifier(column)
    )


def _copy(conn, target, schema: pa.Schema, batches: Iterable[pa.RecordBatch], label: str,
          freeze: bool = False) -> int:
    columns = sql.SQL(", ").join(sql.Identifier(f.name) for f in schema)
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT binary{})").format(
        target, columns, sql.SQL(", FREEZE" if freeze else ""))
    encoder = ArrowToPostgresBinaryEncoder(schema)
    sent = 0
    cursor = conn.cursor()
    try:
        with cursor.copy(statement) as copy:
            copy.write(encoder.write_header())
            for batch in batches:
                _reject_nul_bytes(batch, sent, label)
                copy.write(encoder.write_batch(batch))
                sent += batch.num_rows
            copy.write(encoder.finish())
    except errors.DataError as err:
        raise PostgresLoadError(_describe_copy_error(err, label)) from None
    return cursor.rowcount  # the server's count of the rows it took


def _reject_nul_bytes(batch: pa.RecordBatch, offset: int, label: str) -> None:
    """Postgres text cannot hold NUL; name the row and column instead of COPY's bare line."""
    for field, column in zip(batch.schema, batch.columns, strict=True):
        if not pa.types.is_string(field.type):
            continue
        has_nul = pc.match_substring(column, "\x00")
        if pc.any(has_nul).as_py():
            row = offset + pc.index(has_nul, True).as_py()
            raise PostgresLoadError(
                f"{label}, {file_position(label, row)}, column {field.name!r}: Postgres text cannot contain "
                "NUL (0x00) bytes. The table keeps its previous rows."
            )


def _describe_copy_error(err: errors.DataError, label: str) -> str:
    """COPY's "line N" is the stream's Nth row: named as the source file counts it."""
    context = err.diag.context or ""
    where = label
    line = re.search(r"line (\d+)", context)
    if line:
        where += f", {file_position(label, int(line.group(1)) - 1)}"
    column = re.search(r"column (\w+)", context)
    if column:
        where += f", column {column.group(1)!r}"
    rejected = err.diag.message_primary
    return f"{where}: Postgres rejected the value: {rejected}. The table keeps its previous rows."
