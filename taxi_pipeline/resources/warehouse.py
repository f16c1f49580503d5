"""Read access to the warehouse for checks, reports and the dbt models' row counts:
DuckDB locally, BigQuery on GCP.

The IO managers (and dbt) write the tables; these resources only count rows, so the
reconciliation check, the report and the models' metadata query the engine written to.
"""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from dagster import ConfigurableResource

from taxi_pipeline.partitions import month_window
from taxi_pipeline.resources.gcp import GcpCredentialsResource
from taxi_pipeline.services import SOURCE_MONTH_COLUMN
from taxi_pipeline.sql_names import bigquery_name, duckdb_name


class WarehouseResource(ConfigurableResource):
    dataset: str

    def month_rows(self, table: str, month: str) -> int | None:
        """Rows of `month` in `table` (a trip table); None when the table does not exist."""
        return self.table_rows(self.dataset, table, month_window(month))

    def table_rows(
        self, dataset: str, table: str, months: tuple[datetime, datetime] | None = None
    ) -> int | None:
        """Rows of `dataset.table`, or of its source months in [start, end);
        None when it does not exist."""
        raise NotImplementedError

    def query(self, sql: str, tables: dict[str, tuple[str, str]]) -> list[tuple] | None:
        """The rows of an aggregate query (the dashboards'), its `{name}` placeholders filled
        with the quoted `(dataset, table)` of `tables`; None when one of them does not exist."""
        raise NotImplementedError

    def as_text(self, column: str) -> str:
        """`column` (a geometry) as WKT text in a SELECT."""
        return column


class DuckDBWarehouse(WarehouseResource):
    database: str

    def table_rows(self, dataset, table, months=None):
        month = duckdb_name(SOURCE_MONTH_COLUMN)
        where, params = ("", []) if months is None else (f" WHERE {month} >= ? AND {month} < ?", list(months))
        rows = self._rows(f"SELECT count(*) FROM {{t}}{where}", {"t": (dataset, table)}, params)
        return None if rows is None else rows[0][0]

    def query(self, sql, tables):
        return self._rows(sql, tables, [])

    def _rows(self, sql: str, tables: dict[str, tuple[str, str]], params: list) -> list[tuple] | None:
        """`sql`'s rows, its `{name}`s the quoted tables; None when the file or a table is missing."""
        import duckdb

        if not Path(self.database).exists():
            return None
        names = {key: duckdb_name(dataset, table) for key, (dataset, table) in tables.items()}
        with _connect_when_free(self.database) as conn:
            try:
                return conn.execute(sql.format(**names), params).fetchall()
            except duckdb.CatalogException:
                return None


def _connect_when_free(database: str, attempts: int = 30):
    """A read-only DuckDB connection, waiting while another process writes the file.

    DuckDB lets one process write a file and no other process open it meanwhile, so a
    check or report running beside another month's warehouse load waits its turn.
    """
    import duckdb

    for attempt in range(attempts):
        try:
            return duckdb.connect(database, read_only=True)
        except duckdb.IOException:
            if attempt == attempts - 1:
                raise
            time.sleep(min(0.1 * 2**attempt, 2.0))


class BigQueryWarehouse(WarehouseResource):
    gcp: GcpCredentialsResource
    location: str

    def table_rows(self, dataset, table, months=None):
        from google.api_core.exceptions import NotFound
        from google.cloud import bigquery

        client = self.gcp.bigquery_client(self.location)
        name = f"{client.project}.{dataset}.{table}"
        try:
            if months is None:  # the table's metadata: no query, nothing billed
                return client.get_table(name).num_rows
            query = (f"SELECT count(*) AS n FROM {bigquery_name(client.project, dataset, table)} "
                     f"WHERE {SOURCE_MONTH_COLUMN} >= @start AND {SOURCE_MONTH_COLUMN} < @end")
            config = bigquery.QueryJobConfig(query_parameters=[
                bigquery.ScalarQueryParameter("start", "TIMESTAMP", months[0]),
                bigquery.ScalarQueryParameter("end", "TIMESTAMP", months[1]),
            ])
            return next(iter(client.query(query, job_config=config).result())).n
        except NotFound:
            return None

    def query(self, sql, tables):
        from google.api_core.exceptions import NotFound

        client = self.gcp.bigquery_client(self.location)
        names = {key: bigquery_name(client.project, *name) for key, name in tables.items()}
        try:
            return [tuple(row.values()) for row in client.query(sql.format(**names)).result()]
        except NotFound:
            return None

    def as_text(self, column: str) -> str:
        return f"ST_ASTEXT({column})"
