"""Several months of a service in one run (a backfill's range), each month on its own.

A run's fixed cost (a fresh process importing Dagster and building the definitions) is
most of a small month's run, so a backfill gives a run several months
(`policies.backfill_policy`). Dagster hands such a run one step for the whole range, and
an `Output` of that step becomes one materialization per month, all with the same
metadata, written when the step yields it. Here a month keeps what a run of its own gives
it: `month_step` loads and commits it alone; its outputs go to their IO managers and are
reported as *that month's* materializations (its metadata, its data version, the input
versions it was made from) and its checks as that month's evaluations, as soon as it
commits; the next month's file downloads meanwhile (`prefetch.py`). A month that fails
is rolled back by `month_step`, logged with its partition, and the run goes on to the
next; the step fails at the end naming every failed month, so the months before and
after it stay loaded and materialized.

Retrying: a step retry (transient failures) and a re-execution *from failure* skip the
months this run (or the run it resumes) already loaded; a month that failed for good is
retried by launching it again (the UI's partition grid or backfill of failed partitions,
`dagster job execute --partition`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetRecordsFilter,
    DataVersion,
    Failure,
    Output,
    OutputContext,
)

from taxi_pipeline.assets.month_step import month_step
from taxi_pipeline.assets.prefetch import NextMonthDownload
from taxi_pipeline.io_managers.dagster_internals import (
    BACKFILL_ID_TAG,
    RESUME_RETRY_TAG,
    AssetCheckEvaluationTargetMaterializationData,
    compute_logical_data_version,
    data_version_tags,
)
from taxi_pipeline.services import TaxiService
from taxi_pipeline.sources import Source


def months_step(context: AssetExecutionContext, service: TaxiService, layout: Source) -> Iterator:
    """The step of a run of one month (Dagster stores and reports its outputs) or of a
    range of months (stored and reported here, month by month)."""
    months = list(context.partition_keys)
    if len(months) == 1:
        yield from month_step(context, service, layout, months[0])
        return
    done = _loaded_by_this_run(context, months)
    failed: dict[str, Exception] = {}
    todo = [month for month in months if month not in done]
    fetches = "raw" in context.selected_output_names
    with NextMonthDownload(context, service) as downloads:
        for number, month in enumerate(months, 1):
            label = f"{service.name} {month}"
            if month in done:
                context.log.info(f"{label}: loaded by this run before its retry; skipped")
                continue
            context.log.info(f"{label}: month {number} of {len(months)} in this run")
            prefetched = downloads.take(month)
            if fetches and (later := todo[todo.index(month) + 1:]):
                downloads.start(later[0])  # while this month loads
            try:
                with contextlib.closing(month_step(context, service, layout, month, prefetched)) as events:
                    for event in events:
                        yield from _reported(context, month, event)
            except Exception as err:  # noqa: BLE001 - a month's failure is reported, the rest go on
                failed[month] = err
                context.log.error(f"{label} failed; nothing of it was committed; the run goes on: "
                                  f"{_message(err)}")
    if failed:
        listed = "; ".join(f"{month}: {_message(err)}" for month, err in failed.items())
        raise Failure(
            f"{len(failed)} of {len(months)} {service.name} months failed (the others are loaded): {listed}",
            metadata={"failed_months": sorted(failed)},
            # Retried only when a month may pass on a second try; the loaded ones are skipped.
            allow_retries=any(not isinstance(err, Failure) or err.allow_retries for err in failed.values()),
        )


def _message(err: Exception) -> str:
    return (err.description if isinstance(err, Failure) else None) or f"{type(err).__name__}: {err}"


def _loaded_by_this_run(context: AssetExecutionContext, months: list[str]) -> set[str]:
    """The months whose every selected asset this run materialized already (a step retry),
    or the run it resumes from failure did."""
    run_ids = {context.run_id}
    if context.run.tags.get(RESUME_RETRY_TAG) == "true":
        run_ids |= {run.run_id for run in context.instance.get_run_group(context.run_id)[1]}
    done: set[str] | None = None
    for key in context.selected_asset_keys:
        records = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=key, asset_partitions=months), limit=len(months) * 4).records
        loaded = {r.partition_key for r in records if r.run_id in run_ids}
        done = loaded if done is None else done & loaded
    return done or set()


def _reported(context: AssetExecutionContext, month: str, event) -> Iterator:
    """`month_step`'s event as Dagster would report it in a run of `month` alone."""
    if isinstance(event, Output):
        yield _stored(context, month, event)
    elif isinstance(event, AssetCheckResult):
        yield _evaluation(context, month, event)
    else:
        yield event


def _stored(context: AssetExecutionContext, month: str, output: Output) -> AssetMaterialization:
    """Hands the output to its IO manager for `month`; the materialization of the month."""
    assets_def = context.assets_def
    key = assets_def.keys_by_output_name[output.output_name]
    spec = assets_def.specs_by_key[key]
    io_manager = getattr(context.resources, assets_def.get_io_manager_key_for_asset_key(key))
    partitions = assets_def.partitions_def
    output_context = OutputContext(
        step_key=context.op_execution_context.node_handle.name, name=output.output_name,
        run_id=context.run_id, definition_metadata=spec.metadata, log_manager=context.log,
        # The run's resources: without them OutputContext builds an empty set, and with it
        # an ephemeral instance per call (0.1-0.3 s of CPU each).
        resources=context.resources,
        asset_key=key, partition_key=month, asset_partitions_def=partitions,
        asset_partitions_subset=partitions.empty_subset().with_partition_keys([month]),
    )
    io_manager.handle_output(output_context, output.value)
    stored = output_context.consume_logged_metadata()
    tags = _version_tags(context, key, month, output.data_version)
    if backfill := context.run.tags.get(BACKFILL_ID_TAG):
        tags[BACKFILL_ID_TAG] = backfill
    return AssetMaterialization(asset_key=key, partition=month, metadata={**output.metadata, **stored},
                                tags=tags)


def _version_tags(context, key: AssetKey, month: str, given: DataVersion | None) -> dict[str, str]:
    """The data-version tags Dagster gives a materialization: the version (given by the
    step, or computed from the code version and the inputs' versions for the month) and
    the inputs it was made from, which the UI's stale status compares."""
    code_version = context.assets_def.specs_by_key[key].code_version or context.run_id
    inputs = {}
    for parent in context.assets_def.asset_deps[key]:
        record = context.instance.get_latest_data_version_record(parent, partition_key=month)
        version = _recorded_version(record) if record else None
        inputs[parent] = {"data_version": version or DataVersion("INITIAL"),
                          "storage_id": record.storage_id if record else None}
    version = given or compute_logical_data_version(
        code_version, {parent: meta["data_version"] for parent, meta in inputs.items()})
    return data_version_tags(version, code_version, inputs, given is not None)


def _recorded_version(record) -> DataVersion | None:
    event = record.event_log_entry.asset_materialization or record.event_log_entry.asset_observation
    value = event.tags.get("dagster/data_version") if event and event.tags else None
    return DataVersion(value) if value else None


def _evaluation(context: AssetExecutionContext, month: str, result: AssetCheckResult) -> AssetCheckEvaluation:
    """The check's evaluation for `month`, against the month's latest materialization."""
    key = result.asset_key
    spec = next(spec for spec in context.assets_def.check_specs if spec.key.name == result.check_name
                and spec.asset_key == key)
    records = context.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[month]), limit=1).records
    target = AssetCheckEvaluationTargetMaterializationData(
        storage_id=records[0].storage_id, run_id=records[0].run_id, timestamp=records[0].timestamp,
    ) if records else None
    return AssetCheckEvaluation(
        asset_key=key, check_name=result.check_name, passed=result.passed, metadata=result.metadata,
        target_materialization_data=target, severity=result.severity, description=result.description,
        blocking=spec.blocking, partition=month,
    )
