"""One monthly schedule per service job, on the 1st (green 09:00, yellow 10:00, fhv
11:00, fhvhv 12:00 UTC). Each tick asks the source (HTTP HEAD, newest month first) for
the newest month it has published, and requests that month unless its last raw
materialization already has the same file version: never a month that is not published,
never the same old month again. Off by default: turn them on in the UI (Automation)."""

from __future__ import annotations

from datetime import datetime

from dagster import (
    DefaultScheduleStatus,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from taxi_pipeline.assets.trips import trip_asset_keys
from taxi_pipeline.jobs import service_jobs
from taxi_pipeline.partitions import months_back
from taxi_pipeline.resources.source import TaxiSourceResource
from taxi_pipeline.materializations import stored_version
from taxi_pipeline.sensors import month_run_request
from taxi_pipeline.services import SERVICES, TaxiService

LOOKBACK_MONTHS = 12
"""How far back a tick looks for the newest published month (the TLC lags ~2 months)."""


def newest_published(
    source: TaxiSourceResource, service: TaxiService, now: datetime
) -> tuple[str, str] | None:
    """(month, data version) of the newest month the source has, looking back from `now`."""
    for month in months_back(now, LOOKBACK_MONTHS):
        version = source.month_version(service, month)
        if version is not None:
            return month, version
    return None


def build_newest_month_schedule(service: TaxiService) -> ScheduleDefinition:
    job = service_jobs[service.name]

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


service_schedules = [build_newest_month_schedule(service) for service in SERVICES.values()]
