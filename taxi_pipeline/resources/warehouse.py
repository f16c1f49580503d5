"""Read access to the warehouse for checks and reports: DuckDB locally, BigQuery on GCP.

The IO managers write the tables; these resources only count a month's rows, so the
reconciliation check and the report query the same engine the IO manager wrote to.
"""

from __future__ import annotations

import time
from pathlib import Path

from dagster import ConfigurableResource

from taxi_pipeline.partitions import month_start
from taxi_pipeline.resources.gcp import GcpCredentialsResource
from taxi_pipeline.services import SOURCE_MONTH_COLUMN


class WarehouseResource(ConfigurableResource):
    dataset: str

    def month_rows(self, table: str, month: str) -> int | None:
        """Rows of `month` in `table`; None when the table does not exist."""
        raise NotImplementedError


class DuckDBWarehouse(WarehouseResource):
    database: str

    def month_rows(self, table: str, month: str) -> int | None:
        import duckdb

        if not Path(self.database).exists():
            return None
        with _connect_when_free(self.database) as conn:
            try:
                return conn.execute(
                    f"SELECT count(*) FROM {self.dataset}.{table} WHERE {SOURCE_MONTH_COLUMN} = ?",
                    [month_start(month)],
                ).fetchone()[0]
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

    def month_rows(self, table: str, month: str) -> int | None:
        from google.api_core.exceptions import NotFound
        from google.cloud import bigquery

        client = self.gcp.bigquery_client(self.location)
        query = (
            f"SELECT count(*) AS n FROM `{client.project}.{self.dataset}.{table}` "
            f"WHERE {SOURCE_MONTH_COLUMN} = @month"
        )
        config = bigquery.QueryJobConfig(
            query_parameters=[bigquery.ScalarQueryParameter("month", "TIMESTAMP", month_start(month))]
        )
        try:
            return next(iter(client.query(query, job_config=config).result())).n
        except NotFound:
            return None
