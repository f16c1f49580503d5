"""The freshness checks' job and schedule: every hour when on, each service's warehouse
table is checked against the newest month the source has published (assets/freshness.py).

The source sensor and the monthly schedules (defs/services.py) request months,
declarative automation follows them, and this asks whether the result is what the source
has. Off by default, like what it watches (all ask the source over the network).
"""

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    ScheduleDefinition,
    define_asset_job,
    definitions,
)

from taxi_pipeline.assets.freshness import freshness_check_key
from taxi_pipeline.services import SERVICES


def freshness_definitions() -> Definitions:
    job = define_asset_job(
        "freshness_job",
        selection=AssetSelection.checks(*(freshness_check_key(s) for s in SERVICES.values())),
        description="Is the newest month each service's source has published in the warehouse?",
    )
    return Definitions(
        jobs=[job],
        schedules=[
            ScheduleDefinition(
                name="freshness_schedule",
                job=job,
                cron_schedule="17 * * * *",
                execution_timezone="UTC",
                default_status=DefaultScheduleStatus.STOPPED,
                description="Hourly: the freshness checks (a late month fails its check and alerts).",
            )
        ],
    )


@definitions
def defs() -> Definitions:
    return freshness_definitions()
