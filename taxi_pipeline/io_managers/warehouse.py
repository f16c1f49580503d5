"""The warehouse: DuckDB locally (dagster-duckdb), BigQuery on GCP (dagster-gcp-pandas).

Both replace a month by its `partition_expr` (`source_month`). A trip month arrives as
an Arrow record-batch stream read from the clean parquet: DuckDB inserts it batch by
batch, so a month never sits in memory whole (a 7.5M-row month as a DataFrame is GBs);
BigQuery gets it as one nullable-typed DataFrame, which is what dagster-gcp-pandas loads.
Small tables (the zones) are plain DataFrames in both.

Dagster's DuckDB IO manager deletes a partition's rows and then inserts the new ones as
two autocommitted statements, so a failed insert would leave the month empty; our DuckDB
client wraps each connection in a transaction so a month is replaced whole or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import pandas as pd
import pyarrow as pa
from dagster._core.definitions.metadata import TableMetadataSet
from dagster._core.storage.db_io_manager import DbIOManager, DbTypeHandler, TableSlice
from dagster_duckdb.io_manager import DuckDbClient
from dagster_duckdb_pandas import DuckDBPandasIOManager, DuckDBPandasTypeHandler
from dagster_gcp.bigquery.io_manager import BigQueryClient
from dagster_gcp_pandas import BigQueryPandasIOManager, BigQueryPandasTypeHandler

from taxi_pipeline.io_managers.evolution import TableInTheWay, columns_to_add
from taxi_pipeline.policies import permanent
from taxi_pipeline.resources.gcp import GcpCredentialsResource

WAREHOUSE_SCHEMA = "trips_data_all"
PARTITION_EXPR_KEY = "partition_expr"

PANDAS_TYPES = {
    pa.int16(): pd.Int16Dtype(),
    pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(),
    pa.string(): pd.StringDtype(),
}
"""Nullable pandas types: an empty integer stays null instead of turning the column float."""


def _row_count_metadata(context, rows: int, storage_kind: str) -> TableMetadataSet:
    if context.has_partition_key:
        return TableMetadataSet(partition_row_count=rows, storage_kind=storage_kind)
    return TableMetadataSet(row_count=rows, storage_kind=storage_kind)


class DuckDBArrowStreamTypeHandler(DbTypeHandler[pa.RecordBatchReader]):
    """Inserts an Arrow stream batch by batch; the table is created from its schema."""

    def handle_output(self, context, table_slice: TableSlice, obj: pa.RecordBatchReader, connection):
        table = f"{table_slice.schema}.{table_slice.table}"
        existing = _duckdb_columns(connection, table_slice)
        if not existing:
            connection.register("taxi_month_schema", obj.schema.empty_table())
            connection.execute(f"CREATE TABLE {table} AS SELECT * FROM taxi_month_schema")
            connection.unregister("taxi_month_schema")
        else:
            for field in _columns_to_add(table, existing, obj.schema):
                connection.register("taxi_new_column", pa.schema([field]).empty_table())
                [(sql_type,)] = connection.execute(
                    "SELECT column_type FROM (DESCRIBE SELECT * FROM taxi_new_column)"
                ).fetchall()
                connection.unregister("taxi_new_column")
                connection.execute(f'ALTER TABLE {table} ADD COLUMN "{field.name}" {sql_type}')
        connection.register("taxi_month_batches", obj)
        # BY NAME: a table that gained columns has them last, in another order than the file.
        (rows,) = connection.execute(f"INSERT INTO {table} BY NAME SELECT * FROM taxi_month_batches").fetchone()
        connection.unregister("taxi_month_batches")
        context.add_output_metadata(dict(_row_count_metadata(context, rows, "duckdb")))

    def load_input(self, context, table_slice: TableSlice, connection) -> pa.RecordBatchReader:
        return connection.execute(DuckDbClient.get_select_statement(table_slice)).fetch_record_batch()

    @property
    def supported_types(self):
        return [pa.RecordBatchReader]


class BigQueryArrowStreamTypeHandler(DbTypeHandler[pa.RecordBatchReader]):
    """Hands the stream to dagster-gcp-pandas as one DataFrame with nullable types."""

    def handle_output(self, context, table_slice: TableSlice, obj: pa.RecordBatchReader, connection):
        frame = obj.read_pandas(types_mapper=PANDAS_TYPES.get)
        BigQueryPandasTypeHandler().handle_output(context, table_slice, frame, connection)

    def load_input(self, context, table_slice: TableSlice, connection) -> pa.RecordBatchReader:
        frame = BigQueryPandasTypeHandler().load_input(context, table_slice, connection)
        return pa.Table.from_pandas(frame, preserve_index=False).to_reader()

    @property
    def supported_types(self):
        return [pa.RecordBatchReader]


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
        if table_slice.partition_dimensions:
            column = table_slice.partition_dimensions[0].partition_expr
            if column not in existing:
                _columns_to_add(f"{table_slice.schema}.{table_slice.table}", existing,
                                pa.schema([pa.field(column, pa.timestamp("us"))]))
        DuckDbClient.delete_table_slice(context, table_slice, connection)

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


class WarehouseIOManager(DuckDBPandasIOManager):
    """Arrow streams and DataFrames in a DuckDB file; `partition_expr` names the month column."""

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [DuckDBArrowStreamTypeHandler(), DuckDBPandasTypeHandler()]

    def create_io_manager(self, context) -> DbIOManager:
        return DbIOManager(
            db_client=TransactionalDuckDbClient(),
            database=self.database,
            schema=self.schema_,
            type_handlers=self.type_handlers(),
            default_load_type=self.default_load_type(),
            io_manager_name="WarehouseIOManager",
        )


class GcpBigQueryClient(BigQueryClient):
    """dagster-gcp's BigQuery client, with credentials from our one GCP resource and a
    dataset created in the configured location (or a clear error if it lives elsewhere)."""

    def __init__(self, gcp: GcpCredentialsResource, location: str):
        super().__init__()
        self.gcp = gcp
        self.location = location

    @contextmanager
    def connect(self, context, table_slice):
        yield self.gcp.bigquery_client(self.location)

    def ensure_schema_exists(self, context, table_slice, connection) -> None:
        from google.cloud import bigquery

        wanted = bigquery.Dataset(f"{table_slice.database}.{table_slice.schema}")
        wanted.location = self.location
        dataset = connection.create_dataset(wanted, exists_ok=True)
        if dataset.location and dataset.location.lower() != self.location.lower():
            raise ValueError(
                f"BigQuery dataset {table_slice.schema} is in {dataset.location}, but BQ_LOCATION "
                f"is {self.location}: BigQuery cannot read and write across locations. Use "
                "the dataset's location (and a bucket in the same location)."
            )


class BigQueryWarehouseIOManager(BigQueryPandasIOManager):
    """Arrow streams (as DataFrames) and DataFrames in BigQuery; `partition_expr` replaces a month by DELETE + load.

    BigQuery's pandas loader upper-cases column names (`VENDORID`, `SOURCE_MONTH`);
    BigQuery resolves names case-insensitively, so queries may use the release's names.
    """

    gcp: GcpCredentialsResource

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [BigQueryArrowStreamTypeHandler(), BigQueryPandasTypeHandler()]

    def create_io_manager(self, context) -> DbIOManager:
        return DbIOManager(
            db_client=GcpBigQueryClient(self.gcp, self.location or "US"),
            io_manager_name="BigQueryWarehouseIOManager",
            database=self.project,
            schema=self.dataset,
            type_handlers=self.type_handlers(),
            default_load_type=self.default_load_type(),
        )
