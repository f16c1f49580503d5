"""What automation keeps loaded (the load window) and when an asset follows its upstream.

The raw files are driven by the source (`tlc_source_sensor`): it requests the months of
the load window that are new or changed at the source, and re-uploads of any month already
loaded, whatever its age; older history is loaded only by an explicit backfill.
Everything downstream of a raw file follows it through declarative automation: a month
whose upstream month changed is materialized again, new and old months alike.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

from dagster import AssetSelection, AutomationCondition

from taxi_pipeline.partitions import months_back

OWNERS = ["team:data-engineering"]
"""Who answers for the assets in the catalog (Dagster's owners: a team or an email)."""
LAYER_CODE = {
    "raw": ("taxi_pipeline.resources.source", "taxi_pipeline.cleaning", "taxi_pipeline.conform"),
    "clean": ("taxi_pipeline.cleaning", "taxi_pipeline.conform", "taxi_pipeline.services",
              "taxi_pipeline.ingest.locate", "taxi_pipeline.ingest.zone_shapes"),
    "warehouse": ("taxi_pipeline.io_managers.warehouse", "taxi_pipeline.io_managers.bigquery",
                  "taxi_pipeline.io_managers.evolution", "taxi_pipeline.io_managers.streaming"),
    "postgres": ("taxi_pipeline.io_managers.postgres", "taxi_pipeline.io_managers.postgres_views",
                 "taxi_pipeline.io_managers.streaming"),
    "dashboards": ("taxi_pipeline.models.charts", "taxi_pipeline.models.dashboards"),
}
"""The modules whose code makes each layer's data: their hash is the layer's code version."""

DEFAULT_LATE_AFTER = timedelta(hours=24)
"""How long after the source publishes a month (or re-uploads it) it may be missing from
the warehouse before its freshness check fails: the source sensor asks every 6 h."""
DEFAULT_WINDOW_MONTHS = 6
"""The TLC publishes a month about two months after it ends: six calendar months hold the
three or four newest published months of each service (at most 24 runs on a first tick)."""


@dataclass(frozen=True)
class LoadWindow:
    """The months automation keeps loaded: from `since` (YYYY-MM) if set, else the last
    `months` calendar months (the current one included)."""

    months: int = DEFAULT_WINDOW_MONTHS
    since: str | None = None

    def __post_init__(self):
        if self.since is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", self.since):
            raise ValueError(f"TAXI_AUTOMATION_SINCE must look like 2024-01, not {self.since!r}")
        if self.months < 1:
            raise ValueError(f"TAXI_AUTOMATION_MONTHS must be at least 1, not {self.months}")

    def first_month(self, now: datetime) -> str:
        return self.since or months_back(now, self.months)[-1]

    def contains(self, month: str, now: datetime) -> bool:
        return month >= self.first_month(now)

    def describe(self, now: datetime) -> str:
        how = f"TAXI_AUTOMATION_SINCE={self.since}" if self.since else f"the last {self.months} months"
        return f"{self.first_month(now)} onwards ({how})"


def _when_inputs_settle(trigger: AutomationCondition, inputs_ready: AutomationCondition, label: str):
    """`trigger` since the asset was last requested or updated, once its inputs are ready
    and neither they nor the asset are being materialized."""
    return (
        trigger.since_last_handled()
        & inputs_ready
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label(label)


def follows_upstream(ignore: AssetSelection | None = None) -> AutomationCondition:
    """Dagster's `eager()` without its latest-time-window limit: a partition whose upstream
    partition was updated (a re-uploaded 2012 month too) is materialized once nothing it
    reads is missing or running. Not for never-loaded months: nothing upstream changed.
    Dependencies in `ignore` neither start nor hold it (the zone shapes a month is located
    with: re-locating is a backfill)."""
    condition = _when_inputs_settle(
        AutomationCondition.any_deps_updated(),
        ~AutomationCondition.any_deps_missing(),
        "follows its upstream",
    )
    return condition if ignore is None else condition.ignore(ignore).with_label(condition.get_label())


def aggregates_upstream() -> AutomationCondition:
    """For an unpartitioned table over monthly inputs (a mart): rebuilt when any input
    month changed, once every input has some data (`any_deps_missing` would wait for every
    month since 2009)."""
    return _when_inputs_settle(
        AutomationCondition.any_deps_updated(), _every_input_has_data(), "rebuilt when its inputs change"
    )


def drawn_when_inputs_change() -> AutomationCondition:
    """For a picture (a dashboard): redrawn when any input changed, once some input has
    data (a dashboard of two services draws while the other two are not loaded yet)."""
    return _when_inputs_settle(
        AutomationCondition.any_deps_updated(),
        AutomationCondition.any_deps_match(~AutomationCondition.missing()),
        "redrawn when its inputs change",
    )


def built_when_missing() -> AutomationCondition:
    """For views: built when missing or when their code changed, once what they read has
    data; a view shows new months of its tables without being rebuilt."""
    return _when_inputs_settle(
        AutomationCondition.missing() | AutomationCondition.code_version_changed(),
        _every_input_has_data(),
        "built when missing",
    )


def _every_input_has_data() -> AutomationCondition:
    """Each dependency has some partition materialized (for a monthly input: any month)."""
    return AutomationCondition.all_deps_match(~AutomationCondition.missing())


@cache
def code_version(layer: str) -> str:
    """A hash of the code that makes `layer`'s data (LAYER_CODE): it changes exactly when that
    code does, so the UI shows an asset whose code changed since its last materialization."""
    digest = hashlib.sha256()
    for module in LAYER_CODE[layer]:
        digest.update(Path(importlib.util.find_spec(module).origin).read_bytes())
    return digest.hexdigest()[:12]


def catalog(layer: str, **tags: str) -> dict:
    """Owners, tags (layer and the given ones) and code version of an asset."""
    return {"owners": OWNERS, "tags": {"layer": layer, **tags}, "code_version": code_version(layer)}
