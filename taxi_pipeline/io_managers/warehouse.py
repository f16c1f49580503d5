"""The local warehouse: DuckDB (dagster-duckdb); BigQuery on GCP is in bigquery.py.

A month is replaced by its `partition_expr` (`source_month`). A trip month arrives as
the clean parquet's lake path (`LakeUri`) and DuckDB reads it itself, within the
connection's memory limit, so a month never sits in memory whole (a 7.5M-row month as a
DataFrame is GBs).
Small tables (the zones) are plain DataFrames.

Dagster's DuckDB IO manager deletes a partition's rows and then inserts the new ones as
two autocommitted statements, so a failed insert would leave the month empty; our DuckDB
client wraps each connection in a transaction so a month is replaced whole or not at all.
Every name in the SQL here is quoted (`sql_names.duckdb_name`), dagster-duckdb's statements included
(it splices the schema and table as they are): a schema name cannot change a statement.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import MetadataValue, TimeWindow
from dagster_duckdb.io_manager import DuckDbClient
from dagster_duckdb_pandas import DuckDBPandasIOManager, DuckDBPandasTypeHandler

from taxi_pipeline.io_managers.dagster_internals import (
    DbIOManager,
    DbTypeHandler,
    TableMetadataSet,
    TablePartitionDimension,
    TableSlice,
)
from taxi_pipeline.io_managers.evolution import TableInTheWay, columns_to_add
from taxi_pipeline.io_managers.lake import LakeUri
from taxi_pipeline.io_managers.streaming import MonthLoad
from taxi_pipeline.partitions import month_window
from taxi_pipeline.policies import permanent
from taxi_pipeline.sql_names import duckdb_name as quoted

WAREHOUSE_SCHEMA = "trips_data_all"
PARTITION_EXPR_KEY = "partition_expr"
CLUSTER_BY_KEY = "cluster_by"
GEOGRAPHY_KEY = "bigquery_geography"
"""Asset metadata for the warehouse IO managers: the month column, the columns BigQuery
clusters a table by, and the WKT (WGS84) columns of a DataFrame that BigQuery holds as
GEOGRAPHY (DuckDB keeps them as text) (`bigquery.py`; here, so defining the assets does not
import the Google clients where BigQuery is not used)."""

PANDAS_TYPES = {
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.string(): pd.StringDtype(),
}
"""Nullable pandas types: an empty integer stays null instead of turning the column float."""


def _qualified(table_slice: TableSlice) -> str:
    return quoted(table_slice.schema, table_slice.table)


def _label(table_slice: TableSlice) -> str:
    """The table's name as errors show it (unquoted)."""
    return f"{table_slice.schema}.{table_slice.table}"


def _row_count_metadata(context, rows: int, storage_kind: str) -> TableMetadataSet:
    if context.has_partition_key:
        return TableMetadataSet(partition_row_count=rows, storage_kind=storage_kind)
    return TableMetadataSet(row_count=rows, storage_kind=storage_kind)


class DuckDBLakeFileTypeHandler(DbTypeHandler[LakeUri]):
    """A month's clean parquet in the local lake, streamed into DuckDB batch by batch."""

    def handle_output(self, context, table_slice: TableSlice, obj: LakeUri, connection):
        if obj.startswith("gs://"):
            raise ValueError(f"The DuckDB warehouse reads the local lake; {obj} is in GCS.")
        table = ensure_table(connection, table_slice, pq.read_schema(obj))
        # DuckDB's own Parquet reader, not an Arrow stream: 3M fhvhv rows in 3.0 s against
        # 6.5 s (connection settings: WAREHOUSE_DUCKDB_CONFIG).
        (rows,) = connection.execute(
            f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet(?)", [str(obj)]
        ).fetchone()
        context.add_output_metadata(dict(_row_count_metadata(context, rows, "duckdb")))

    def load_input(self, context, table_slice: TableSlice, connection) -> LakeUri:
        raise NotImplementedError(
            "Read a trip month from the lake (its clean parquet), not from the warehouse."
        )

    @property
    def supported_types(self):
        return [LakeUri]


def ensure_table(connection, table_slice: TableSlice, schema: pa.Schema) -> str:
    """Create the table from `schema`, or add the columns it lacks; its quoted qualified name."""
    table = _qualified(table_slice)
    existing = _duckdb_columns(connection, table_slice)
    if not existing:
        connection.register("taxi_month_schema", schema.empty_table())
        connection.execute(f"CREATE TABLE {table} AS SELECT * FROM taxi_month_schema")
        connection.unregister("taxi_month_schema")
    else:
        for field in _columns_to_add(_label(table_slice), existing, schema):
            connection.register("taxi_new_column", pa.schema([field]).empty_table())
            [(sql_type,)] = connection.execute(
                "SELECT column_type FROM (DESCRIBE SELECT * FROM taxi_new_column)"
            ).fetchall()
            connection.unregister("taxi_new_column")
            connection.execute(f"ALTER TABLE {table} ADD COLUMN {quoted(field.name)} {sql_type}")
    return table


def _duckdb_columns(connection, table_slice: TableSlice) -> list[str]:
    return [
        name
        for (name,) in connection.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
            "AND table_name = ? ORDER BY ordinal_position",
            [table_slice.schema, table_slice.table],
        ).fetchall()
    ]


def _columns_to_add(table: str, existing: list[str], schema: pa.Schema) -> list[pa.Field]:
    try:
        return columns_to_add(table, "DuckDB", existing, schema)
    except TableInTheWay as err:
        raise permanent(err) from None


class TransactionalDuckDbClient(DuckDbClient):
    @staticmethod
    def delete_table_slice(context, table_slice, connection) -> None:
        # The parent lets the DELETE fail on a missing table, which would abort the
        # transaction; ask the catalog first instead. A table in the way that is not
        # ours (no partition column) stops the run here, before anything is deleted.
        existing = _duckdb_columns(connection, table_slice)
        if not existing:
            return
        if not table_slice.partition_dimensions:
            connection.execute(f"DELETE FROM {_qualified(table_slice)}")
            return
        column = table_slice.partition_dimensions[0].partition_expr
        if column not in existing:
            _columns_to_add(_label(table_slice), existing, pa.schema([pa.field(column, pa.timestamp("us"))]))
        where, params = _partition_where(table_slice.partition_dimensions)
        connection.execute(f"DELETE FROM {_qualified(table_slice)} WHERE {where}", params)

    @staticmethod
    def ensure_schema_exists(context, table_slice, connection) -> None:
        connection.execute(f"CREATE SCHEMA IF NOT EXISTS {quoted(table_slice.schema)}")

    @staticmethod
    def get_select_statement(table_slice: TableSlice) -> str:
        """The statement the UI shows as the output's query (and what a load would run)."""
        columns = ", ".join(quoted(c) for c in table_slice.columns) if table_slice.columns else "*"
        statement = f"SELECT {columns} FROM {_qualified(table_slice)}"
        if not table_slice.partition_dimensions:
            return statement
        where, _ = _partition_where(table_slice.partition_dimensions, literal=True)
        return f"{statement} WHERE {where}"

    @staticmethod
    @contextmanager
    def connect(context, table_slice):
        with DuckDbClient.connect(context, table_slice) as conn:
            conn.begin()
            try:
                yield conn
            except BaseException:
                conn.rollback()
                # dagster-duckdb closes the connection only on success; left open, it keeps
                # the file and refuses this process's next connection with another config
                # (the checks' read-only one, or a retry after a different step).
                conn.close()
                raise
            conn.commit()


def _partition_where(
    dimensions: Sequence[TablePartitionDimension], literal: bool = False
) -> tuple[str, list]:
    """The months' condition (`"source_month" >= ? AND ... < ?`) and its bounds; `literal`:
    the bounds written into it (a statement shown, not run) and no parameters."""
    clauses, params = [], []
    for dimension in dimensions:
        if not isinstance(dimension.partitions, TimeWindow):
            raise ValueError(f"{dimension.partition_expr}: only month (time window) partitions are replaced")
        column = quoted(dimension.partition_expr)
        bounds = [bound.astimezone(UTC).replace(tzinfo=None) for bound in dimension.partitions]
        low, high = (f"'{bound:%Y-%m-%d %H:%M:%S}'" for bound in bounds) if literal else ("?", "?")
        clauses.append(f"{column} >= {low} AND {column} < {high}")
        params += [] if literal else bounds
    return " AND ".join(clauses), params


class QuotedDuckDBPandasTypeHandler(DuckDBPandasTypeHandler):
    """dagster-duckdb-pandas' handler (the zone tables), its names quoted."""

    def handle_output(self, context, table_slice: TableSlice, obj: pd.DataFrame, connection):
        if not obj.empty:
            table = _qualified(table_slice)
            connection.register("taxi_frame", obj)
            if _duckdb_columns(connection, table_slice):
                connection.execute(f"INSERT INTO {table} SELECT * FROM taxi_frame")
            else:
                connection.execute(f"CREATE TABLE {table} AS SELECT * FROM taxi_frame")
            connection.unregister("taxi_frame")
        context.add_output_metadata(dict(_row_count_metadata(context, obj.shape[0], "duckdb")))


class DuckDBMonthLoad(MonthLoad):
    """A month's batches inserted into DuckDB on their own connection and thread, its
    transaction left open until the IO manager commits it (`streaming.py`)."""

    target = "DuckDB"
    permanent_errors = (TableInTheWay,)
    yields_cpu = True  # and DuckDB's workers, started by this thread, with it

    def __init__(self, database: str, config: dict, table_slice: TableSlice, schema: pa.Schema):
        super().__init__()
        self.database, self.config, self.table_slice, self.schema = database, config, table_slice, schema
        self._conn = None
        self._created = False

    def _load(self, batches: Iterator[pa.RecordBatch]) -> int:
        self._created = not Path(self.database).exists()
        self._conn = conn = _connect_writer(self.database, self.config, self.stopping)
        conn.begin()
        TransactionalDuckDbClient.ensure_schema_exists(None, self.table_slice, conn)
        TransactionalDuckDbClient.delete_table_slice(None, self.table_slice, conn)
        table = ensure_table(conn, self.table_slice, self.schema)
        conn.register("taxi_month_batches", pa.RecordBatchReader.from_batches(self.schema, batches))
        (rows,) = conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM taxi_month_batches").fetchone()
        conn.unregister("taxi_month_batches")
        return rows

    def _commit(self) -> None:
        self._conn.commit()
        self._conn.close()

    def _rollback(self) -> None:
        if self._conn is not None:
            with suppress(duckdb.Error):
                self._conn.rollback()
            self._conn.close()
        if self._created:  # the file this load created holds nothing: a first failed load leaves none
            for path in (Path(self.database), Path(f"{self.database}.wal")):
                path.unlink(missing_ok=True)

    def _interrupt(self) -> None:
        if self._conn is not None:
            self._conn.interrupt()


def _connect_writer(database: str, config: dict, stopping: threading.Event, wait_s: float = 60):
    """A writing connection, waiting while another process holds the file's lock (a check
    reading it) unless the load is stopped; any other error (a path that cannot be made) at once."""
    Path(database).parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return duckdb.connect(database, config={"custom_user_agent": "dagster", **config})
        except duckdb.IOException as err:
            if "lock" not in str(err).lower() or time.monotonic() > deadline or stopping.wait(0.2):
                raise


class StreamingDbIOManager(DbIOManager):
    """dagster-duckdb's IO manager, plus months streamed in by the month's step."""

    def __init__(self, *, connection_config: dict, **kwargs):
        super().__init__(**kwargs)
        self._connection_config = connection_config

    def open_month(self, table: str, partition_expr: str, month: str, schema: pa.Schema) -> DuckDBMonthLoad:
        """Start inserting a month into `table`; `handle_output` commits it."""
        start, end = month_window(month)
        window = TimeWindow(start.replace(tzinfo=UTC), end.replace(tzinfo=UTC))
        table_slice = TableSlice(table=table, schema=self._schema, database=self._database,
                                 partition_dimensions=[TablePartitionDimension(partition_expr, window)])
        return DuckDBMonthLoad(self._database, self._connection_config, table_slice, schema).start()

    def handle_output(self, context, obj) -> None:
        if not isinstance(obj, DuckDBMonthLoad):
            return super().handle_output(context, obj)
        table_slice = self._get_table_slice(context, context)
        if (table_slice.schema, table_slice.table) != (obj.table_slice.schema, obj.table_slice.table):
            raise ValueError(f"A load of {obj.table_slice.table} handed over as {table_slice.table}")
        rows = obj.commit()
        context.add_output_metadata({
            **_row_count_metadata(context, rows, "duckdb"),
            "Query": self._db_client.get_select_statement(table_slice),
            **TableMetadataSet(table_name=self._db_client.get_table_name(table_slice)),
            "timeline": MetadataValue.json(obj.timeline),
        })


class WarehouseIOManager(DuckDBPandasIOManager):
    """Trip months from the lake and DataFrames in a DuckDB file; `partition_expr` names the month column."""

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [DuckDBLakeFileTypeHandler(), QuotedDuckDBPandasTypeHandler()]

    def create_io_manager(self, context) -> DbIOManager:
        return StreamingDbIOManager(
            connection_config=self.connection_config,
            db_client=TransactionalDuckDbClient(),
            database=self.database,
            schema=self.schema_,
            type_handlers=self.type_handlers(),
            default_load_type=self.default_load_type(),
            io_manager_name="WarehouseIOManager",
        )
