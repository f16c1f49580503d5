"""The newest month the source has published: what the freshness checks hold the warehouse to."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from taxi_pipeline.partitions import months_back
from taxi_pipeline.resources.source import TaxiSourceResource, published_at, version_token
from taxi_pipeline.services import TaxiService

LOOKBACK_MONTHS = 12
"""How far back the freshness check looks for the newest published month (the TLC lags ~2 months)."""


class PublishedMonth(NamedTuple):
    month: str
    version: str
    """The file's data version (as the raw asset records it)."""
    published_at: datetime | None
    """Its Last-Modified: when the source (re-)published it, if it says."""


def newest_published(
    source: TaxiSourceResource, service: TaxiService, now: datetime
) -> PublishedMonth | None:
    """The newest month the source has, looking back from `now`: one HEAD answers both its
    version and its publication time."""
    for month in months_back(now, LOOKBACK_MONTHS):
        headers = source.month_head(service, month)
        if headers is not None:
            return PublishedMonth(month, source.versioned(version_token(headers)), published_at(headers))
    return None
