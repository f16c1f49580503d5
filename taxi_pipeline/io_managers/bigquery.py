"""BigQuery the way BigQuery loads data: month-partitioned tables, one load job per month.

A trip month arrives as the `gs://` URI of its clean parquet (`LakeUri`), never as rows:
one load job reads it straight into the month's partition `{table}${YYYYMM}` with
WRITE_TRUNCATE, so BigQuery swaps that month whole (load jobs are atomic and free) and
the run's memory never holds the month. The table is created explicitly from the asset's
column schema (the service's canonical schema, names as they are), partitioned by MONTH
on `source_month` and clustered on the asset's `cluster_by` columns. The job id is made
from run, table and month, so a retried step finds its job instead of loading twice.

A table in the way (another layout, e.g. the previous release's unpartitioned table with
upper-cased names) stops the run naming it and giving the statements that migrate it.
The zone tables are DataFrames on dagster-gcp-pandas; columns an asset names in its
`bigquery_geography` metadata (the zone shapes' WKT `geometry`) become GEOGRAPHY: the frame
is loaded into a staging table, and one CREATE OR REPLACE TABLE ... AS SELECT with
ST_GEOGFROMTEXT(..., make_valid => TRUE) makes the table maps read.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

from dagster import TableSchema
from dagster_gcp.bigquery.io_manager import BigQueryClient
from dagster_gcp_pandas import BigQueryPandasIOManager, BigQueryPandasTypeHandler

from taxi_pipeline.io_managers.dagster_internals import (
    DbIOManager,
    DbTypeHandler,
    TableMetadataSet,
    TableSlice,
)
from taxi_pipeline.io_managers.evolution import TableInTheWay
from taxi_pipeline.io_managers.lake import LakeUri
from taxi_pipeline.io_managers.warehouse import CLUSTER_BY_KEY, GEOGRAPHY_KEY
from taxi_pipeline.policies import permanent
from taxi_pipeline.resources.gcp import GcpCredentialsResource
from taxi_pipeline.sql_names import bigquery_name

BIGQUERY_TYPES = {
    "int16": "INT64",
    "int32": "INT64",
    "int64": "INT64",
    "double": "FLOAT64",
    "string": "STRING",
    "large_string": "STRING",
    "timestamp[us]": "TIMESTAMP",
}
"""Arrow type of the canonical schema -> BigQuery type (Parquet timestamps load as TIMESTAMP)."""

_SAME_TYPE = {"INTEGER": "INT64", "FLOAT": "FLOAT64", "BOOLEAN": "BOOL"}
"""The REST API answers with legacy type names; these are the same types."""

MAX_JOB_ATTEMPTS = 20


def bigquery_schema(columns: TableSchema) -> list:
    from google.cloud import bigquery

    fields = []
    for column in columns.columns:
        if column.type not in BIGQUERY_TYPES:
            raise ValueError(f"column {column.name}: no BigQuery type for {column.type}")
        fields.append(bigquery.SchemaField(column.name, BIGQUERY_TYPES[column.type], "NULLABLE",
                                           description=column.description))
    return fields


def standard_type(field_type: str) -> str:
    return _SAME_TYPE.get(field_type, field_type)


def migration_sql(
    table_id: str, existing: list, wanted: list, partition_field: str, cluster_by: list[str]
) -> str:
    """Statements that copy an old table into the current layout and put it in its place.

    BigQuery cannot change a table's partitioning in place (CREATE OR REPLACE refuses a
    different partitioning spec), so the rows go to a new table that then takes the name."""
    by_lower = {field.name.lower(): field.name for field in existing}
    columns = []
    for field in wanted:
        old = by_lower.get(field.name.lower())
        value = bigquery_name(old) if old else "NULL"
        columns.append(f"  CAST({value} AS {standard_type(field.field_type)}) AS {bigquery_name(field.name)}")
    project, dataset, table = table_id.split(".")
    staging = f"{project}.{dataset}.{table}_migrated"
    return (
        f"CREATE TABLE {bigquery_name(staging)}\n"
        f"PARTITION BY TIMESTAMP_TRUNC({bigquery_name(partition_field)}, MONTH)\n"
        f"CLUSTER BY {', '.join(bigquery_name(c) for c in cluster_by)}\n"
        f"AS SELECT\n" + ",\n".join(columns) + f"\nFROM {bigquery_name(table_id)};\n"
        f"DROP TABLE {bigquery_name(table_id)};\n"
        f"ALTER TABLE {bigquery_name(staging)} RENAME TO {bigquery_name(table)};"
    )


def layout_problems(table, wanted: list, partition_field: str) -> list[str]:
    """What keeps `table` from being this pipeline's month-partitioned table; [] when nothing."""
    problems = []
    partitioning = table.time_partitioning
    if partitioning is None or partitioning.type_ != "MONTH" or partitioning.field != partition_field:
        problems.append(f"it is not partitioned by MONTH on {partition_field}")
    types = {field.name: standard_type(field.field_type) for field in wanted}
    for field in table.schema:
        if field.name not in types:
            problems.append(f"it has a column {field.name} that is not in the canonical schema")
        elif standard_type(field.field_type) != types[field.name]:
            problems.append(f"its column {field.name} is {field.field_type}, not {types[field.name]}")
    return problems


def ensure_month_table(
    client, table_id: str, wanted: list, partition_field: str, cluster_by: list[str], log
) -> list[str]:
    """Create the month-partitioned table, or check the one there; add canonical columns it lacks.

    Returns the names of the columns added. Raises TableInTheWay for another layout."""
    from google.api_core.exceptions import NotFound
    from google.cloud import bigquery

    try:
        table = client.get_table(table_id)
    except NotFound:
        table = bigquery.Table(table_id, schema=wanted)
        table.time_partitioning = bigquery.TimePartitioning(
            type_=bigquery.TimePartitioningType.MONTH, field=partition_field
        )
        table.clustering_fields = cluster_by
        # exists_ok: two months' first loads may race; the loser checks the winner's table.
        table = client.create_table(table, exists_ok=True)
        log.info(f"Created {table_id}, partitioned by MONTH on {partition_field}, clustered by {cluster_by}")
    problems = layout_problems(table, wanted, partition_field)
    if problems:
        raise TableInTheWay(
            f"BigQuery table {table_id} is in the way: {'; '.join(problems)}. It was not made by "
            "this release (the previous one made unpartitioned tables with upper-cased names), and "
            "is left as it is. To keep its rows, migrate it with:\n"
            f"{migration_sql(table_id, list(table.schema), wanted, partition_field, cluster_by)}\n"
            "or drop it to start afresh; then run again."
        )
    present = {field.name for field in table.schema}
    added = [field for field in wanted if field.name not in present]
    if added:
        # Appending NULLABLE columns to the schema is free and keeps every row.
        table.schema = [*table.schema, *added]
        client.update_table(table, ["schema"])
        log.info(f"{table_id} gained columns {[field.name for field in added]}; its rows are kept")
    return [field.name for field in added]


def submit_load_job(client, uri: str, destination: str, job_config, job_id: str):
    """The month's load job under `job_id`; a retried step finds the job it already started.

    Only a job that failed is submitted again, under the next id (`{job_id}_2`, ...)."""
    from google.api_core.exceptions import Conflict

    for attempt in range(1, MAX_JOB_ATTEMPTS + 1):
        candidate = job_id if attempt == 1 else f"{job_id}_{attempt}"
        try:
            return client.load_table_from_uri(uri, destination, job_id=candidate, job_config=job_config)
        except Conflict:
            job = client.get_job(candidate)
            if job.state != "DONE" or not job.error_result:
                return job
    raise RuntimeError(f"{MAX_JOB_ATTEMPTS} load jobs for {destination} failed; see job {job_id}")


def load_job_id(run_id: str, table: str, month: str) -> str:
    return f"taxi_{table}_{month.replace('-', '')}_{run_id}".replace(".", "_")


class BigQueryMonthLoadTypeHandler(DbTypeHandler[LakeUri]):
    """A month's clean parquet, loaded by one job from its URI into the table's month partition."""

    def handle_output(self, context, table_slice: TableSlice, obj: LakeUri, connection):
        from google.api_core.exceptions import BadRequest, NotFound
        from google.cloud import bigquery

        month = context.asset_partition_key
        metadata = context.definition_metadata
        table_id = f"{table_slice.database}.{table_slice.schema}.{table_slice.table}"
        partition_field = table_slice.partition_dimensions[0].partition_expr
        wanted = bigquery_schema(TableMetadataSet.extract(metadata).column_schema)
        cluster_by = list(metadata.get(CLUSTER_BY_KEY, []))
        try:
            added = ensure_month_table(connection, table_id, wanted, partition_field, cluster_by, context.log)
        except TableInTheWay as err:
            raise permanent(err) from None
        destination = f"{table_id}${month.replace('-', '')}"
        config = bigquery.LoadJobConfig(
            source_format=bigquery.SourceFormat.PARQUET,
            write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE,
            create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
            schema=wanted,
            time_partitioning=bigquery.TimePartitioning(
                type_=bigquery.TimePartitioningType.MONTH, field=partition_field
            ),
            clustering_fields=cluster_by or None,
        )
        job_id = load_job_id(context.run_id, table_slice.table, month)
        context.log.info(f"Loading {obj} into {destination} (WRITE_TRUNCATE), job {job_id}")
        try:
            job = submit_load_job(connection, obj, destination, config, job_id)
            job.result()
        except (BadRequest, NotFound) as err:
            # Bad rows, a missing file, a schema BigQuery refuses: another try fails the same way.
            details = "; ".join(e.get("message", "") for e in (getattr(err, "errors", None) or [])[:3])
            raise permanent(ValueError(
                f"BigQuery could not load {obj} (partition {month}) into {destination}: "
                f"{err.message}{' (' + details + ')' if details and details not in err.message else ''}"
            )) from None
        return {
            **TableMetadataSet(partition_row_count=job.output_rows, storage_kind="bigquery"),
            "bigquery_job_id": job.job_id,
            "destination": destination,
            "source_uri": obj,
            "output_bytes": job.output_bytes or 0,
            "columns_added": added,
        }

    def load_input(self, context, table_slice: TableSlice, connection) -> LakeUri:
        raise NotImplementedError("Read a trip month from the lake (its clean parquet), not from BigQuery.")

    @property
    def supported_types(self):
        return [LakeUri]


class BigQueryGeographyPandasTypeHandler(BigQueryPandasTypeHandler):
    """dagster-gcp-pandas' DataFrame handler; the asset's GEOGRAPHY_KEY columns (WKT text)
    become GEOGRAPHY columns of the table."""

    def handle_output(self, context, table_slice: TableSlice, obj, connection):
        columns = list((context.definition_metadata or {}).get(GEOGRAPHY_KEY) or [])
        if not columns or obj.empty:
            return super().handle_output(context, table_slice, obj, connection)
        target = f"{table_slice.database}.{table_slice.schema}.{table_slice.table}"
        staging = table_slice._replace(table=f"{table_slice.table}__wkt")
        staging_name = f"{staging.database}.{staging.schema}.{staging.table}"
        connection.delete_table(staging_name, not_found_ok=True)  # a failed run's leftovers
        super().handle_output(context, staging, obj, connection)
        converted = ", ".join(
            f"ST_GEOGFROMTEXT({bigquery_name(c)}, make_valid => TRUE) AS {bigquery_name(c)}" for c in columns)
        connection.query(f"CREATE OR REPLACE TABLE {bigquery_name(target)} AS "
                         f"SELECT * REPLACE ({converted}) FROM {bigquery_name(staging_name)}").result()
        connection.delete_table(staging_name, not_found_ok=True)
        context.log.info(f"{target}: {', '.join(columns)} as GEOGRAPHY")


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

    @staticmethod
    def delete_table_slice(context, table_slice, connection) -> None:
        # A month is replaced by its load job (WRITE_TRUNCATE into table$YYYYMM): no DELETE
        # job, so a failed load leaves the previous month. Unpartitioned tables as before.
        if table_slice.partition_dimensions:
            return
        BigQueryClient.delete_table_slice(context, table_slice, connection)

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
    """Trip months by load job into month partitions; DataFrames (the zones) by dagster-gcp-pandas."""

    gcp: GcpCredentialsResource

    @staticmethod
    def type_handlers() -> Sequence[DbTypeHandler]:
        return [BigQueryMonthLoadTypeHandler(), BigQueryGeographyPandasTypeHandler()]

    def create_io_manager(self, context) -> DbIOManager:
        return DbIOManager(
            db_client=GcpBigQueryClient(self.gcp, self.location or "US"),
            io_manager_name="BigQueryWarehouseIOManager",
            database=self.project,
            schema=self.dataset,
            type_handlers=self.type_handlers(),
            default_load_type=self.default_load_type(),
        )
