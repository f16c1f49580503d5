"""The clean step's contract: any well-formed month comes out with exactly the canonical
schema and the same values; a missing optional column becomes nulls."""

import csv
import gzip
import io
from datetime import datetime

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taxi_pipeline.assets.keys import trip_asset_keys
from taxi_pipeline.cleaning import write_clean_parquet
from taxi_pipeline.partitions import month_start
from taxi_pipeline.services import SERVICES, SOURCE_MONTH_COLUMN, TaxiService


def _values(type_: pa.DataType, name: str, service: TaxiService):
    if pa.types.is_string(type_) and name in service.value_maps:  # e.g. store_and_fwd_flag Y/N
        return st.none() | st.sampled_from(sorted(set(service.value_maps[name].values())))
    if name in {c.name for c in service.columns if c.zero_is_null}:  # legacy coordinates
        return st.none() | st.floats(-180, 180).filter(lambda v: v != 0)
    if pa.types.is_timestamp(type_):
        times = st.datetimes(datetime(2018, 12, 1), datetime(2021, 8, 31)).map(
            lambda d: d.replace(microsecond=0)
        )
        return times if name == service.pickup_column else st.none() | times
    if pa.types.is_integer(type_):
        bits = type_.bit_width
        return st.none() | st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if pa.types.is_floating(type_):
        return st.none() | st.floats(allow_nan=False, allow_infinity=False)
    return st.none() | st.text(alphabet="ABNY0123456789 -/", min_size=1, max_size=8)


def months(service: TaxiService):
    """A month's rows as Python values, in canonical column order (without source_month)."""
    row = st.tuples(*(_values(c.type, c.name, service) for c in service.columns))
    return st.lists(row, min_size=1, max_size=40)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return repr(value) if isinstance(value, float) else str(value)


def csv_gz(service: TaxiService, rows, line_end: str = "\n") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=line_end)
    writer.writerow([c.name for c in service.columns])
    writer.writerows([[_text(v) for v in row] for row in rows])
    return gzip.compress(out.getvalue().encode())


def expected_table(service: TaxiService, rows, month: str) -> pa.Table:
    columns = list(zip(*rows, strict=True))
    # strict=False: a month with no rows has no columns here
    arrays = [pa.array(list(values), c.type) for c, values in zip(service.columns, columns, strict=False)]
    arrays.append(pa.array([month_start(month)] * len(rows), pa.timestamp("us")))
    return pa.Table.from_arrays(arrays, schema=service.schema)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_well_formed_month_cleans_to_the_canonical_schema_and_values(tmp_path, data):
    service = SERVICES[data.draw(st.sampled_from(sorted(SERVICES)))]
    rows = data.draw(months(service))
    line_end = data.draw(st.sampled_from(["\n", "\r\n"]))
    src = tmp_path / service.file_name("2020-03")
    src.write_bytes(csv_gz(service, rows, line_end))
    dest = tmp_path / "clean.parquet"

    result = write_clean_parquet(src, dest, service, month_start("2020-03"), src.name)

    table = pq.read_table(dest)
    assert table.schema.equals(service.schema)
    assert result.rows == len(rows)
    assert table.equals(expected_table(service, rows, "2020-03"))


def test_a_missing_optional_column_becomes_nulls(tmp_path):
    service = SERVICES["yellow"]
    header, row = (
        "VendorID,tpep_pickup_datetime,tpep_dropoff_datetime,passenger_count,trip_distance,"
        "RatecodeID,store_and_fwd_flag,PULocationID,DOLocationID,payment_type,fare_amount,extra,"
        "mta_tax,tip_amount,tolls_amount,improvement_surcharge,total_amount",
        "1,2019-01-01 00:46:40,2019-01-01 00:53:20,1,1.50,1,N,151,239,1,7,0.5,0.5,1.65,0,0.3,9.95",
    )
    src = tmp_path / "yellow_tripdata_2019-01.csv.gz"
    src.write_bytes(gzip.compress(f"{header}\n{row}\n".encode()))

    write_clean_parquet(src, tmp_path / "c.parquet", service, month_start("2019-01"), src.name)

    table = pq.read_table(tmp_path / "c.parquet")
    assert table.schema.equals(service.schema)
    assert table.column("congestion_surcharge").to_pylist() == [None]
    assert table.column(SOURCE_MONTH_COLUMN).to_pylist() == [datetime(2019, 1, 1)]


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=months(SERVICES["yellow"]))
def test_any_well_formed_month_loads_everywhere_and_reconciles(taxi_env, rows):
    taxi_env.mirror.put("yellow", "2020-02", csv_gz(SERVICES["yellow"], rows, "\r\n"))

    result = taxi_env.materialize("yellow", "2020-02")

    checks = taxi_env.checks(result)
    assert checks["rows_reconcile"].passed and checks["schema_is_canonical"].passed
    assert taxi_env.pg_month("yellow", "2020-02") == (len(rows),)
    assert taxi_env.warehouse_month("yellow", "2020-02") == (len(rows),)
    keys = trip_asset_keys(SERVICES["yellow"])
    assert {m.asset_key for m in result.get_asset_materialization_events()} == set(keys)


def test_a_long_month_streams_into_row_groups_of_the_configured_size(tmp_path):
    """Many small CSV batches are gathered into full row groups; every row arrives in order."""
    from taxi_pipeline.cleaning import PARQUET_ROW_GROUP_ROWS
    from taxi_pipeline_tests.conftest import SAMPLE_MIRROR

    sample = gzip.decompress((SAMPLE_MIRROR / "yellow" / "yellow_tripdata_2021-01.csv.gz").read_bytes())
    header, body = sample.split(b"\n", 1)
    copies = 5 * PARQUET_ROW_GROUP_ROWS // (2 * body.count(b"\n")) + 1  # two and a half row groups
    src = tmp_path / "yellow_tripdata_2021-01.csv.gz"
    src.write_bytes(gzip.compress(header + b"\n" + body * copies, compresslevel=1))

    result = write_clean_parquet(src, tmp_path / "out.parquet", SERVICES["yellow"],
                                 month_start("2021-01"), "long month")

    meta = pq.ParquetFile(tmp_path / "out.parquet").metadata
    groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    rows = body.count(b"\n") * copies
    assert result.rows == meta.num_rows == sum(groups) == rows
    assert len(groups) == 3 and all(g >= PARQUET_ROW_GROUP_ROWS for g in groups[:-1])
    # Row order is the file's: the sample's rows, copy after copy.
    stored = pq.read_table(tmp_path / "out.parquet", columns=["tpep_pickup_datetime"]).column(0)
    per_copy = body.count(b"\n")
    assert stored.slice(0, per_copy).equals(stored.slice(per_copy * (copies - 1), per_copy))
