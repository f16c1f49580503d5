"""The pipeline's definitions for a given source, built the way the code location builds
them (`defs/`), but with no resources and no environment read: tests bring their own."""

from __future__ import annotations

from dagster import Definitions

from taxi_pipeline.assets.freshness import FRESHNESS_CHECK
from taxi_pipeline.defs.services import all_services
from taxi_pipeline.defs.zones import zone_definitions
from taxi_pipeline.sources import Source

WAREHOUSE_KIND = "duckdb"


def pipeline(source: Source) -> Definitions:
    """Every service (assets, checks, jobs, schedules) and the zones, for `source`."""
    return Definitions.merge(all_services(source, WAREHOUSE_KIND), zone_definitions(WAREHOUSE_KIND))


def assets_for(source: Source) -> list:
    """Every asset, with raw files of `source`'s type (the raw zone keeps files as published)."""
    return list(pipeline(source).assets)


def all_checks(source: Source) -> list:
    """The checks a month's job runs (the freshness checks run in freshness_job)."""
    return [c for c in pipeline(source).asset_checks
            if all(key.name != FRESHNESS_CHECK for key in c.check_keys)]
