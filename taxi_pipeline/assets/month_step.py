"""One step makes a service-month's four assets, in one pass over the file.

The raw file is downloaded, then read once: each batch is validated and cast, written to
the clean parquet, tallied for the checks and handed to the Postgres and warehouse loads,
which stream it into their open transactions on threads of their own
(`io_managers/streaming.py`). Once the whole file validated, every target took every
row (uncommitted) and the blocking checks passed, the step hands each asset to its IO
manager: the lake stores the two files, the
warehouse and Postgres IO managers commit. So the loads overlap the parse and each other
(on 2 cores the database servers work while this process parses), and bad input, a
failed check or a killed run commits nothing.

Any subset of the four runs on its own (a re-run of Postgres for a month, say): what it
needs from upstream comes from the lake. BigQuery loads the stored clean object itself,
so on GCP the warehouse is loaded after the lake, not streamed.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
from dagster import AssetExecutionContext, DataVersion, Failure, MetadataValue, Output

from taxi_pipeline.assets.checks import (
    ROWS_RECONCILE,
    CleanTally,
    blocking_failures,
    clean_check_results,
    reconcile_result,
)
from taxi_pipeline.assets.keys import trip_asset_keys
from taxi_pipeline.assets.prefetch import Prefetched
from taxi_pipeline.assets.scratch import scratch_file
from taxi_pipeline.assets.tables import preview_markdown, service_table_schema, stored_null_counts
from taxi_pipeline.assets.zones import SHAPES_LAKE_PATH, SHAPES_RAW_KEY
from taxi_pipeline.cleaning import BadTripFile, CleanResult, write_clean_parquet
from taxi_pipeline.cpu import yield_cpu
from taxi_pipeline.gzip_stream import SourceFileCorrupt
from taxi_pipeline.ingest.locate import ZoneLocator
from taxi_pipeline.ingest.zone_shapes import BadZoneShapes, read_zone_shapes
from taxi_pipeline.io_managers.dagster_internals import TableMetadataSet
from taxi_pipeline.io_managers.lake import stream_parquet
from taxi_pipeline.io_managers.streaming import MonthLoad
from taxi_pipeline.materializations import recorded_rows, stored_version
from taxi_pipeline.partitions import month_start, month_window
from taxi_pipeline.policies import permanent
from taxi_pipeline.resources.postgres import PostgresResource
from taxi_pipeline.resources.source import SourceFileMissing, TaxiSourceResource
from taxi_pipeline.resources.warehouse import WarehouseResource
from taxi_pipeline.services import SOURCE_MONTH_COLUMN, TaxiService
from taxi_pipeline.sources import Source, SourceMonthUnavailable
from taxi_pipeline.targets import parquet_rows, postgres_month_rows

PASSENGER_COUNT = "passenger_count"
_PERMANENT = (SourceMonthUnavailable, SourceFileMissing, SourceFileCorrupt, BadTripFile)


def month_step(
    context: AssetExecutionContext, service: TaxiService, layout: Source, month: str,
    prefetched: Prefetched | None = None,
) -> Iterator:
    """The outputs and check results of `month`'s selected assets, in the order their IO
    managers store or commit them (a run of several months: `month_range.py`, which may
    have downloaded the month's file already: `prefetched`)."""
    source: TaxiSourceResource = context.resources.source
    warehouse: WarehouseResource = context.resources.warehouse
    postgres: PostgresResource = context.resources.postgres
    selected = set(context.selected_output_names)
    checks = {key.name for key in context.selected_asset_check_keys}
    lake = context.resources.lake_io_manager
    label = service.file_label(month, layout.suffix)
    raw_relative, clean_relative = service.raw_path(month, layout.suffix), service.clean_path(month)
    start, end = month_window(month)
    tally = CleanTally(service, start, end)
    raw_rows = clean_rows = None
    shapes_used: dict[str, str | None] = {}  # the zone shapes' version, if the pass located trips
    timeline: dict[str, float] = {}  # when each part of the step ran (epoch s), as metadata

    loads: dict[str, MonthLoad] = {}
    with contextlib.ExitStack() as stack:
        if selected & {"raw", "clean"}:
            if "raw" in selected:
                raw = stack.enter_context(scratch_file(source.layout.suffix, prefetched and prefetched.path))
                if prefetched:
                    timeline["download_started"], download = prefetched.started, prefetched.download
                else:
                    timeline["download_started"] = time.time()
                    # The pass below proves a gzip file whole as it decompresses it: once, not twice.
                    download = _permanent_on_bad_input(source.download_month, service, month, raw, False)
                origin = download.url
            else:
                raw, origin = lake.fetch(raw_relative), None
            if "clean" in selected:  # the rows go to the targets as the clean file is written
                loads = _open_loads(context, service, month, label, selected)
                for load in loads.values():
                    stack.callback(load.abort)  # rolls back unless committed
            clean = stack.enter_context(scratch_file(".parquet")) if "clean" in selected else None
            consumers = [tally, *(load.write for load in loads.values())] if clean else []
            context.log.info(f"{label}: reading the file once: validate, cast"
                             + (", write the clean parquet, load " + ", ".join(loads) if clean else ""))
            if loads:  # the loads' threads are started: from here this one yields (cpu.py)
                yield_cpu()
            timeline["pass_started"] = time.time()
            result = _permanent_on_bad_input(
                write_clean_parquet, raw, clean, service, month_start(month), label, consumers, origin,
                _zone_locator(context, label, shapes_used) if service.located_zones else None)
            timeline["pass_finished"] = time.time()
            # Every row in every load's transaction before anything lands anywhere: a value
            # one target rejects (a NUL byte in Postgres text) keeps the month out of all.
            for load in loads.values():
                load.finish()
            raw_rows = result.rows
            if "raw" in selected:
                yield Output(raw, "raw", data_version=DataVersion(source.versioned(download.version)),
                             metadata={"url": MetadataValue.url(download.url), "rows": result.rows,
                                       "download_seconds": round(download.seconds, 3),
                                       "timeline": MetadataValue.json(timeline)})
            if clean:
                written = pq.ParquetFile(clean)  # its footer: the schema and rows stored
                stored_schema, clean_rows = written.schema_arrow, written.metadata.num_rows
                yield Output(clean, "clean", metadata={
                    **_clean_metadata(service, clean, result, shapes_used.get("version")),
                    "timeline": MetadataValue.json(timeline)})
                context.log.info(f"{label}: {result.rows} rows cast to the {service.name} schema")

        clean_checks = checks - {ROWS_RECONCILE}
        if clean_checks:
            if "clean" not in selected:  # a check on its own: tally the stored month
                stored = lake.fetch(clean_relative)
                tally.read(stored)
                stored_schema = pq.read_schema(stored)
            results = clean_check_results(service, tally, stored_schema, clean_checks)
            yield from results
            failed = blocking_failures(service, results)
            if failed:
                raise Failure(f"{label}: blocking check(s) {', '.join(failed)} failed; the month is kept in "
                              "the lake and not loaded into the warehouse or Postgres.", allow_retries=False)

        if "warehouse" in selected:
            yield Output(loads.get("warehouse") or lake.object_uri(clean_relative), "warehouse")
        if "postgres" in selected:
            yield Output(loads.get("postgres") or stream_parquet(lake.fetch(clean_relative)), "postgres")

    if ROWS_RECONCILE in checks:
        keys = trip_asset_keys(service)
        streamed = loads.get("postgres")
        counts = {
            # Counted by the pass over the file: counting a 20M-row csv.gz's lines again
            # took 6 s (and a download of it from GCS).
            "raw file": recorded_rows(context.instance, keys.raw, month) if raw_rows is None else raw_rows,
            "clean parquet": parquet_rows(lake.fetch(clean_relative)) if clean_rows is None else clean_rows,
            "warehouse": warehouse.month_rows(service.warehouse_table, month),
            # The month as the load's transaction saw it just before committing.
            "postgres": streamed.stats.in_month if streamed
            else postgres_month_rows(postgres, service.postgres_table, month),
        }
        yield reconcile_result(service, counts)


def _open_loads(
    context, service: TaxiService, month: str, label: str, selected: set[str]
) -> dict[str, MonthLoad]:
    """The streaming loads of the selected targets whose IO manager can take a stream."""
    loads: dict[str, MonthLoad] = {}
    warehouse_io = context.resources.warehouse_io_manager
    if "warehouse" in selected and hasattr(warehouse_io, "open_month"):
        loads["warehouse"] = warehouse_io.open_month(
            service.warehouse_table, SOURCE_MONTH_COLUMN, month, service.schema)
    if "postgres" in selected:
        loads["postgres"] = context.resources.postgres_io_manager.open_month(
            service.postgres_table, service.schema, month, service.pickup_column, label,
            service.warehouse_table)
    return loads


def _zone_locator(context, label: str, shapes_used: dict):
    """Builds the locator of the zone shapes in the lake, for a file with coordinates
    instead of zone IDs (yellow 2009-2010); only called for such a file. Their version goes
    into `shapes_used`, read before the zip: a newer zip landing meanwhile leaves the month
    looking stale (a needless re-locate), never fresh with old shapes."""

    def build():
        shapes_used["version"] = stored_version(context.instance, SHAPES_RAW_KEY, None)
        lake = context.resources.lake_io_manager
        try:
            path = lake.fetch(SHAPES_LAKE_PATH)
        except FileNotFoundError:
            raise BadTripFile(
                f"{label}: its trips carry coordinates, not zone IDs, and the zone shapes that locate "
                f"them are not in the lake: materialize {SHAPES_RAW_KEY.to_user_string()} first "
                "(taxi_zones_job).") from None
        started = time.monotonic()
        try:
            locator = ZoneLocator(read_zone_shapes(path, SHAPES_LAKE_PATH))
        except BadZoneShapes as err:
            raise BadTripFile(f"{label}: cannot locate its trips: {err}") from None
        context.log.info(f"{label}: locating trips in {len(locator.location_ids)} zones "
                         f"(zone shapes {shapes_used['version']}, "
                         f"grid built in {time.monotonic() - started:.2f} s)")
        return locator

    return build


def _permanent_on_bad_input(function, *args):
    try:
        return function(*args)
    except _PERMANENT as err:
        raise permanent(err) from None


def _clean_metadata(
    service: TaxiService, clean: Path, result: CleanResult, shapes_version: str | None = None
) -> dict:
    metadata = {
        "rows": result.rows,
        "min_pickup": str(result.min_pickup),
        "max_pickup": str(result.max_pickup),
        **TableMetadataSet(column_schema=service_table_schema(service)),
        "preview": preview_markdown(clean),
    }
    if result.located:
        for column, counts in result.located.items():
            end = "pickups" if column.startswith("PU") else "dropoffs"
            metadata[f"{end}_located"] = counts["located"]
            metadata[f"{end}_without_coordinates"] = counts["no coordinate"]
            metadata[f"{end}_in_no_zone"] = counts["in no zone"]
        metadata["zone_shapes_version"] = shapes_version or "unknown"
        metadata["zone_shapes"] = MetadataValue.asset(SHAPES_RAW_KEY)
    if PASSENGER_COUNT in result.null_counts:
        # The seeds printed these before/after filling with 0; we keep nulls honest.
        metadata["passenger_count_missing_before"] = result.null_counts[PASSENGER_COUNT]
        metadata["passenger_count_missing_after"] = stored_null_counts(clean)[PASSENGER_COUNT]
    return metadata

