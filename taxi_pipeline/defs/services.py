"""Everything one TLC service is, from one factory fed by the registry (`services.py`):
its four monthly assets, their checks (freshness included), its job and its monthly
schedule.

What differs between yellow, green, fhv and fhvhv is data in the registry; this module
only says how a service becomes Dagster definitions.
"""

from __future__ import annotations

import functools
from datetime import timedelta

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

from taxi_pipeline.assets.freshness import freshness_check, freshness_check_key
from taxi_pipeline.assets.keys import trip_asset_keys
from taxi_pipeline.assets.trips import trip_assets
from taxi_pipeline.automation import DEFAULT_LATE_AFTER
from taxi_pipeline.environments import current_environment, late_after
from taxi_pipeline.jobs import k8s_run_tags, loaded_or_on_its_way, month_run_request
from taxi_pipeline.materializations import stored_version
from taxi_pipeline.partitions import monthly_partitions
from taxi_pipeline.resources.source import TaxiSourceResource
from taxi_pipeline.services import SERVICES, TaxiService
from taxi_pipeline.source_months import newest_published
from taxi_pipeline.sources import Source, current_source


def service_definitions(
    service: TaxiService, source: Source, warehouse_kind: str, late: timedelta = DEFAULT_LATE_AFTER
) -> Definitions:
    """One service: raw file → clean parquet → warehouse → Postgres for each month (one
    multi-asset, its checks with it), the warehouse table's freshness check (late `late`
    after the source published the newest month), and the job that runs a month.

    `source` decides the raw file's type (the lake keeps it as published); `warehouse_kind`
    (duckdb, bigquery) is the warehouse asset's kind tag."""
    return Definitions(
        assets=trip_assets(service, source, warehouse_kind),
        asset_checks=[freshness_check(service, late)],
        jobs=[service_job(service.name)],
        schedules=[monthly_schedule(service)],
    )


MONTHLY_CRON = "0 6 25 * *"
"""06:00 UTC on the 25th. The TLC publishes month M in month M+2, between the 17th and the
22nd in every upload the catalogue dates for 2023-06..2024-05 (one outlier, 2023-08's
files, on November 2nd), 47-52 days after M ends: on the 25th, M-2 is out."""


def monthly_schedule(service: TaxiService) -> ScheduleDefinition:
    """`{service}_monthly_schedule` (off by default, like the source sensor): on its day,
    a run of the service's job for the newest month the source has published, if that file
    version is not loaded (nor being loaded, by this or the source sensor), else nothing."""

    @schedule(
        name=f"{service.name}_monthly_schedule",
        job=service_job(service.name),
        cron_schedule=MONTHLY_CRON,
        execution_timezone="UTC",
        default_status=DefaultScheduleStatus.STOPPED,
        description=f"Monthly (the 25th, 06:00 UTC): the newest {service.name} month the source has "
        "published, unless that file version is loaded already.",
    )
    def _monthly(context: ScheduleEvaluationContext, source: TaxiSourceResource):
        newest = newest_published(source, service, context.scheduled_execution_time)
        if newest is None:
            return SkipReason(f"The source has published no {service.name} month in the last year.")
        stored = stored_version(context.instance, trip_asset_keys(service).raw, newest.month)
        why = loaded_or_on_its_way(context.instance, service, newest.month, newest.version, stored)
        if why:
            return SkipReason(f"{service.name} {newest.month}, the newest published, is {why} "
                              f"at this version ({newest.version}).")
        return month_run_request(service, newest.month, newest.version)

    return _monthly


@functools.cache
def service_job(name: str):
    """The service's job (one object per service: the source sensor targets the same one).
    A month's run checks what it loaded; the freshness check runs in `freshness_job`."""
    service = SERVICES[name]
    return define_asset_job(
        service.job_name,
        selection=AssetSelection.groups(name) - AssetSelection.checks(freshness_check_key(service)),
        partitions_def=monthly_partitions(service),
        description=f"One month of {name} trips: download, clean, warehouse, Postgres.",
        tags=k8s_run_tags(name),
    )


def all_services(source: Source, warehouse_kind: str, late: timedelta = DEFAULT_LATE_AFTER) -> Definitions:
    return Definitions.merge(
        *(service_definitions(service, source, warehouse_kind, late) for service in SERVICES.values())
    )


@definitions
def defs() -> Definitions:
    """Every service of the registry, for TAXI_SOURCE and TAXI_PIPELINE_ENV's warehouse."""
    return all_services(current_source(), current_environment().warehouse_kind, late_after())
