"""The models' code location: the dbt models (transform.py), the dashboards drawn from
them (dashboards.py), the pipeline's resources, the run executor and the automation sensor.

It is the second location of workspace.yaml (and of the image's gRPC servers): the models
read the trip tables the pipeline's location loads, by their asset keys, so the lineage and
automation run across the two; a run of a model imports dbt, a run of a month does not.
"""

from __future__ import annotations

from dagster import (
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    Definitions,
    define_asset_job,
    definitions,
)

from taxi_pipeline.defs.resources import pipeline_environment, pipeline_resources
from taxi_pipeline.jobs import RUN_EXECUTOR
from taxi_pipeline.models.dashboards import GROUP as DASHBOARDS
from taxi_pipeline.models.dashboards import dashboard_assets
from taxi_pipeline.models.transform import dbt_project, model_definitions


def models_automation() -> AutomationConditionSensorDefinition:
    return AutomationConditionSensorDefinition(
        "taxi_models_automation",
        target=AssetSelection.all(),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Declarative automation: the dbt models follow the trip tables and the zone "
        "lookup (several months of fact_trips: one backfill, one dbt call), the dashboards the marts.",
    )


def dashboard_definitions(warehouse_kind: str) -> Definitions:
    return Definitions(
        assets=dashboard_assets(warehouse_kind),
        jobs=[define_asset_job(
            "dashboard_job", selection=AssetSelection.groups(DASHBOARDS),
            description="The dashboards' charts and their HTML page (the lake's dashboard/ folder).")],
    )


@definitions
def defs() -> Definitions:
    kind = pipeline_environment().warehouse_kind
    return Definitions.merge(
        model_definitions(dbt_project(), kind),
        dashboard_definitions(kind),
        Definitions(resources=pipeline_resources(), executor=RUN_EXECUTOR, sensors=[models_automation()]),
    )
