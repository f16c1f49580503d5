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
        assert len(runs) == len(MONTHS)  # BackfillPolicy.multi_run(1): one run per month
        assert {r["status"] for r in runs} == {"SUCCESS"}
    for service in SERVICES_TO_LOAD:
        for month in MONTHS:
            counts = dev_month_counts(env, service, month)
            assert counts_agree(counts), (service, month, counts)


def test_a_backfill_queued_from_the_cli_is_run_by_the_daemon(dagster_dev):
    import subprocess
    import sys

    url, env, _ = dagster_dev
    dagster = str(Path(sys.executable).with_name("dagster"))
    subprocess.run(
        [dagster, "job", "backfill", "-w", str(REPO / "workspace.yaml"), "-j", "fhv_taxi_job",
         "--partitions", "2019-01,2019-02", "--noprompt"],
        cwd=REPO, env=env, check=True, capture_output=True,
    )

    deadline = time.monotonic() + 600
    for month in ("2019-01", "2019-02"):
        while not counts_agree(counts := dev_month_counts(env, "fhv", month)):
            assert time.monotonic() < deadline, (month, counts)
            time.sleep(3)
