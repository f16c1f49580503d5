"""The code location's resources: those of the environment TAXI_PIPELINE_ENV names.

`report` and `connect` take theirs from here too, so they count and connect exactly as a
run does.
"""

from __future__ import annotations

from typing import Any

from dagster import Definitions, definitions

from taxi_pipeline.environments import Environment, current_environment


def pipeline_environment() -> Environment:
    return current_environment()


def pipeline_resources() -> dict[str, Any]:
    return current_environment().resources()


@definitions
def defs() -> Definitions:
    return Definitions(resources=pipeline_resources())
