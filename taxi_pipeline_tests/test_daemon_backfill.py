"""A backfill the way users launch one: `dagster dev` (webserver + daemon) with the
instance on a real Postgres, a 3-month backfill of two services through GraphQL
`launchPartitionBackfill`, then rows checked in every target."""

import time
from pathlib import Path

import pytest

from taxi_pipeline.targets import counts_agree

from .conftest import REPO, dev_month_counts, graphql

pytestmark = pytest.mark.slow  # starts servers or subprocesses of its own (docs/development.md)

MONTHS = ["2019-01", "2019-02", "2019-03"]
SERVICES_TO_LOAD = ["yellow", "green"]

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidStepError { invalidStepKey }
  }
}"""

STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status numCancelable runs(limit: 50) { runId status } }
    ... on PythonError { message }
  }
}"""


def test_a_backfill_launched_through_graphql_runs_through_the_daemon(dagster_dev):
    """One backfill per service (the services' partitions start in different months, so
    one backfill cannot span them), 3 months each, run by the daemon at the same time."""
    url, env, tmp_path = dagster_dev
    backfill_ids = []
    for service in SERVICES_TO_LOAD:
        assets = [
            {"path": [layer, name.format(c=service)]}
            for layer, name in [("lake", "raw_{c}_trips"), ("lake", "clean_{c}_trips"),
                                ("warehouse", "{c}_tripdata"), ("postgres", "{c}_taxi_trips")]
        ]
        launched = graphql(url, LAUNCH, {"params": {"assetSelection": assets, "partitionNames": MONTHS}})
        result = launched["launchPartitionBackfill"]
        assert result["__typename"] == "LaunchBackfillSuccess", result
        backfill_ids.append(result["backfillId"])

    deadline = time.monotonic() + 900
    run_ids = []
    for backfill_id in backfill_ids:
        while True:
            backfill = graphql(url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]
            runs = backfill["runs"]
            done = all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs)
            if backfill["status"] != "REQUESTED" and done:
                break
            assert time.monotonic() < deadline, backfill
            time.sleep(3)
        assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), backfill
        assert len(runs) == 1  # policies.backfill_policy: the 3 months in one run (yellow and green 12)
        assert {r["status"] for r in runs} == {"SUCCESS"}
        run_ids.extend(r["runId"] for r in runs)
    for service in SERVICES_TO_LOAD:
        for month in MONTHS:
            counts = dev_month_counts(env, service, month)
            assert counts_agree(counts), (service, month, counts)
    # Runs went side by side, but the DuckDB file's writers (each run's step) one at a time: the
    # `duckdb_warehouse` pool (limit 1), not dagster-duckdb's connection retries.
    steps = {f"{service}_month" for service in SERVICES_TO_LOAD}
    spans = sorted(_step_spans(tmp_path / "dagster_home", run_ids, steps))
    assert len(spans) == len(SERVICES_TO_LOAD)
    assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:], strict=False)), spans


def _step_spans(home, run_ids, steps) -> list[tuple[float, float]]:
    """(start, end) of those steps in those runs."""
    from dagster import DagsterEventType, DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    kinds = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS}
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        spans = {}
        for run_id in run_ids:
            for entry in instance.all_logs(run_id, of_type=kinds):
                if entry.step_key in steps:
                    spans.setdefault((run_id, entry.step_key), []).append(entry.timestamp)
    return [(min(times), max(times)) for times in spans.values()]


def test_a_backfill_queued_from_the_cli_is_run_by_the_daemon(dagster_dev):
    import subprocess
    import sys

    url, env, _ = dagster_dev
    dagster = str(Path(sys.executable).with_name("dagster"))
    subprocess.run(
        [dagster, "job", "backfill", "-w", str(REPO / "workspace.yaml"), "-l", "taxi_pipeline",
         "-j", "fhv_taxi_job",
         "--partitions", "2019-01,2019-02", "--noprompt"],
        cwd=REPO, env=env, check=True, capture_output=True,
    )

    deadline = time.monotonic() + 600
    for month in ("2019-01", "2019-02"):
        while not counts_agree(counts := dev_month_counts(env, "fhv", month)):
            assert time.monotonic() < deadline, (month, counts)
            time.sleep(3)
