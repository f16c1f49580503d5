"""Monthly partitions over the nyc-tlc-data releases: 2019-01 through 2021-07."""

from __future__ import annotations

from datetime import datetime

from dagster import MonthlyPartitionsDefinition

MONTH_FORMAT = "%Y-%m"

monthly_partitions = MonthlyPartitionsDefinition(
    start_date="2019-01", end_date="2021-08", fmt=MONTH_FORMAT
)
"""Keys look like the file names: `2021-01` is `yellow_tripdata_2021-01.csv.gz`."""


def month_start(partition_key: str) -> datetime:
    return datetime.strptime(partition_key, MONTH_FORMAT)
