"""Sensors: new or changed source months, and alerts on failed runs.

The source sensor asks the source (HTTP HEAD) for each service's months and requests a
run for a month whose file is new or whose version (ETag, else Last-Modified + size)
differs from the data version of its last raw materialization. An unchanged month is
never downloaded again: what the seeds wanted from Prefect's `cache_key_fn`.

About 700 files exist; the sensor asks about the recent months on every tick and about
the whole history once a week (its cursor records when), because the TLC re-uploads
batches of old months (2025-04, 2026-03, 2026-09). HEAD requests run 8 at a time; a busy
CDN (429/5xx) is retried with backoff, and a month it stays busy for is asked again on
the next tick (a full scan that missed months is repeated).
"""

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from dagster import (
    DefaultSensorStatus,
    Definitions,
    RunFailureSensorContext,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    definitions,
    run_failure_sensor,
    sensor,
)

from taxi_pipeline.assets.trips import trip_asset_keys
from taxi_pipeline.defs.services import service_job
from taxi_pipeline.materializations import stored_version
from taxi_pipeline.partitions import monthly_partitions, months_back
from taxi_pipeline.resources.alerts import AlertWebhookResource
from taxi_pipeline.resources.source import TaxiSourceResource, TransientSourceError
from taxi_pipeline.services import SERVICES
from taxi_pipeline.source_months import month_run_request

HEAD_REQUESTS_IN_PARALLEL = 8
RECENT_MONTHS = 4
"""Asked on every tick: the TLC publishes a month ~2 months after it ends."""
FULL_SCAN_EVERY = timedelta(days=7)
UNANSWERED = object()
"""A month the source stayed busy for: asked again next tick."""


def _now() -> datetime:
    return datetime.now(UTC)


def months_to_ask(now: datetime, full: bool) -> list[tuple[str, str]]:
    """(service, month) pairs: every partition when `full`, else the recent months."""
    recent = set(months_back(now, RECENT_MONTHS))
    return [
        (service.name, month)
        for service in SERVICES.values()
        for month in monthly_partitions(service).get_partition_keys(current_time=now)
        if full or month in recent
    ]


def source_sensor() -> SensorDefinition:
    """`tlc_source_sensor`: every 6 h when on (off by default), the months that are new or
    re-uploaded at the source, as runs of their service's job."""

    @sensor(
        jobs=[service_job(name) for name in SERVICES],
        minimum_interval_seconds=6 * 3600,
        default_status=DefaultSensorStatus.STOPPED,
        description="Requests months that are new or re-uploaded at the source (HTTP HEAD).",
    )
    def tlc_source_sensor(context: SensorEvaluationContext, source: TaxiSourceResource):
        now = _now()
        cursor = json.loads(context.cursor) if context.cursor else {}
        last_full = cursor.get("full_scan_at")
        full = last_full is None or now - datetime.fromisoformat(last_full) >= FULL_SCAN_EVERY
        wanted = months_to_ask(now, full)

        def ask(pair):
            name, month = pair
            try:
                return source.month_version(SERVICES[name], month)
            except (TransientSourceError, OSError) as err:
                context.log.warning(f"{name} {month}: no answer from the source ({err}); asking next tick")
                return UNANSWERED

        with ThreadPoolExecutor(HEAD_REQUESTS_IN_PARALLEL) as pool:
            versions = list(pool.map(ask, wanted))
        requests, unanswered = [], 0
        for (name, month), version in zip(wanted, versions, strict=True):
            if version is UNANSWERED:
                unanswered += 1
                continue
            if version is None:
                continue  # not published (yet), or not in this source
            if stored_version(context.instance, trip_asset_keys(SERVICES[name]).raw, month) == version:
                continue  # unchanged since its last download
            requests.append(month_run_request(SERVICES[name], month, version))
        if full and not unanswered:
            cursor["full_scan_at"] = now.isoformat()
        scope = "all" if full else "recent"
        context.log.info(
            f"{len(requests)} of {len(wanted)} source months ({scope}) are new or changed; "
            f"{unanswered} unanswered"
        )
        return SensorResult(
            run_requests=requests,
            cursor=json.dumps(cursor),
            skip_reason=None
            if requests
            else SkipReason(f"No source month is new or changed ({scope} months asked)."),
        )

    return tlc_source_sensor


def failure_alert_sensor() -> SensorDefinition:
    """`alert_on_run_failure` (on by default): a failed run's job, partition, first error and
    link, posted to TAXI_ALERT_WEBHOOK_URL."""

    @run_failure_sensor(
        default_status=DefaultSensorStatus.RUNNING,
        description="Posts failed runs (job, partition, error, link) to TAXI_ALERT_WEBHOOK_URL.",
    )
    def alert_on_run_failure(context: RunFailureSensorContext, alerts: AlertWebhookResource):
        run = context.dagster_run
        partition = run.tags.get("dagster/partition", "-")
        errors = [
            e.event_specific_data.error.message.strip()
            for e in context.get_step_failure_events()
            if e.event_specific_data and e.event_specific_data.error
        ] or [context.failure_event.message or "run failed"]
        text = (
            f":red_circle: taxi_pipeline run failed\n"
            f"job: {run.job_name}\npartition: {partition}\n"
            f"error: {errors[0][:1500]}\nrun: {alerts.run_link(run.run_id)}"
        )
        alerts.send(text)

    return alert_on_run_failure


@definitions
def defs() -> Definitions:
    return Definitions(sensors=[source_sensor(), failure_alert_sensor()])
