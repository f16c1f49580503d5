"""The course's csv.gz mirror (DataTalksClub nyc-tlc-data releases): the TLC's CSVs as
they were before the 2022 switch to Parquet, the numbers the homework expects.

Its fhv files have 7 columns (`...,SR_Flag,Affiliated_base_number`; 2019 spelled
`dropOff_datetime,PUlocationID,DOlocationID`). Its two fhvhv months have an old 7-column
layout unlike the official 24 columns, so fhvhv is taken from `tlc` only.
"""

from taxi_pipeline.sources.base import Source

COURSE = Source(
    name="course",
    title="course's csv.gz mirror",
    suffix=".csv.gz",
    url_variable="TAXI_SOURCE_URL",
    default_url="https://github.com/DataTalksClub/nyc-tlc-data/releases/download",
    month_template="{service}/{file}",
    months={
        "yellow": ("2019-01", "2021-07"),
        "green": ("2019-01", "2021-07"),
        "fhv": ("2019-01", "2021-07"),
    },
)
