"""The newest month the source has published: what the freshness checks hold the warehouse to."""

from __future__ import annotations

from datetime import datetime

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
