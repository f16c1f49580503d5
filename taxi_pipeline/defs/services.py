"""Everything one TLC service is, from one factory fed by the registry (`services.py`):
its four monthly assets, their checks, its job and its monthly schedule.

What differs between yellow, green, fhv and fhvhv is data in the registry; this module
only says how a service becomes Dagster definitions.
"""

from __future__ import annotations

import functools

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    define_asset_job,
    definitions,
    schedule,
)

from taxi_pipeline.assets.checks import trip_checks
from taxi_pipeline.assets.trips import trip_asset_keys, trip_assets
from taxi_pipeline.environments import current_environment
from taxi_pipeline.materializations import stored_version
from taxi_pipeline.partitions import monthly_partitions
from taxi_pipeline.resources.source import TaxiSourceResource
from taxi_pipeline.services import SERVICES, TaxiService
from taxi_pipeline.source_months import LOOKBACK_MONTHS, month_run_request, newest_published
from taxi_pipeline.sources import Source, current_source


def service_definitions(service: TaxiService, source: Source, warehouse_kind: str) -> Definitions:
    """One service: raw file → clean parquet → warehouse → Postgres for each month, the checks
    on them, the job that runs a month, and the schedule that requests the newest month.

    `source` decides the raw file's type (the lake keeps it as published); `warehouse_kind`
    (duckdb, bigquery) is the warehouse asset's kind tag."""
    job = service_job(service.name)
    return Definitions(
        assets=trip_assets(service, source, warehouse_kind),
        asset_checks=trip_checks(service),
        jobs=[job],
        schedules=[newest_month_schedule(service, job)],
    )


@functools.cache
def service_job(name: str):
    """The service's job (one object per service: the source sensor targets the same one)."""
    service = SERVICES[name]
    return define_asset_job(
        service.job_name,
        selection=AssetSelection.groups(name),
        partitions_def=monthly_partitions(service),
        description=f"One month of {name} trips: download, clean, warehouse, Postgres.",
    )


def newest_month_schedule(service: TaxiService, job) -> ScheduleDefinition:
    """On the 1st at the service's hour (green 09:00, yellow 10:00, fhv 11:00, fhvhv 12:00
    UTC): the newest month the source has published (HTTP HEAD, newest month first), unless
    its last raw materialization already has the same file version. Never a month that is
    not published, never the same old month again. Off by default: turned on in the UI."""

    @schedule(
        name=f"{service.name}_monthly_schedule",
        job=job,
        cron_schedule=f"0 {service.schedule_hour} 1 * *",
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.STOPPED,
        description=f"The newest {service.name} month the source has published, once a month.",
    )
    def newest_month(context: ScheduleEvaluationContext, source: TaxiSourceResource):
        found = newest_published(source, service, context.scheduled_execution_time)
        if found is None:
            return SkipReason(f"The source has no {service.name} month in the last {LOOKBACK_MONTHS}.")
        month, version = found
        if stored_version(context.instance, trip_asset_keys(service).raw, month) == version:
            return SkipReason(f"{service.name} {month}, the newest published month, is loaded as {version}.")
        return month_run_request(service, month, version)

    return newest_month


def all_services(source: Source, warehouse_kind: str) -> Definitions:
    return Definitions.merge(
        *(service_definitions(service, source, warehouse_kind) for service in SERVICES.values())
    )


@definitions
def defs() -> Definitions:
    """Every service of the registry, for TAXI_SOURCE and TAXI_PIPELINE_ENV's warehouse."""
    return all_services(current_source(), current_environment().warehouse_kind)
