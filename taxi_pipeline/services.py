"""The service registry: one entry per TLC service drives files, assets, jobs and schemas.

Each service has ONE canonical schema that holds every period of its files, from either
source. Canonical names are today's official names (the course's queries use them);
older layouts reach them through the service's `renames` table (matched
case-insensitively, so `Airport_fee`, `dropOff_datetime` and `PUlocationID` need no
entry) and `value_maps` (the words yellow 2009-2010 used for codes). A reader can check
these tables against the catalogue in `taxi_pipeline_tests/data/catalogue/`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa

from taxi_pipeline.column_docs import doc

TIMESTAMP = pa.timestamp("us")
"""Microseconds: what Parquet, Postgres, DuckDB and BigQuery all store without loss, and
wide enough for the real out-of-range values (an fhv 2019-02 drop-off in 3019)."""

SOURCE_MONTH_COLUMN = "source_month"
"""Lineage column: the first instant of the month of the file a row came from.

Real files hold pickups from the previous month; such rows belong to the file (the
partition) they arrived in, so replacing a month keys on this column, not on pickup time.
"""


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    description: str
    required: bool = False
    """A required column is in every layout of the service; an optional one becomes nulls
    in a file that lacks it (it was added later, or dropped)."""
    zero_is_null: bool = False
    """Legacy coordinates: 0 meant "unknown"."""


@dataclass(frozen=True)
class TaxiService:
    name: str
    first_month: str
    """The first month the TLC published, `YYYY-MM`; partitions start here."""
    pickup_column: str
    dropoff_column: str
    columns: tuple[Column, ...]
    renames: Mapping[str, str] = field(default_factory=dict)
    """Lower-cased name in an older layout -> canonical name."""
    ignored: frozenset[str] = frozenset()
    """Lower-cased names of columns that carry nothing (a pandas index written by mistake)."""
    value_maps: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    """Canonical column -> {lower-cased, trimmed word in a file: canonical value}."""
    located_zones: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    """Zone column -> its (longitude, latitude) columns: a file with the coordinates and
    not the zone (yellow 2009-2010) gets the zone located from them (`ingest/locate.py`)."""
    coordinate_months: tuple[str, str] | None = None
    """First and last month whose official files carry coordinates instead of zone IDs
    (catalogue): the months a new version of the zone shapes would locate differently."""
    recent_month_rows: int = 0
    """Rows of the service's largest month since 2021 (catalogue, official files): the
    size a backfill's months usually have, from which a run's number of months follows
    (`policies.backfill_policy`)."""

    def file_name(self, month: str, suffix: str = ".csv.gz") -> str:
        """`month` is a partition key, `YYYY-MM` (or the template `{month}`)."""
        return f"{self.name}_tripdata_{month}{suffix}"

    def raw_path(self, month: str, suffix: str = ".csv.gz") -> str:
        """Where the source file sits in the lake, exactly as published."""
        return f"raw/{self.name}/{self.file_name(month, suffix)}"

    def clean_path(self, month: str) -> str:
        return f"clean/{self.name}/{self.file_name(month, '.parquet')}"

    @property
    def warehouse_table(self) -> str:
        return f"{self.name}_tripdata"

    @property
    def postgres_table(self) -> str:
        return f"{self.name}_taxi_trips"

    @property
    def cluster_by(self) -> list[str]:
        """BigQuery clustering inside a month: nearly every query bounds pickup time (and a
        month's file holds some trips of other months, so partitions alone do not prune
        it), and zone-level queries (revenue or trips by pickup zone) come next."""
        return [self.pickup_column, "PULocationID"]

    @property
    def job_name(self) -> str:
        return f"{self.name}_taxi_job"

    def file_label(self, month: str, suffix: str = ".csv.gz") -> str:
        """How errors and logs name a month's file."""
        return f"{self.file_name(month, suffix)} (partition {month})"

    def canonical_name(self, source_name: str) -> str | None:
        """The canonical column a file's column feeds, None if it is ignored."""
        lower = source_name.strip().lower()
        if lower in self.ignored:
            return None
        return self.renames.get(lower, self._by_lower.get(lower, source_name))

    @property
    def _by_lower(self) -> dict[str, str]:
        return {c.name.lower(): c.name for c in self.columns}

    @property
    def schema(self) -> pa.Schema:
        """The canonical Arrow schema of the clean parquet and every target table."""
        fields = [pa.field(c.name, c.type, nullable=True) for c in self.columns]
        fields.append(pa.field(SOURCE_MONTH_COLUMN, TIMESTAMP, nullable=False))
        return pa.schema(fields)


def _code(name: str, description: str, required: bool = True) -> Column:
    return Column(name, pa.int16(), description, required)


def _zone(name: str, description: str, required: bool = True) -> Column:
    return Column(name, pa.int32(), description, required)


def _amount(name: str, description: str, required: bool = True) -> Column:
    return Column(name, pa.float64(), description, required)


def _text(name: str, description: str, required: bool = True) -> Column:
    return Column(name, pa.string(), description, required)


def _time(name: str, description: str, required: bool = True) -> Column:
    return Column(name, TIMESTAMP, description, required)


def _coordinate(name: str, description: str) -> Column:
    return Column(name, pa.float64(), description, zero_is_null=True)


_VENDOR = _code("VendorID", doc("vendorid"))
_PASSENGERS = _code("passenger_count", doc("passenger_count"))
_DISTANCE = _amount("trip_distance", doc("trip_distance"))
_RATECODE = _code("RatecodeID", doc("ratecodeid"))
_STORE_FWD = _text("store_and_fwd_flag", doc("store_and_fwd_flag"))
_PAYMENT = _code("payment_type", doc("payment_type"))
_FARE = _amount("fare_amount", doc("fare_amount"))
_EXTRA = _amount("extra", doc("extra"))
_MTA = _amount("mta_tax", doc("mta_tax"))
_TIP = _amount("tip_amount", doc("tip_amount"))
_TOLLS = _amount("tolls_amount", doc("tolls_amount"))
_IMPROVEMENT = _amount("improvement_surcharge", doc("improvement_surcharge"), required=False)
_TOTAL = _amount("total_amount", doc("total_amount"))
_CONGESTION = _amount("congestion_surcharge", doc("congestion_surcharge"), required=False)
_CBD = _amount("cbd_congestion_fee", doc("cbd_congestion_fee"), required=False)
_REQUEST_SOURCE = _text("request_source", doc("request_source"), required=False)
UNKNOWN_ZONE = 264
"""The lookup's "Unknown" zone: what the TLC's files give a trip end with no location;
a located trip end with no (or a 0) coordinate gets it."""
OUTSIDE_ZONES = 265
"""The lookup's last ID ("Outside of NYC" in the TLC's newer lookup, "Unknown" in the
course's): a located trip end whose point is in no zone (outside the city, in the water)."""
_PU = _zone("PULocationID", doc("pickup_locationid"))
_DO = _zone("DOLocationID", doc("dropoff_locationid"))

STORE_AND_FORWARD_WORDS = {"y": "Y", "1": "Y", "1.0": "Y", "n": "N", "0": "N", "0.0": "N"}
"""store_and_fwd_flag as written in every period (2009 stores it as a double)."""

LEGACY_YELLOW_VALUES = {
    "VendorID": {"cmt": 1, "vts": 2, "dds": 3},
    "payment_type": {
        "credit": 1, "cre": 1, "crd": 1,
        "cash": 2, "cas": 2, "csh": 2,
        "no charge": 3, "no": 3,
        "dispute": 4, "dis": 4,
    },
    "store_and_fwd_flag": STORE_AND_FORWARD_WORDS,
}
"""Yellow 2009-2010 words -> today's codes (the map of toddwschneider/nyc-taxi-data,
`setup_files/populate_yellow_trips.sql`; catalogue README). Matched lower-cased and
trimmed; a word not listed is an error naming it. Digits parse as the code they are."""

SERVICES: dict[str, TaxiService] = {
    s.name: s
    for s in (
        TaxiService(
            name="yellow",
            first_month="2009-01",
            recent_month_rows=3_723_833,
            pickup_column="tpep_pickup_datetime",
            dropoff_column="tpep_dropoff_datetime",
            columns=(
                _VENDOR,
                _time("tpep_pickup_datetime", doc("pickup_datetime")),
                _time("tpep_dropoff_datetime", doc("dropoff_datetime")),
                _PASSENGERS,
                _DISTANCE,
                _RATECODE,
                _STORE_FWD,
                _zone("PULocationID", doc("pickup_locationid", "2009-2010: located from the coordinates."),
                      required=False),
                _zone("DOLocationID", doc("dropoff_locationid", "2009-2010: located from the coordinates."),
                      required=False),
                _PAYMENT,
                _FARE,
                _EXTRA,
                _MTA,
                _TIP,
                _TOLLS,
                _IMPROVEMENT,
                _TOTAL,
                _CONGESTION,
                _amount("airport_fee", doc("airport_fee", "Airport_fee in the files from 2023-02."),
                        required=False),
                _CBD,
                _REQUEST_SOURCE,
                _coordinate("pickup_longitude", doc("longitude", "The pickup.")),
                _coordinate("pickup_latitude", doc("latitude", "The pickup.")),
                _coordinate("dropoff_longitude", doc("longitude", "The dropoff.")),
                _coordinate("dropoff_latitude", doc("latitude", "The dropoff.")),
            ),
            # catalogue: yellow 2009-01..2009-12 and 2010-01..2010-12
            renames={
                "vendor_name": "VendorID",  # 2009
                "vendor_id": "VendorID",  # 2010
                "trip_pickup_datetime": "tpep_pickup_datetime",  # 2009
                "trip_dropoff_datetime": "tpep_dropoff_datetime",  # 2009
                "pickup_datetime": "tpep_pickup_datetime",  # 2010
                "dropoff_datetime": "tpep_dropoff_datetime",  # 2010
                "start_lon": "pickup_longitude",  # 2009
                "start_lat": "pickup_latitude",  # 2009
                "end_lon": "dropoff_longitude",  # 2009
                "end_lat": "dropoff_latitude",  # 2009
                "rate_code": "RatecodeID",  # 2009 (double), 2010 (string/int64)
                "store_and_forward": "store_and_fwd_flag",  # 2009 (double)
                "fare_amt": "fare_amount",  # 2009
                "surcharge": "extra",  # 2009-2010
                "tip_amt": "tip_amount",  # 2009
                "tolls_amt": "tolls_amount",  # 2009
                "total_amt": "total_amount",  # 2009
            },
            ignored=frozenset({"__index_level_0__"}),  # 2010-02, 2010-03
            value_maps=LEGACY_YELLOW_VALUES,
            located_zones={
                "PULocationID": ("pickup_longitude", "pickup_latitude"),
                "DOLocationID": ("dropoff_longitude", "dropoff_latitude"),
            },
            coordinate_months=("2009-01", "2010-12"),
        ),
        TaxiService(
            name="green",
            first_month="2014-01",
            recent_month_rows=110_891,
            pickup_column="lpep_pickup_datetime",
            dropoff_column="lpep_dropoff_datetime",
            columns=(
                _VENDOR,
                _time("lpep_pickup_datetime", doc("pickup_datetime")),
                _time("lpep_dropoff_datetime", doc("dropoff_datetime")),
                _STORE_FWD,
                _RATECODE,
                _PU,
                _DO,
                _PASSENGERS,
                _DISTANCE,
                _FARE,
                _EXTRA,
                _MTA,
                _TIP,
                _TOLLS,
                _amount("ehail_fee", doc("ehail_fee")),
                _IMPROVEMENT,
                _TOTAL,
                _PAYMENT,
                _code("trip_type", doc("trip_type")),
                _CONGESTION,
                _CBD,
                _REQUEST_SOURCE,
            ),
            value_maps={"store_and_fwd_flag": STORE_AND_FORWARD_WORDS},
        ),
        TaxiService(
            name="fhv",
            first_month="2015-01",
            recent_month_rows=1_628_438,
            pickup_column="pickup_datetime",
            dropoff_column="dropoff_datetime",  # dropOff_datetime in the files
            columns=(
                _text("dispatching_base_num", doc("dispatching_base_num")),
                _time("pickup_datetime", doc("pickup_datetime")),
                _time("dropoff_datetime", doc("dropoff_datetime")),
                _zone("PULocationID", doc("pickup_locationid", "PUlocationID in the files.")),
                _zone("DOLocationID", doc("dropoff_locationid", "DOlocationID in the files.")),
                _code("SR_Flag", doc("sr_flag")),
                _text("Affiliated_base_number", doc("affiliated_base_number"), required=False),
            ),
        ),
        TaxiService(
            name="fhvhv",
            first_month="2019-02",
            recent_month_rows=21_280_788,
            pickup_column="pickup_datetime",
            dropoff_column="dropoff_datetime",
            columns=(
                _text("hvfhs_license_num", doc("hvfhs_license_num")),
                _text("dispatching_base_num", doc("dispatching_base_num")),
                _text("originating_base_num", doc("originating_base_num")),
                _time("request_datetime", doc("request_datetime")),
                _time("on_scene_datetime", doc("on_scene_datetime")),
                _time("pickup_datetime", doc("pickup_datetime")),
                _time("dropoff_datetime", doc("dropoff_datetime")),
                _PU,
                _DO,
                _amount("trip_miles", doc("trip_miles")),
                Column("trip_time", pa.int64(), doc("trip_time"), required=True),
                _amount("base_passenger_fare", doc("base_passenger_fare")),
                _amount("tolls", doc("tolls")),
                _amount("bcf", doc("bcf")),
                _amount("sales_tax", doc("sales_tax")),
                _amount("congestion_surcharge", doc("congestion_surcharge")),
                _amount("airport_fee", doc("airport_fee")),
                _amount("tips", doc("tips")),
                _amount("driver_pay", doc("driver_pay")),
                _text("shared_request_flag", doc("shared_request_flag")),
                _text("shared_match_flag", doc("shared_match_flag")),
                _text("access_a_ride_flag", doc("access_a_ride_flag")),
                _text("wav_request_flag", doc("wav_request_flag")),
                _text("wav_match_flag", doc("wav_match_flag")),
                _CBD,
            ),
        ),
    )
}
