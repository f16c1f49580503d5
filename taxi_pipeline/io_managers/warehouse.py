"""The embedded warehouse: DuckDB through dagster-duckdb-pandas, one transaction a write.

Dagster's DuckDB IO manager deletes a partition's rows and then inserts the new ones as
two autocommitted statements; a failed insert would leave the month empty. This client
wraps each connection in a transaction so a month is replaced whole or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

from dagster._core.storage.db_io_manager import DbIOManager, DbTypeHandler
from dagster_duckdb.io_manager import DuckDbClient
from dagster_duckdb_pandas import DuckDBPandasIOManager, DuckDBPandasTypeHandler

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
