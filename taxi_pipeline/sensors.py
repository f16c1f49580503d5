"""Sensors: new or changed source months, and alerts on failed runs.

The source sensor asks the source (HTTP HEAD) for each color's months and requests a
run for a month whose file is new or whose version (ETag, else Last-Modified + size)
differs from the data version of its last raw materialization. An unchanged month is
never downloaded again: what the seeds wanted from Prefect's `cache_key_fn`.
"""

from concurrent.futures import ThreadPoolExecutor

from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DefaultSensorStatus,
    RunFailureSensorContext,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    run_failure_sensor,
    sensor,
)

from taxi_pipeline.assets.trips import trip_asset_keys
from taxi_pipeline.colors import COLORS
from taxi_pipeline.jobs import color_jobs
from taxi_pipeline.partitions import monthly_partitions
from taxi_pipeline.resources.alerts import AlertWebhookResource
from taxi_pipeline.resources.source import TaxiSourceResource

DATA_VERSION_TAG = "dagster/data_version"
HEAD_REQUESTS_IN_PARALLEL = 8


def stored_version(instance, key: AssetKey, month: str) -> str | None:
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[month]), limit=1
    ).records
    if not records:
        return None
    return records[0].asset_materialization.tags.get(DATA_VERSION_TAG)


@sensor(
    jobs=list(color_jobs.values()),
    minimum_interval_seconds=6 * 3600,
    default_status=DefaultSensorStatus.STOPPED,
    description="Requests months that are new or changed at the source (HTTP HEAD).",
)
def tlc_source_sensor(context: SensorEvaluationContext, source: TaxiSourceResource):
    wanted = [(name, month) for name in COLORS for month in monthly_partitions.get_partition_keys()]
    with ThreadPoolExecutor(HEAD_REQUESTS_IN_PARALLEL) as pool:
        versions = list(pool.map(lambda cm: source.version(f"{cm[0]}/{COLORS[cm[0]].file_name(cm[1])}"), wanted))
    requests = []
    for (name, month), version in zip(wanted, versions):
        if version is None:
            continue  # not published (yet)
        if stored_version(context.instance, trip_asset_keys(COLORS[name]).raw, month) == version:
            continue  # unchanged since its last download
        requests.append(
            RunRequest(
                run_key=f"{name}:{month}:{version}",
                job_name=color_jobs[name].name,
                partition_key=month,
                tags={"taxi/source_version": version},
            )
        )
    context.log.info(f"{len(requests)} of {len(wanted)} source months are new or changed")
    return requests or SkipReason("No source month is new or changed.")


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


all_sensors = [tlc_source_sensor, alert_on_run_failure]
