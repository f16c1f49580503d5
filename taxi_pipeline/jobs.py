"""How a run executes its steps, and why a job is one service's months.

The jobs themselves are built with their service (`defs/services.py`) and the zones
(`defs/zones.py`); `definitions.py` sets the executor below for all of them.

A service-month is one step (`assets/month_step.py`: the four assets and their checks in
one pass, the loads on threads of their own beside it), run in the run's own process
(`in_process_executor`, also the default for materializations from the UI). Overlap
comes from threads inside that step, not from concurrent steps: a process per step costs
about 4 s of Python and Dagster start-up each (a 1.37M-row month: 33 s with a process
per step against 14 s in one process), and forking steps from a forkserver with the
project preloaded, two at a time, did not pay either (a 3M-row fhvhv month 41.6 s against
38.2 s, at 1.4 GB of summed RSS against 566 MB, 2026-11-23). The one step with its loads
on threads: 15.9 s at 808 MB (scripts/benchmark_floor.py, docs/performance.md).
Isolation comes one level up: a run (a month, or a backfill's few months, each committed
on its own) in a container of its own in production.

There is no job over all services: a job has one partitions definition, and the services
start in different months (yellow 2009-01, green 2014-01, fhv 2015-01, fhvhv 2019-02).
One shared range from 2009 would list 5-10 years of months that can never exist for
three of them. A month of every service is four runs: the source sensor requests each
new month per service, and a backfill per service covers a range (several months per
run: `policies.backfill_policy`).
"""

from dagster import DagsterInstance, DagsterRunStatus, RunRequest, RunsFilter, in_process_executor

from taxi_pipeline.assets.keys import trip_asset_keys
from taxi_pipeline.services import TaxiService

SOURCE_VERSION_TAG = "taxi/source_version"
"""The source file version a run was requested for (sensor and schedules)."""
ON_ITS_WAY = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
              DagsterRunStatus.STARTED]

RUN_EXECUTOR = in_process_executor

K8S_RUN_SIZE = {
    # service: (cpu request, memory request, memory limit) of a month's run pod
    "fhvhv": ("1", "1Gi", "2Gi"),   # ~20M rows a month: streamed, peak RSS ~800 MB measured
    "yellow": ("1", "768Mi", "1536Mi"),  # up to ~15M rows (2009-2015), ~3M since 2021
    "green": ("500m", "512Mi", "1Gi"),  # ~1.5M rows at most, ~60k since 2021
    "fhv": ("500m", "512Mi", "1Gi"),  # ~1-2M rows since 2019
}
"""Per-service sizing of a run's Kubernetes pod (the `dagster-k8s/config` tag the
K8sRunLauncher reads; ignored by every other launcher): a month streams in bounded memory,
so the size follows the service's biggest month, not the history."""


def k8s_run_tags(service: str) -> dict:
    cpu, memory, limit = K8S_RUN_SIZE[service]
    return {"dagster-k8s/config": {"container_config": {"resources": {
        "requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": limit}}}}}


def month_run_request(service: TaxiService, month: str, version: str) -> RunRequest:
    """A run of the service's job for `month`, keyed by the file version: never twice for one
    version. Its assets are named, though they are the whole job: a run of a job otherwise
    records no asset selection, and declarative automation would then take its raw file's
    update for news and request the steps the run already did (Dagster's
    `executed_with_root_target` reads the run's selection)."""
    return RunRequest(
        run_key=f"{service.name}:{month}:{version}",
        job_name=service.job_name,
        partition_key=month,
        asset_selection=list(trip_asset_keys(service)),
        tags={SOURCE_VERSION_TAG: version},
    )


def loaded_or_on_its_way(
    instance: DagsterInstance, service: TaxiService, month: str, version: str, stored: str | None
) -> str | None:
    """Why a month's file `version` needs no run (None when it does): its raw file was last
    loaded at that version (`stored`: `materializations.stored_version`), or a run for that
    version is queued or running. The one test the source sensor and the monthly schedules
    share, so neither requests what the other loaded or is loading (their run keys are
    their own: Dagster keeps them per instigator)."""
    if stored == version:
        return "loaded"
    running = instance.get_run_records(RunsFilter(
        job_name=service.job_name, statuses=ON_ITS_WAY,
        tags={"dagster/partition": month, SOURCE_VERSION_TAG: version}), limit=1)
    return "being loaded" if running else None
