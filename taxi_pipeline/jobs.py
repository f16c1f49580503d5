"""One monthly job per service, and one for the zone lookup.

Steps run in the run's own process (`in_process_executor`, also the default for
materializations from the UI, see definitions.py): a service-month is four streaming steps
and five checks, and a process per step costs about 4 s of Python and Dagster start-up
each - measured on a 1.37M-row month, 33 s per run with a process per step against 14 s
in one process, at a similar peak RSS. Forking the steps from a forkserver with the
project preloaded, two at a time (so the warehouse and Postgres loads overlap), did not
pay either: a 3M-row fhvhv month took 41.6 s against 38.2 s in one process, at 1.4 GB of
summed RSS against 566 MB (scripts/benchmark_floor.py, 2026-11-23). Isolation comes one level up: a run per month, in
a container of its own in production.

There is no job over all services: a job has one partitions definition, and the services
start in different months (yellow 2009-01, green 2014-01, fhv 2015-01, fhvhv 2019-02).
One shared range from 2009 would list 5-10 years of months that can never exist for
three of them. A month of every service is four runs: each service's schedule requests
its newest published month, and a backfill per job (UI or `dagster job backfill`)
covers a range.
"""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from taxi_pipeline.assets.zones import GROUP as ZONES_GROUP
from taxi_pipeline.services import SERVICES
from taxi_pipeline.partitions import service_partitions

service_jobs = {
    name: define_asset_job(
        service.job_name,
        selection=AssetSelection.groups(name),
        partitions_def=service_partitions[name],
        description=f"One month of {name} trips: download, clean, warehouse, Postgres.",
    )
    for name, service in SERVICES.items()
}

taxi_zones_job = define_asset_job(
    "taxi_zones_job",
    selection=AssetSelection.groups(ZONES_GROUP),
    description="The zone lookup into the lake, the warehouse and Postgres.",
)

all_jobs = [*service_jobs.values(), taxi_zones_job]
