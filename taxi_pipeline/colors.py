"""The color registry: one entry per taxi color drives files, assets, jobs and schemas.

Canonical column names are the release's own header names, so a learner's queries from
the course keep working; every month of a color is cast to exactly this Arrow schema.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TIMESTAMP = pa.timestamp("us")
"""Microseconds: what Parquet, Postgres, DuckDB and BigQuery all store without loss."""

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
    required: bool = True
    """A required column must be in the file's header; an optional one becomes nulls."""


@dataclass(frozen=True)
class TaxiColor:
    name: str
    pickup_column: str
    dropoff_column: str
    columns: tuple[Column, ...]
    schedule_hour: int
    """Hour (UTC) of the monthly run on the 1st, the course's cadence."""

    def file_name(self, month: str) -> str:
        """`month` is a partition key, `YYYY-MM`."""
        return f"{self.name}_tripdata_{month}.csv.gz"

    def raw_path(self, month: str) -> str:
        """Where the release file sits in the lake (`month` may be the template `{month}`)."""
        return f"raw/{self.name}/{self.file_name(month)}"

    def clean_path(self, month: str) -> str:
        return f"clean/{self.name}/{self.name}_tripdata_{month}.parquet"

    @property
    def warehouse_table(self) -> str:
        return f"{self.name}_tripdata"

    @property
    def postgres_table(self) -> str:
        return f"{self.name}_taxi_trips"

    def file_label(self, month: str) -> str:
        """How errors and logs name a month's file."""
        return f"{self.file_name(month)} (partition {month})"

    @property
    def schema(self) -> pa.Schema:
        """The canonical Arrow schema of the clean parquet and every target table."""
        fields = [pa.field(c.name, c.type, nullable=True) for c in self.columns]
        fields.append(pa.field(SOURCE_MONTH_COLUMN, TIMESTAMP, nullable=False))
        return pa.schema(fields)


def _id(name: str, description: str, type_: pa.DataType = pa.int16()) -> Column:
    return Column(name, type_, description)


def _amount(name: str, description: str) -> Column:
    return Column(name, pa.float64(), description)


_VENDOR = _id("VendorID", "TPEP/LPEP provider code (1 Creative Mobile, 2 VeriFone)")
_PASSENGERS = _id("passenger_count", "Passengers, as entered by the driver")
_DISTANCE = _amount("trip_distance", "Trip distance in miles from the taximeter")
_RATECODE = _id("RatecodeID", "Final rate code in effect at the end of the trip")
_STORE_FWD = Column("store_and_fwd_flag", pa.string(), "Y/N: trip held in vehicle memory")
_PU = _id("PULocationID", "TLC taxi zone of pickup", pa.int32())
_DO = _id("DOLocationID", "TLC taxi zone of dropoff", pa.int32())
_PAYMENT = _id("payment_type", "How the passenger paid (1 card, 2 cash, ...)")
_FARE = _amount("fare_amount", "Time-and-distance fare from the meter, USD")
_EXTRA = _amount("extra", "Miscellaneous extras and surcharges, USD")
_MTA = _amount("mta_tax", "MTA tax, USD")
_TIP = _amount("tip_amount", "Card tips, USD (cash tips are not recorded)")
_TOLLS = _amount("tolls_amount", "Tolls paid, USD")
_IMPROVEMENT = _amount("improvement_surcharge", "Improvement surcharge, USD")
_TOTAL = _amount("total_amount", "Total charged to passengers (excluding cash tips), USD")
_CONGESTION = Column(
    "congestion_surcharge",
    pa.float64(),
    "NYS congestion surcharge, USD (charged from 2019-02; a file without it loads as nulls)",
    required=False,
)


def _pickup(name: str) -> Column:
    return Column(name, TIMESTAMP, "When the meter was engaged")


def _dropoff(name: str) -> Column:
    return Column(name, TIMESTAMP, "When the meter was disengaged")


COLORS: dict[str, TaxiColor] = {
    c.name: c
    for c in (
        TaxiColor(
            name="yellow",
            pickup_column="tpep_pickup_datetime",
            dropoff_column="tpep_dropoff_datetime",
            schedule_hour=10,
            columns=(
                _VENDOR,
                _pickup("tpep_pickup_datetime"),
                _dropoff("tpep_dropoff_datetime"),
                _PASSENGERS,
                _DISTANCE,
                _RATECODE,
                _STORE_FWD,
                _PU,
                _DO,
                _PAYMENT,
                _FARE,
                _EXTRA,
                _MTA,
                _TIP,
                _TOLLS,
                _IMPROVEMENT,
                _TOTAL,
                _CONGESTION,
            ),
        ),
        TaxiColor(
            name="green",
            pickup_column="lpep_pickup_datetime",
            dropoff_column="lpep_dropoff_datetime",
            schedule_hour=9,
            columns=(
                _VENDOR,
                _pickup("lpep_pickup_datetime"),
                _dropoff("lpep_dropoff_datetime"),
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
                _amount("ehail_fee", "E-hail fee, USD (empty for whole months)"),
                _IMPROVEMENT,
                _TOTAL,
                _PAYMENT,
                _id("trip_type", "1 street-hail, 2 dispatch"),
                _CONGESTION,
            ),
        ),
        TaxiColor(
            name="fhv",
            pickup_column="pickup_datetime",
            dropoff_column="dropoff_datetime",
            schedule_hour=11,
            columns=(
                Column("dispatching_base_num", pa.string(), "TLC base license number"),
                _pickup("pickup_datetime"),
                _dropoff("dropoff_datetime"),
                _PU,
                _DO,
                _id("SR_Flag", "1 when part of a shared ride chain, else null"),
            ),
        ),
    )
}
