"""The warehouse: DuckDB locally (dagster-duckdb-pandas), BigQuery on GCP (dagster-gcp-pandas).

Both replace a month by its `partition_expr` (`source_month`). Dagster's DuckDB IO
manager deletes a partition's rows and then inserts the new ones as two autocommitted
statements, so a failed insert would leave the month empty; our DuckDB client wraps each
connection in a transaction so a month is replaced whole or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

from dagster._core.storage.db_io_manager import DbIOManager, DbTypeHandler
from dagster_duckdb.io_manager import DuckDbClient
from dagster_duckdb_pandas import DuckDBPandasIOManager, DuckDBPandasTypeHandler
from dagster_gcp.bigquery.io_manager import BigQueryClient
from dagster_gcp_pandas import BigQueryPandasIOManager

from taxi_pipeline.resources.gcp import GcpCredentialsResource

WAREHOUSE_SCHEMA = "trips_data_all"
PARTITION_EXPR_KEY = "partition_expr"


class TransactionalDuckDbClient(DuckDbClient):
    @staticmethod
    def delete_table_slice(context, table_slice, connection) -> None:
        # The parent lets the DELETE fail on a missing table, which would abort the
        # transaction; ask the catalog first instead.
        exists = connection.execute(
            "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [table_slice.schema, table_slice.table],
        ).fetchone()
        if exists:
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
                raise
            conn.commit()


class WarehouseIOManager(DuckDBPandasIOManager):
    """pandas DataFrames in a DuckDB file; `partition_expr` metadata names the month column."""

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [DuckDBPandasTypeHandler()]

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
    """pandas DataFrames in BigQuery; `partition_expr` replaces a month by DELETE + load.

    BigQuery's pandas loader upper-cases column names (`VENDORID`, `SOURCE_MONTH`);
    BigQuery resolves names case-insensitively, so queries may use the release's names.
    """

    gcp: GcpCredentialsResource

    def create_io_manager(self, context) -> DbIOManager:
        return DbIOManager(
            db_client=GcpBigQueryClient(self.gcp, self.location or "US"),
            io_manager_name="BigQueryWarehouseIOManager",
            database=self.project,
            schema=self.dataset,
            type_handlers=self.type_handlers(),
            default_load_type=self.default_load_type(),
        )
