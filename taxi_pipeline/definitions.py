"""Assembles the code location: assets, checks, jobs, schedules, sensors and resources."""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from taxi_pipeline.assets import all_assets
from taxi_pipeline.checks import all_checks
from taxi_pipeline.jobs import all_jobs
from taxi_pipeline.resources.environments import resources_for_environment
from taxi_pipeline.schedules import service_schedules
from taxi_pipeline.sensors import all_sensors


def build_definitions(environment: str | None = None) -> Definitions:
    return Definitions(
        assets=all_assets,
        asset_checks=all_checks,
        jobs=all_jobs,
        schedules=service_schedules,
        sensors=all_sensors,
        resources=resources_for_environment(environment),
        executor=in_process_executor,  # why: jobs.py
    )


defs = build_definitions()
