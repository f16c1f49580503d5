"""Starts bqemulator (run with the emulator's own venv python) with what the project uses
and bqemulator 1.4.0 lacks.

- Small DataFrame loads (under 5 MB, a multipart upload with a media type bqemulator
  rejects): any media type is let in.
- Partition decorators on load jobs: bqemulator takes `table$202101` for a table id and
  rejects it. Here a load job into `table$YYYYMM` of a MONTH-partitioned table loads into
  `table`, and with WRITE_TRUNCATE first deletes that month's rows only, as BigQuery
  does. Rows of the file outside the month fail the job, as in BigQuery ("Some rows
  belong to different partitions rather than destination partition ..."). A decorator on
  a table that is not month-partitioned fails the job.
- Parquet loads match columns by name (BigQuery's rule; bqemulator inserts by position,
  which breaks once a table has gained a column at its end).
- A load job's `outputRows` is the rows it loaded (bqemulator reports the table's total).
- Columns added to a table's schema (`tables.patch`/`update`, the client's
  `update_table`) are added to its data too (bqemulator changes only its catalog).
- A load job under a job id that exists answers 409 Conflict, as BigQuery does
  (bqemulator runs it again): how a retried step finds the job it started.
- `CREATE TABLE ... PARTITION BY TIMESTAMP_TRUNC(col, MONTH)` (or DATE_TRUNC), as dbt
  writes a month-partitioned model, records MONTH partitioning on `col` (bqemulator
  records only a bare column, as DAY).

What this cannot prove: that BigQuery swaps the month atomically (here a DELETE then an
INSERT under the emulator's write lock), and BigQuery's own error texts and costs.
Load jobs read `gs://bucket/name` from BQEMU_GCS_LOCAL_ROOT/bucket/name: the fixture
points it at the GCS emulator's folder, so both emulators see the same objects.
"""

import dataclasses
import sys

import bqemulator.api.routes.jobs as job_routes
import bqemulator.api.routes.upload as upload
from bqemulator.catalog import ddl_sync
from bqemulator.catalog.duckdb_repository import DuckDBCatalogRepository
from bqemulator.catalog.memory_repository import MemoryCatalogRepository
from bqemulator.catalog.models import TimePartitioning
from bqemulator.cli import main
from bqemulator.domain.errors import ResourceRef, resource_already_exists
from bqemulator.jobs import executor
from bqemulator.storage.type_map import bq_to_duckdb

upload._PERMITTED_MEDIA_CONTENT_TYPES = (*upload._PERMITTED_MEDIA_CONTENT_TYPES, "*/*")

DECORATOR_KEY = "_taxi_partition"

_parse_load_job_config = executor._parse_load_job_config
_apply_load_write_disposition = executor._apply_load_write_disposition
_execute_load_job = executor.execute_load_job
_handle_load_job = job_routes._handle_load_job_with_async_envelope


async def handle_load_job(project_id, job_id, config, ctx):
    if ctx.catalog.get_job(project_id, job_id) is not None:
        raise resource_already_exists(ResourceRef("job", project_id, resource_id=job_id))
    return await _handle_load_job(project_id, job_id, config, ctx)


def parse_load_job_config(project_id, config):
    load = config.get("load", {})
    destination = load.get("destinationTable", {})
    table, _, decorator = destination.get("tableId", "").partition("$")
    if not decorator:
        return _parse_load_job_config(project_id, config)
    plain = {**config, "load": {**load, "destinationTable": {**destination, "tableId": table}}}
    job = _parse_load_job_config(project_id, plain)
    return dataclasses.replace(job, raw_config={**job.raw_config, DECORATOR_KEY: decorator})


def apply_load_write_disposition(job, ctx):
    decorator = job.raw_config.get(DECORATOR_KEY)
    if decorator is None:
        return _apply_load_write_disposition(job, ctx)
    meta = ctx.catalog.get_table(job.project_id, job.dataset_id, job.table_id)
    partitioning = meta.time_partitioning if meta is not None else None
    if partitioning is None or partitioning.type != "MONTH" or not partitioning.field or len(decorator) != 6:
        raise executor.InvalidQueryError(
            f"Partition decorator ${decorator} needs a table partitioned by MONTH on a column: "
            f"{job.dataset_id}.{job.table_id} is not."
        )
    month = f"TIMESTAMP '{decorator[:4]}-{decorator[4:]}-01'"
    in_month = f"date_trunc('month', \"{partitioning.field}\") = {month}"
    for uri in job.source_uris:
        path = executor._resolve_uri(uri, ctx)
        [(outside,)] = ctx.engine.execute(
            f"SELECT count(*) FROM read_parquet(?) WHERE NOT ({in_month})", [path]
        ).fetchall()
        if outside:
            raise executor.InvalidQueryError(
                f"Some rows belong to different partitions rather than destination partition {decorator}"
            )
    if job.write_disposition == "WRITE_TRUNCATE":
        ctx.engine.execute(f"DELETE FROM {job.target_ref} WHERE {in_month}")
    elif job.write_disposition == "WRITE_EMPTY":
        [(rows,)] = ctx.engine.execute(f"SELECT count(*) FROM {job.target_ref} WHERE {in_month}").fetchall()
        if rows:
            raise executor.InvalidQueryError(
                f"Partition {decorator} is not empty and writeDisposition is WRITE_EMPTY"
            )


def load_parquet(path, target_ref, ctx):
    ctx.engine.execute(f"INSERT INTO {target_ref} BY NAME SELECT * FROM read_parquet(?)", [path])


async def execute_load_job(project_id, job_id, config, ctx):
    load = config.get("load", {})
    loaded = None
    if load.get("sourceFormat", "").upper() == "PARQUET" and load.get("sourceUris"):
        try:
            paths = [executor._resolve_uri(uri, ctx) for uri in load["sourceUris"]]
            loaded = sum(ctx.engine.execute("SELECT count(*) FROM read_parquet(?)", [path]).fetchall()[0][0]
                         for path in paths)
        except Exception:  # a missing file: the emulator's own load reports it
            loaded = None
    meta = await _execute_load_job(project_id, job_id, config, ctx)
    if loaded is None:
        return meta
    statistics = {**meta.statistics, "load": {**meta.statistics.get("load", {}), "outputRows": str(loaded)}}
    return meta.model_copy(update={"statistics": statistics})


executor._parse_load_job_config = parse_load_job_config
executor._apply_load_write_disposition = apply_load_write_disposition
executor._LOAD_FORMAT_HANDLERS["PARQUET"] = load_parquet
executor.execute_load_job = execute_load_job
job_routes.execute_load_job = execute_load_job
job_routes._handle_load_job_with_async_envelope = handle_load_job
upload.execute_load_job = execute_load_job

def _adding_columns(update_table):
    def update(self, table):
        old = self.get_table(table.project_id, table.dataset_id, table.table_id)
        engine = getattr(self, "_engine", None)  # (the DuckDB catalog's own cache has none)
        if engine is not None and old is not None:
            present = {field.name for field in old.schema_.fields}
            ref = executor.quoted_table_ref(table.project_id, table.dataset_id, table.table_id)
            for field in table.schema_.fields:
                if field.name not in present:
                    engine.execute(
                        f'ALTER TABLE {ref} ADD COLUMN "{field.name}" {bq_to_duckdb(field.type)}'
                    )
        return update_table(self, table)

    return update


for repository in (MemoryCatalogRepository, DuckDBCatalogRepository):
    repository.update_table = _adding_columns(repository.update_table)

_extract_ddl_metadata = ddl_sync._extract_ddl_metadata


def extract_ddl_metadata(bq_sql):
    extras = _extract_ddl_metadata(bq_sql)
    if extras.time_partitioning is not None:
        return extras
    import sqlglot
    from sqlglot import exp

    try:
        created = sqlglot.parse_one(bq_sql, read="bigquery")
    except sqlglot.errors.ParseError:
        return extras
    for prop in created.find_all(exp.PartitionedByProperty):
        trunc = prop.this
        unit = trunc.args.get("unit")
        if (isinstance(trunc, exp.TimestampTrunc | exp.DateTrunc) and isinstance(trunc.this, exp.Column)
                and unit is not None and unit.name.upper() == "MONTH"):
            month = TimePartitioning(type="MONTH", field=trunc.this.name)
            return dataclasses.replace(extras, time_partitioning=month)
    return extras


ddl_sync._extract_ddl_metadata = extract_ddl_metadata

if __name__ == "__main__":
    sys.exit(main())
