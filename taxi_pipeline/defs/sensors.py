"""Sensors: new or changed source months, the assets that follow them, alerts.

The source sensor asks the source (HTTP HEAD) about the months automation keeps loaded
(the load window, `automation.LoadWindow`: by default the last six calendar months) and
requests a run for a month whose file is new or whose version (ETag, else Last-Modified +
size) differs from the data version of its last raw materialization. An unchanged month is
never downloaded again: what the seeds wanted from Prefect's `cache_key_fn`. Once a week
it also asks about every month already loaded, whatever its age, because the TLC
re-uploads batches of old months (2025-04, 2026-03, 2026-09): a re-upload is requested,
a month outside the window that was never loaded is never asked about nor requested (a
backfill loads history). The zone lookup and the zone shapes are asked about on every tick
too: dim_zones, and so fact_trips, need the lookup; yellow 2009-2010 are located with the
shapes. HEAD requests run 8 at a time; a busy CDN (429/5xx) is retried
with backoff, and a month it stays busy for is asked again on the next tick.

`taxi_automation` evaluates the assets' automation conditions (automation.py): the zones'
tables follow their files. The service months' own steps are evaluated by
`taxi_month_automation`, which requests one run per month (a backfill of their months would
batch several per run: `policies.backfill_policy`). The dbt models, in their own code
location, follow the trip tables by that location's `taxi_models_automation`
(models/definitions.py). The failure alert watches the runs of both locations.
"""

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
    RunFailureSensorContext,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    definitions,
    run_failure_sensor,
    sensor,
)

from taxi_pipeline.assets.keys import trip_asset_keys
from taxi_pipeline.assets.zones import SHAPES_KEYS, ZONE_KEYS, ZONE_SOURCE_PATH
from taxi_pipeline.automation import LoadWindow
from taxi_pipeline.defs.services import service_job
from taxi_pipeline.defs.zones import zones_job
from taxi_pipeline.environments import load_window
from taxi_pipeline.ingest.zone_shapes import SHAPES_SOURCE_PATH
from taxi_pipeline.jobs import SOURCE_VERSION_TAG, loaded_or_on_its_way, month_run_request
from taxi_pipeline.materializations import stored_version
from taxi_pipeline.partitions import monthly_partitions
from taxi_pipeline.resources.alerts import AlertWebhookResource
from taxi_pipeline.resources.source import TaxiSourceResource, TransientSourceError
from taxi_pipeline.services import SERVICES

HEAD_REQUESTS_IN_PARALLEL = 8
LOADED_SCAN_EVERY = timedelta(days=7)
UNANSWERED = object()
"""A month the source stayed busy for: asked again next tick."""


def _now() -> datetime:
    return datetime.now(UTC)


def months_to_ask(instance, window: LoadWindow, now: datetime, loaded_too: bool) -> dict:
    """(service, month) -> why it is asked: every partition in the window, and with
    `loaded_too` every month already loaded outside it."""
    wanted = {}
    for service in SERVICES.values():
        months = monthly_partitions(service).get_partition_keys(current_time=now)
        wanted.update({(service.name, m): "in the window" for m in months if window.contains(m, now)})
        if loaded_too:
            loaded = instance.get_materialized_partitions(trip_asset_keys(service).raw)
            wanted.update({(service.name, m): "loaded before" for m in sorted(loaded)
                           if not window.contains(m, now)})
    return wanted


def source_sensor(window: LoadWindow | None = None) -> SensorDefinition:
    """`tlc_source_sensor`: every 6 h when on (off by default), the months of the load window
    that are new or re-uploaded at the source, and re-uploads of months loaded before."""
    window = window or load_window()

    @sensor(
        jobs=[*(service_job(name) for name in SERVICES), zones_job()],
        minimum_interval_seconds=6 * 3600,
        default_status=DefaultSensorStatus.STOPPED,
        description="Requests the load window's months that are new or re-uploaded at the source "
        "(HTTP HEAD), and re-uploads of any month loaded before (weekly).",
    )
    def tlc_source_sensor(context: SensorEvaluationContext, source: TaxiSourceResource):
        now = _now()
        cursor = json.loads(context.cursor) if context.cursor else {}
        last_scan = cursor.get("full_scan_at")
        loaded_too = last_scan is None or now - datetime.fromisoformat(last_scan) >= LOADED_SCAN_EVERY
        wanted = months_to_ask(context.instance, window, now, loaded_too)

        def ask(pair):
            name, month = pair
            return _answer(context, f"{name} {month}", lambda: source.month_version(SERVICES[name], month))

        with ThreadPoolExecutor(HEAD_REQUESTS_IN_PARALLEL) as pool:
            versions = list(pool.map(ask, wanted))
        requests, reasons, unanswered = [], [], 0
        for (name, month), version in zip(wanted, versions, strict=True):
            if version is UNANSWERED:
                unanswered += 1
                continue
            if version is None:
                continue  # not published (yet), or not in this source
            stored = stored_version(context.instance, trip_asset_keys(SERVICES[name]).raw, month)
            if loaded_or_on_its_way(context.instance, SERVICES[name], month, version, stored):
                continue  # unchanged since its last download (by this sensor or a schedule)
            requests.append(month_run_request(SERVICES[name], month, version))
            reasons.append(f"{name} {month} ({'new' if stored is None else 're-uploaded'}, "
                           f"{wanted[name, month]})")
        for what, path, keys, run_key in ZONE_FILES:
            zone_request = _zone_request(context, source, what, path, keys, run_key)
            if zone_request is UNANSWERED:
                unanswered += 1
            elif zone_request is not None:
                requests.append(zone_request)
                reasons.append(f"the {what} (new or re-uploaded)")
        if loaded_too and not unanswered:
            cursor["full_scan_at"] = now.isoformat()
        scope = f"window {window.describe(now)}" + (" and every month loaded before" if loaded_too else "")
        context.log.info(
            f"{len(requests)} of {len(wanted)} source months asked ({scope}) are new or changed; "
            f"{unanswered} unanswered" + (f": {', '.join(reasons)}" if reasons else "")
        )
        return SensorResult(
            run_requests=requests,
            cursor=json.dumps(cursor),
            skip_reason=None
            if requests
            else SkipReason(f"No source month is new or changed ({len(wanted)} asked: {scope})."),
        )

    return tlc_source_sensor


def _answer(context, what: str, question):
    """The source's answer to `question` (a HEAD), or UNANSWERED when it stayed busy or out
    of reach: asked again on the next tick."""
    try:
        return question()
    except (TransientSourceError, OSError) as err:
        context.log.warning(f"{what}: no answer from the source ({err}); asking next tick")
        return UNANSWERED


ZONE_FILES = [
    ("zone lookup", ZONE_SOURCE_PATH, ZONE_KEYS, "zones"),
    ("zone shapes", SHAPES_SOURCE_PATH, SHAPES_KEYS, "zone_shapes"),
]
"""(what, source path, its assets - the raw file first -, run key prefix) of the zone files
the sensor keeps loaded (the lookup's run keys are the ones it always had)."""


def _zone_request(context, source: TaxiSourceResource, what: str, path: str, keys: list, run_key: str):
    """A run of taxi_zones_job for a zone file that is new or changed at the source: the
    lookup (the models' dim_zones, and so fact_trips, need it; the TLC revises it, 2024) or
    the shapes (what locates yellow 2009-2010, and what maps draw)."""
    token = _answer(context, what, lambda: source.version(path))
    if token is None or token is UNANSWERED:
        return token
    version = source.versioned(token)
    if stored_version(context.instance, keys[0], None) == version:
        return None
    return RunRequest(run_key=f"{run_key}:{version}", job_name="taxi_zones_job", asset_selection=keys,
                      tags={SOURCE_VERSION_TAG: version})


def automation_sensors() -> list[AutomationConditionSensorDefinition]:
    """`taxi_automation` and `taxi_month_automation` (on by default): materialize what
    follows a changed month. They only react to what was loaded (by the source sensor, a
    schedule, a backfill or by hand), so they download nothing by themselves."""
    months = AssetSelection.groups(*SERVICES)
    return [
        AutomationConditionSensorDefinition(
            "taxi_automation",
            target=AssetSelection.all() - months,
            default_status=DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=30,
            description="Declarative automation: the zones' tables follow their files.",
        ),
        AutomationConditionSensorDefinition(
            "taxi_month_automation",
            target=months,
            default_status=DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=30,
            emit_backfills=False,
            description="Declarative automation: a month's clean file and tables follow its raw file "
            "(one run per month).",
        ),
    ]


def failure_alert_sensor() -> SensorDefinition:
    """`alert_on_run_failure` (on by default): a failed run's job, partition, first error and
    link, posted to TAXI_ALERT_WEBHOOK_URL; the models' location's runs too."""

    @run_failure_sensor(
        default_status=DefaultSensorStatus.RUNNING,
        monitor_all_code_locations=True,
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
    return Definitions(sensors=[source_sensor(), *automation_sensors(), failure_alert_sensor()])
