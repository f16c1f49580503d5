"""A service's four monthly assets: raw file → clean parquet → warehouse → Postgres.

Built per service by `trip_assets`, which `defs/services.py` calls with the registry's entry."""

import json
from pathlib import Path
from typing import NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetsDefinition,
    DataVersion,
    MetadataValue,
    Output,
    TableColumn,
    TableSchema,
    asset,
)

from taxi_pipeline.assets.scratch import PreparedClean, scratch_file
from taxi_pipeline.automation import catalog, follows_upstream
from taxi_pipeline.cleaning import BadTripFile, CleanResult, write_clean_parquet
from taxi_pipeline.io_managers.bigquery import CLUSTER_BY_KEY
from taxi_pipeline.io_managers.dagster_internals import TableMetadataSet
from taxi_pipeline.io_managers.lake import LAKE_PATH_KEY, LakeUri, stream_parquet
from taxi_pipeline.io_managers.postgres import PICKUP_COLUMN_KEY, SOURCE_FILE_KEY, VIEW_KEY
from taxi_pipeline.io_managers.warehouse import PARTITION_EXPR_KEY
from taxi_pipeline.partitions import month_start, monthly_partitions
from taxi_pipeline.policies import (
    DOWNLOAD_POOL,
    ONE_MONTH_PER_RUN,
    POSTGRES_POOL,
    TRANSIENT_RETRY,
    WAREHOUSE_POOLS,
    permanent,
)
from taxi_pipeline.resources.source import SourceFileCorrupt, SourceFileMissing, TaxiSourceResource
from taxi_pipeline.services import SOURCE_MONTH_COLUMN, TaxiService
from taxi_pipeline.sources import Source, SourceMonthUnavailable

PASSENGER_COUNT = "passenger_count"



def table_schema(schema: pa.Schema, descriptions: dict[str, str] | None = None) -> TableSchema:
    descriptions = descriptions or {}
    return TableSchema(
        columns=[
            TableColumn(f.name, str(f.type), description=descriptions.get(f.name))
            for f in schema
        ]
    )


def service_table_schema(service: TaxiService) -> TableSchema:
    descriptions = {c.name: c.description for c in service.columns}
    descriptions[SOURCE_MONTH_COLUMN] = "First instant of the month of the file the row came in"
    return table_schema(service.schema, descriptions)


def preview_markdown(path: Path, rows: int = 5) -> MetadataValue:
    head = pq.ParquetFile(path).read_row_group(0).slice(0, rows)
    return MetadataValue.md(head.to_pandas().to_markdown(index=False))


class TripAssetKeys(NamedTuple):
    raw: AssetKey
    clean: AssetKey
    warehouse: AssetKey
    postgres: AssetKey


def trip_asset_keys(service: TaxiService) -> TripAssetKeys:
    return TripAssetKeys(
        raw=AssetKey(["lake", f"raw_{service.name}_trips"]),
        clean=AssetKey(["lake", f"clean_{service.name}_trips"]),
        warehouse=AssetKey(["warehouse", service.warehouse_table]),
        postgres=AssetKey(["postgres", service.postgres_table]),
    )


def trip_assets(service: TaxiService, layout: Source, warehouse_kind: str) -> list[AssetsDefinition]:
    """The raw zone keeps the file as published, so the raw asset's file type is `layout`'s;
    `warehouse_kind` (duckdb, bigquery) is the warehouse asset's kind tag in the UI."""
    name = service.name
    keys = trip_asset_keys(service)
    common = dict(
        group_name=name, partitions_def=monthly_partitions(service), backfill_policy=ONE_MONTH_PER_RUN
    )
    tags = {"service": name, "source": layout.name}
    # The raw file is driven by the source (tlc_source_sensor, backfills); the rest follows it.
    downstream = dict(common, automation_condition=follows_upstream())

    def prepared_clean(context: AssetExecutionContext) -> PreparedClean:
        """Where the raw step leaves the month's clean parquet for the clean step of its run."""
        return PreparedClean(f"{name}_{context.partition_key}", context.run_id)

    @asset(
        key=keys.raw,
        io_manager_key="lake_io_manager",
        metadata={LAKE_PATH_KEY: service.raw_path("{month}", layout.suffix), "source": layout.name},
        kinds={layout.suffix.split(".")[1]},
        description=f"The month's {name} file from the {layout.title}, byte for byte, "
        "in the lake's raw zone.",
        retry_policy=TRANSIENT_RETRY,
        pool=DOWNLOAD_POOL,
        **catalog("raw", **tags),
        **common,
    )
    def raw_trips(context: AssetExecutionContext, source: TaxiSourceResource) -> Output[Path]:
        month = context.partition_key
        label = service.file_label(month, source.layout.suffix)
        with scratch_file(source.layout.suffix) as staging:
            try:
                download = source.download_month(service, month, staging)
                # Only a file the clean step can read lands in the lake: bad input writes
                # nothing. Reading it all writes the clean parquet too, for this run's clean step.
                steps = context.run.step_keys_to_execute  # None: every step of the job
                keep = steps is None or keys.clean.to_python_identifier() in steps
                with prepared_clean(context).writing(staging, keep) as (parquet, summary):
                    checked = write_clean_parquet(staging, parquet, service, month_start(month), label)
                    summary.write_text(json.dumps(checked.to_json()))
            except (SourceMonthUnavailable, SourceFileMissing, SourceFileCorrupt, BadTripFile) as err:
                raise permanent(err) from None
        return Output(
            staging,
            # The source's name and its file's ETag (or Last-Modified + size): the source
            # sensor requests a month again only when this changes.
            data_version=DataVersion(source.versioned(download.version)),
            metadata={
                "url": MetadataValue.url(download.url),
                "rows": checked.rows,
                "download_seconds": round(download.seconds, 3),
            },
        )

    @asset(
        key=keys.clean,
        ins={"raw": AssetIn(key=keys.raw)},
        io_manager_key="lake_io_manager",
        metadata={LAKE_PATH_KEY: service.clean_path("{month}")},
        kinds={"parquet"},
        description=f"The month cast to the canonical {name} schema, as zstd parquet.",
        **catalog("clean", **tags),
        **downstream,
    )
    def clean_trips(context: AssetExecutionContext, raw: Path) -> Output[Path]:
        month = context.partition_key
        label = service.file_label(month, layout.suffix)
        with scratch_file(".parquet") as staging:
            prepared = prepared_clean(context).take(raw, staging)
            if prepared:
                context.log.info(
                    f"{label}: the parquet the raw step wrote while reading the file (not parsed twice)"
                )
                result = CleanResult.from_json(prepared)
                parsed_by = "the raw step, which read the whole file to validate it"
            else:
                parsed_by = "this step"
                try:
                    result = write_clean_parquet(raw, staging, service, month_start(month), label)
                except BadTripFile as err:
                    raise permanent(err) from None
            stored_nulls = _stored_null_counts(staging)
        metadata = {
            "rows": result.rows,
            "parsed_by": parsed_by,
            "min_pickup": str(result.min_pickup),
            "max_pickup": str(result.max_pickup),
            **TableMetadataSet(column_schema=service_table_schema(service)),
            "preview": preview_markdown(staging),
        }
        if PASSENGER_COUNT in result.null_counts:
            # The seeds printed these before/after filling with 0; we keep nulls honest.
            metadata["passenger_count_missing_before"] = result.null_counts[PASSENGER_COUNT]
            metadata["passenger_count_missing_after"] = stored_nulls[PASSENGER_COUNT]
        context.log.info(f"{label}: {result.rows} rows cast to the {name} schema")
        return Output(staging, metadata=metadata)

    @asset(
        key=keys.warehouse,
        ins={"clean": AssetIn(key=keys.clean)},
        io_manager_key="warehouse_io_manager",
        metadata={
            PARTITION_EXPR_KEY: SOURCE_MONTH_COLUMN,
            CLUSTER_BY_KEY: service.cluster_by,
            **TableMetadataSet(column_schema=service_table_schema(service)),
        },
        kinds={warehouse_kind},
        description=f"Warehouse table {name}_tripdata; a month is replaced by its source_month "
        "(in BigQuery by one load job from the lake into the month's partition).",
        retry_policy=TRANSIENT_RETRY,
        pool=WAREHOUSE_POOLS[warehouse_kind],
        **catalog("warehouse", **tags),
        **downstream,
    )
    def warehouse_table(clean: LakeUri) -> LakeUri:
        # Where the month is, not its rows: BigQuery loads it from gs:// itself.
        return clean

    @asset(
        key=keys.postgres,
        ins={"clean": AssetIn(key=keys.clean)},
        io_manager_key="postgres_io_manager",
        metadata={
            PICKUP_COLUMN_KEY: service.pickup_column,
            SOURCE_FILE_KEY: service.file_label("{month}", layout.suffix),
            VIEW_KEY: service.warehouse_table,
            **TableMetadataSet(column_schema=service_table_schema(service)),
        },
        kinds={"postgres"},
        description=f"Postgres table {name}_taxi_trips in ny_taxi, loaded with COPY, and its "
        f"lower-case view {service.warehouse_table} (TAXI_PG_VIEWS_SCHEMA, default trips_data_all).",
        retry_policy=TRANSIENT_RETRY,
        pool=POSTGRES_POOL,
        **catalog("postgres", **tags),
        **downstream,
    )
    def postgres_table(clean: Path) -> pa.RecordBatchReader:
        return stream_parquet(clean)

    return [raw_trips, clean_trips, warehouse_table, postgres_table]


def _stored_null_counts(path: Path) -> dict[str, int]:
    """Null counts as the parquet file records them, read back from its footer."""
    meta = pq.ParquetFile(path).metadata
    counts: dict[str, int] = {}
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            stats = column.statistics
            nulls = stats.null_count if stats is not None and stats.has_null_count else 0
            counts[column.path_in_schema] = counts.get(column.path_in_schema, 0) + nulls
    return counts
