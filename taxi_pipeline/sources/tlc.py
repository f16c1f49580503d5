"""The official TLC trip records: Parquet, 2009 to now, re-uploaded from time to time.

The CDN answers HTTP 403 (not 404) for a month it has not published: S3 reports a
missing key as AccessDenied when listing is not public (catalogue README).
"""

from taxi_pipeline.sources.base import Source

TLC = Source(
    name="tlc",
    title="official TLC Parquet files",
    suffix=".parquet",
    url_variable="TAXI_TLC_URL",
    default_url="https://d37ci6vzurychx.cloudfront.net",
    month_template="trip-data/{file}",
)
