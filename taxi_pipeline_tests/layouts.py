"""Official-layout Parquet files made from canonical rows, for fixtures and the sample mirror.

`layouts(service)` reads the catalogue (`data/catalogue/official_parquet_schemas.json`):
one entry per run of months whose files share exact column names and types. `encode`
writes canonical rows the way that period's real files hold them (the catalogue's names,
in its order, with its Arrow types: integer codes as doubles, null-typed empty columns,
yellow 2009-2010 words, text timestamps and coordinates, `large_string` ...), and
`expected` is what cleaning must give back. Where the catalogue has no type (`None`), the
choice is written next to `_UNKNOWN`.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from taxi_pipeline.services import SOURCE_MONTH_COLUMN, TaxiService

CATALOGUE = Path(__file__).resolve().with_name("data") / "catalogue" / "official_parquet_schemas.json"
_TYPES = {
    "string": pa.string(), "large_string": pa.large_string(), "double": pa.float64(),
    "int64": pa.int64(), "int32": pa.int32(), "null": pa.null(), "timestamp[us]": pa.timestamp("us"),
}
WORDS = {"VendorID": {1: "CMT", 2: "VTS", 3: "DDS"},
         "payment_type": {1: "Credit", 2: "CASH", 3: "No Charge", 4: "Dispute"}}
"""Yellow 2009-2010 spellings (mixed case, as in the files) of today's codes."""


@dataclass(frozen=True)
class Layout:
    service: str
    first_month: str
    last_month: str
    columns: tuple[tuple[str, str | None], ...]

    @property
    def id(self) -> str:
        return f"{self.service}-{self.first_month}..{self.last_month}"


def layouts(service: str) -> list[Layout]:
    entries = json.loads(CATALOGUE.read_text())[service]
    return [
        Layout(
            service,
            e["first_month"],
            e["last_month"],
            tuple((c["name"], c["arrow_type"]) for c in e["columns"]),
        )
        for e in entries
    ]


def _unknown(service: TaxiService, canonical: str, layout: Layout) -> pa.DataType:
    """No public dump shows the type: yellow 2010 is taken as text like 2009 (vendor words,
    text timestamps); other columns as today's files type them."""
    column = next(c for c in service.columns if c.name == canonical)
    legacy = service.name == "yellow" and layout.first_month < "2011"
    if legacy and (canonical in WORDS or pa.types.is_timestamp(column.type)):
        return pa.string()
    if pa.types.is_integer(column.type):
        return pa.int64()
    return column.type


def file_type(service: TaxiService, layout: Layout, name: str, arrow_type: str | None) -> pa.DataType:
    canonical = service.canonical_name(name)
    if canonical is None:
        return pa.int64()  # __index_level_0__
    return _unknown(service, canonical, layout) if arrow_type is None else _TYPES[arrow_type]


def encode(canonical: pa.Table, service: TaxiService, layout: Layout) -> pa.Table:
    """Canonical rows -> a table with the layout's exact column names and types."""
    n = canonical.num_rows
    arrays, fields = [], []
    for name, arrow_type in layout.columns:
        target = file_type(service, layout, name, arrow_type)
        source = service.canonical_name(name)
        if source is None:
            values = pa.array(range(n), pa.int64())
        else:
            values = _encode_column(canonical.column(source).combine_chunks(), source, target, service)
        arrays.append(values)
        fields.append(pa.field(name, target))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _encode_column(values: pa.Array, canonical: str, target: pa.DataType, service: TaxiService) -> pa.Array:
    if pa.types.is_null(target):
        return pa.nulls(len(values))
    column = next(c for c in service.columns if c.name == canonical)
    if column.zero_is_null:
        values = pc.fill_null(values, 0.0)  # the files wrote 0 for "unknown"
    if pa.types.is_string(target) and canonical in WORDS:
        words = WORDS[canonical]
        return pa.array(
            [None if v is None else words.get(v, str(v)) for v in values.to_pylist()], pa.string()
        )
    if pa.types.is_floating(target) and pa.types.is_string(values.type):  # store_and_forward 1.0/0.0
        return pa.array([None if v is None else float(v == "Y") for v in values.to_pylist()], target)
    if pa.types.is_string(target) and pa.types.is_timestamp(values.type):
        return pc.strftime(values, "%Y-%m-%d %H:%M:%S")
    return values.cast(target)


def expected(canonical: pa.Table, service: TaxiService, layout: Layout) -> pa.Table:
    """What cleaning the encoded file must give: columns the layout lacks, or holds as
    null-typed, are nulls; a zone the layout gives as coordinates is the zone the point was
    placed in (`complete`), 264 without a coordinate, 265 in the ocean; everything else
    comes back as it was."""
    fed = {}
    for name, arrow_type in layout.columns:
        target = service.canonical_name(name)
        if target is not None:
            fed[target] = arrow_type != "null"
    arrays = []
    for c in service.columns:
        coordinates = service.located_zones.get(c.name)
        if not fed.get(c.name) and coordinates and all(fed.get(x) for x in coordinates):
            arrays.append(located_zones(canonical, c.name, coordinates))
        else:
            column = canonical.column(c.name) if fed.get(c.name) else pa.nulls(canonical.num_rows, c.type)
            arrays.append(column)
    arrays.append(canonical.column(SOURCE_MONTH_COLUMN))
    return pa.Table.from_arrays(arrays, schema=service.schema)


def located_zones(canonical: pa.Table, zone: str, coordinates: tuple[str, str]) -> pa.Array:
    lon = canonical.column(coordinates[0]).to_pylist()
    lat = canonical.column(coordinates[1]).to_pylist()
    zones = canonical.column(zone).to_pylist()
    return pa.array([
        264 if x is None or y is None else 265 if (x, y) == OCEAN else z
        for x, y, z in zip(lon, lat, zones, strict=True)], pa.int32())


# --- the TLC's real zone shapes (data/zones), and points placed inside known zones --------

ZONES = Path(__file__).resolve().with_name("data") / "zones"
OCEAN = (-73.5, 40.2)
"""A point in the Atlantic, south of Long Island: in no zone."""


def zip_zone_shapes(dest: Path, folder: str = "") -> Path:
    """The real shapefile zipped as the TLC serves it: at the zip's root, or in `folder`."""
    import zipfile

    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(ZONES.glob("taxi_zones.*")):
            info = zipfile.ZipInfo(folder + path.name, date_time=(2015, 9, 21, 0, 0, 0))
            archive.writestr(info, path.read_bytes(), zipfile.ZIP_DEFLATED)
    return dest


@functools.cache
def zone_shapes():
    import tempfile

    from taxi_pipeline.ingest.zone_shapes import read_zone_shapes

    with tempfile.TemporaryDirectory() as tmp:
        return read_zone_shapes(zip_zone_shapes(Path(tmp) / "taxi_zones.zip"))


@functools.cache
def zone_locator():
    from taxi_pipeline.ingest.locate import ZoneLocator

    return ZoneLocator(zone_shapes())


def point_in_zone(location_id: int, seed: int) -> tuple[float, float]:
    """A point well inside the zone (10 m from its border), the same for the same seed."""
    import random

    import shapely

    inner = _inner(location_id)
    x0, y0, x1, y1 = inner.bounds
    rng = random.Random(seed)
    for _ in range(1000):
        x, y = round(rng.uniform(x0, x1), 6), round(rng.uniform(y0, y1), 6)
        if shapely.contains_xy(inner, x, y):
            return x, y
    point = inner.representative_point()
    return point.x, point.y


@functools.cache
def _inner(location_id: int):
    import shapely

    shapes = zone_shapes()
    polygon = shapes.polygons[list(shapes.location_ids).index(location_id)]
    inner = polygon.buffer(-0.0001)
    inner = polygon if inner.is_empty else inner
    shapely.prepare(inner)
    return inner


def _coordinates(zones: list, seed: int) -> tuple[list, list]:
    """Coordinates for trip ends in real `zones`: a point inside 1..263; 264 (unknown), and
    one end in 11, no coordinate; 265 (outside NYC), and one end in 17, the ocean."""
    lon, lat = [], []
    for i, zone in enumerate(zones):
        if zone is None or zone == 264 or i % 11 == seed % 11:
            x = y = None
        elif zone == 265 or i % 17 == seed % 17:
            x, y = OCEAN
        else:
            x, y = point_in_zone(zone, seed * 1_000_003 + i)
        lon.append(x)
        lat.append(y)
    return lon, lat


# --- canonical rows to encode: the bundled real rows, completed where they are empty ------

DATA = CATALOGUE.parents[1]


def _clean_csv(service: TaxiService, text: bytes, month: str) -> pa.Table:
    import gzip
    import tempfile

    import pyarrow.parquet as pq

    from taxi_pipeline.cleaning import write_clean_parquet
    from taxi_pipeline.partitions import month_start

    with tempfile.TemporaryDirectory() as tmp:
        src, dest = Path(tmp) / f"{service.name}.csv.gz", Path(tmp) / "clean.parquet"
        src.write_bytes(gzip.compress(text))
        write_clean_parquet(src, dest, service, month_start(month), src.name)
        return pq.read_table(dest)


def _heads(service: str) -> bytes:
    """The real head rows of every month of a service, under one header (cut last lines dropped)."""
    lines: list[bytes] = []
    for path in sorted((DATA / "heads").glob(f"{service}_tripdata_*.csv")):
        data = path.read_bytes()
        head, *rows = data[: data.rfind(b"\n") + 1].splitlines(keepends=True)
        lines = lines or [head]
        lines += rows
    return b"".join(lines)


def real_rows(service: TaxiService) -> pa.Table:
    """Canonical rows from the bundled real files: yellow 2021-01's head, the green and fhv
    heads of 2019-01..2020-06, and for fhvhv (no real rows here) the fhv heads."""
    import gzip

    if service.name == "yellow":
        text = gzip.decompress((DATA / "yellow_tripdata_2021-01.head.csv.gz").read_bytes())
        return _clean_csv(service, text[: text.rfind(b"\n") + 1], "2021-01")
    if service.name == "green":
        return _clean_csv(service, _heads("green"), "2019-01")
    from taxi_pipeline.services import SERVICES

    fhv = _clean_csv(SERVICES["fhv"], _heads("fhv"), "2019-01")
    return fhv if service.name == "fhv" else _fhvhv_from_fhv(fhv, service)


def _fhvhv_from_fhv(fhv: pa.Table, service: TaxiService) -> pa.Table:
    """fhvhv rows synthesized from real fhv rows (bases, times, zones); fares and flags are
    made up deterministically. Labelled as synthesized wherever they are used."""
    import datetime as dt

    rows = fhv.to_pylist()
    out = []
    for i, r in enumerate(rows):
        pickup, dropoff = r["pickup_datetime"], r["dropoff_datetime"] or r["pickup_datetime"]
        fare = round(7.5 + (i * 37 % 400) / 10, 2)
        out.append({
            "hvfhs_license_num": ["HV0003", "HV0005", "HV0004", "HV0002"][i % 4],
            "dispatching_base_num": r["dispatching_base_num"],
            "originating_base_num": r["dispatching_base_num"] if i % 3 else None,
            "request_datetime": pickup - dt.timedelta(minutes=3 + i % 7),
            "on_scene_datetime": pickup - dt.timedelta(minutes=1) if i % 2 else None,
            "pickup_datetime": pickup,
            "dropoff_datetime": dropoff,
            "PULocationID": r["PULocationID"] or 264,
            "DOLocationID": r["DOLocationID"] or 265,
            "trip_miles": round(0.4 + (i * 13 % 170) / 10, 2),
            "trip_time": int((dropoff - pickup).total_seconds()),
            "base_passenger_fare": fare,
            "tolls": 0.0 if i % 5 else 6.55,
            "bcf": round(fare * 0.025, 2),
            "sales_tax": round(fare * 0.08875, 2),
            "congestion_surcharge": 2.75 if i % 4 else 0.0,
            "airport_fee": 0.0 if i % 9 else 2.5,
            "tips": 0.0 if i % 3 else 2.0,
            "driver_pay": round(fare * 0.72, 2),
            "shared_request_flag": "N" if i % 10 else "Y",
            "shared_match_flag": "N",
            "access_a_ride_flag": " " if i % 2 else "N",
            "wav_request_flag": "N",
            "wav_match_flag": "N" if i % 6 else "Y",
            "cbd_congestion_fee": 1.5 if i % 2 else 0.0,
            SOURCE_MONTH_COLUMN: r[SOURCE_MONTH_COLUMN],
        })
    return pa.Table.from_pylist(out, schema=service.schema)


def _trip_end_coordinates(table: pa.Table) -> dict:
    """Legacy coordinates placed in each trip end's real zone (yellow's rows have zones)."""
    if "pickup_longitude" not in table.column_names:
        return {}
    out = {}
    for seed, (zone, lon, lat) in enumerate([("PULocationID", "pickup_longitude", "pickup_latitude"),
                                             ("DOLocationID", "dropoff_longitude", "dropoff_latitude")]):
        x, y = _coordinates(table.column(zone).to_pylist(), seed + 1)
        out[lon], out[lat] = pa.array(x, pa.float64()), pa.array(y, pa.float64())
    return out


def complete(table: pa.Table, service: TaxiService) -> pa.Table:
    """Give columns the real rows leave empty (added after 2021, or legacy) some values, so
    every layout's column carries data through the round trip."""
    n = table.num_rows
    made_up = {
        "airport_fee": pa.array([1.25 if i % 7 == 0 else 0.0 for i in range(n)]),
        "cbd_congestion_fee": pa.array([0.75 if i % 2 else 0.0 for i in range(n)]),
        "request_source": pa.array([["Street-hail", "App", None][i % 3] for i in range(n)]),
        **_trip_end_coordinates(table),
        "Affiliated_base_number": table.column("dispatching_base_num")
        if "dispatching_base_num" in table.column_names
        else None,
        "SR_Flag": pa.array([1 if i % 8 == 0 else None for i in range(n)], pa.int16()),
    }
    for name, values in made_up.items():
        if name in table.column_names and values is not None and table.column(name).null_count == n:
            table = table.set_column(
                table.column_names.index(name), name, values.cast(table.schema.field(name).type)
            )
    return table


def moved_to(table: pa.Table, service: TaxiService, month: str) -> pa.Table:
    """The rows with every timestamp moved by whole months into `month`, and source_month set."""
    from taxi_pipeline.partitions import month_start

    start = month_start(month)
    old = table.column(SOURCE_MONTH_COLUMN)[0].as_py()
    months = (start.year - old.year) * 12 + start.month - old.month
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            values = table.column(i).to_pylist()
            table = table.set_column(i, field, pa.array([_add_months(v, months) for v in values], field.type))
    return table.set_column(table.column_names.index(SOURCE_MONTH_COLUMN), SOURCE_MONTH_COLUMN,
                            pa.array([start] * table.num_rows, pa.timestamp("us")))


def _add_months(value, months: int):
    if value is None:
        return None
    total = value.year * 12 + value.month - 1 + months
    year, month = divmod(total, 12)
    try:
        return value.replace(year=year, month=month + 1)
    except ValueError:  # the 31st into a 30-day month
        return value.replace(year=year, month=month + 1, day=28)


def official_sample(service: TaxiService, month: str, rows: int | None = None) -> pa.Table:
    """Canonical rows for an official `month`: real rows, completed, moved into the month."""
    table = _completed(service.name)
    if rows is not None:
        table = table.slice(0, rows)
    return moved_to(table, service, month)


@functools.cache
def _completed(name: str) -> pa.Table:
    from taxi_pipeline.services import SERVICES

    return complete(real_rows(SERVICES[name]), SERVICES[name])


def layout_of(service: str, month: str) -> Layout:
    return next(layout for layout in layouts(service) if layout.first_month <= month <= layout.last_month)
