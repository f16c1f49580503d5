"""Backfill a service's months from the command line, several months per run.

`dagster job backfill` makes a *job* backfill: one run per month, whatever the assets'
backfill policy. This submits an *asset* backfill of the service's four assets (what the
UI's Materialize -> backfill dialog and GraphQL `launchPartitionBackfill` with an asset
selection make), which runs as `policies.backfill_policy` says (yellow 12, green 12, fhv 12,
fhvhv 2 months per run). The daemon (`dg dev`, `dagster-daemon run`) executes it; its
progress is under Runs -> Backfills.

    DAGSTER_HOME=... python -m taxi_pipeline.backfills green 2019-01 2020-12 [-w workspace.yaml]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dagster import DagsterInstance, PartitionKeyRange

from taxi_pipeline.assets.keys import trip_asset_keys
from taxi_pipeline.partitions import monthly_partitions
from taxi_pipeline.services import SERVICES, TaxiService

WORKSPACE = Path(__file__).resolve().parents[1] / "workspace.yaml"


def month_range(service: TaxiService, first: str, last: str) -> list[str]:
    """The service's months from `first` to `last`, both included (`YYYY-MM`)."""
    months = monthly_partitions(service)
    for month in (first, last):
        if not months.has_partition_key(month):
            raise ValueError(f"{service.name} has no month {month!r}: its months run from "
                             f"{service.first_month} to the month the TLC publishes next, as YYYY-MM.")
    keys = months.get_partition_keys_in_range(PartitionKeyRange(first, last))
    if not keys:
        raise ValueError(f"{first}..{last}: the first month is after the last")
    return keys


def submit_backfill(instance: DagsterInstance, service: TaxiService, months: list[str],
                    workspace: Path = WORKSPACE) -> str:
    """Adds the asset backfill of `months` of `service` to the instance; its id."""
    # Dagster's own path (the GraphQL mutation's): no public API submits an asset backfill.
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget

    with WorkspaceProcessContext(instance, WorkspaceFileTarget(paths=[str(workspace)])) as process:
        backfill = PartitionBackfill.from_asset_partitions(
            backfill_id=make_new_backfill_id(), asset_graph=process.create_request_context().asset_graph,
            partition_names=months, asset_selection=list(trip_asset_keys(service)),
            backfill_timestamp=time.time(), tags={}, dynamic_partitions_store=instance,
            all_partitions=False, title=f"{service.name} {months[0]}..{months[-1]}", description=None,
            run_config=None,
        )
        instance.add_backfill(backfill)
    return backfill.backfill_id


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m taxi_pipeline.backfills",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("service", choices=list(SERVICES))
    parser.add_argument("first", help="first month, YYYY-MM")
    parser.add_argument("last", help="last month, YYYY-MM (included)")
    parser.add_argument("-w", "--workspace", type=Path, default=WORKSPACE)
    args = parser.parse_args(argv)
    service = SERVICES[args.service]
    try:
        months = month_range(service, args.first, args.last)
    except ValueError as err:
        parser.error(str(err))
    with DagsterInstance.get() as instance:
        backfill_id = submit_backfill(instance, service, months, args.workspace)
    print(f"backfill {backfill_id}: {service.name} {months[0]}..{months[-1]} ({len(months)} months); "
          "the daemon runs it (Runs -> Backfills in the UI)")


if __name__ == "__main__":
    main()
