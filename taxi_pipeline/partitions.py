"""Monthly partitions per service, from its first published month to the present one.

No end date: the definitions add a month as time passes, with no code change or
redeploy. `end_offset=1` lists the month in progress too, so the source sensor can
request a month as soon as the source publishes it; until then it fails at once as
"not published" (the TLC publishes a month about two months after it ends).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from dagster import MonthlyPartitionsDefinition

from taxi_pipeline.services import TaxiService

MONTH_FORMAT = "%Y-%m"

def monthly_partitions(service: TaxiService) -> MonthlyPartitionsDefinition:
    """The service's months; keys look like the file names: `2021-01` is
    `yellow_tripdata_2021-01.parquet`. Equal for equal services, so the assets, checks and
    job of a service share them."""
    return MonthlyPartitionsDefinition(start_date=service.first_month, fmt=MONTH_FORMAT, end_offset=1)


def month_start(partition_key: str) -> datetime:
    return datetime.strptime(partition_key, MONTH_FORMAT)


def month_window(partition_key: str) -> tuple[datetime, datetime]:
    """[first instant of the month, first instant of the next)."""
    start = month_start(partition_key)
    return start, (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def months_back(moment: datetime, count: int) -> list[str]:
    """The month of `moment` and the `count - 1` before it, newest first."""
    year, month = moment.year, moment.month
    keys = []
    for _ in range(count):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return keys
