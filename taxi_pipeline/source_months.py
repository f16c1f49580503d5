"""Which source months to request: what the source has published, and the run that loads it.

The freshness checks ask for the newest published month; the source sensor requests every
month whose file is new or changed, comparing the source's file version with the data
version the raw asset recorded (`materializations.stored_version`).
"""

from __future__ import annotations

from datetime import datetime

from dagster import RunRequest

from taxi_pipeline.partitions import months_back
from taxi_pipeline.resources.source import TaxiSourceResource
from taxi_pipeline.services import TaxiService

LOOKBACK_MONTHS = 12
"""How far back the freshness check looks for the newest published month (the TLC lags ~2 months)."""


def newest_published(
    source: TaxiSourceResource, service: TaxiService, now: datetime
) -> tuple[str, str] | None:
    """(month, data version) of the newest month the source has, looking back from `now`."""
    for month in months_back(now, LOOKBACK_MONTHS):
        version = source.month_version(service, month)
        if version is not None:
            return month, version
    return None


def month_run_request(service: TaxiService, month: str, version: str) -> RunRequest:
    """A run of the service's job for `month`, keyed by the file version: never twice for one version."""
    return RunRequest(
        run_key=f"{service.name}:{month}:{version}",
        job_name=service.job_name,
        partition_key=month,
        tags={"taxi/source_version": version},
    )
