"""Every layout in the catalogue cleans to the service's canonical table, cell for cell;
legacy words map to today's codes; bad values name the file, row and column."""

import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from taxi_pipeline.cleaning import BadTripFile, write_clean_parquet
from taxi_pipeline.partitions import month_start
from taxi_pipeline.services import SERVICES

from .layouts import encode, expected, layout_of, layouts, official_sample, zone_locator

ALL_LAYOUTS = [layout for name in SERVICES for layout in layouts(name)]


def test_the_catalogue_is_here_with_every_service():
    assert {layout.service for layout in ALL_LAYOUTS} == set(SERVICES)
    assert len(ALL_LAYOUTS) >= 50


def _clean(tmp_path: Path, service, month: str, table: pa.Table) -> pa.Table:
    src = tmp_path / service.file_name(month, ".parquet")
    pq.write_table(table, src, row_group_size=100)  # several row groups, like real files
    dest = tmp_path / "clean.parquet"
    result = write_clean_parquet(src, dest, service, month_start(month), src.name, zone_locator=zone_locator)
    assert result.rows == table.num_rows
    return pq.read_table(dest)


@pytest.mark.parametrize("layout", ALL_LAYOUTS, ids=[layout.id for layout in ALL_LAYOUTS])
def test_an_official_layout_cleans_to_the_canonical_table(layout, tmp_path):
    service = SERVICES[layout.service]
    canonical = official_sample(service, layout.first_month, rows=300)
    file = encode(canonical, service, layout)
    assert file.column_names == [name for name, _ in layout.columns]  # the real file's names, in order

    cleaned = _clean(tmp_path, service, layout.first_month, file)

    assert cleaned.schema.equals(service.schema)
    want = expected(canonical, service, layout)
    for name in want.column_names:
        assert cleaned.column(name).equals(want.column(name)), name


def test_yellow_2009_words_become_todays_codes(tmp_path):
    service = SERVICES["yellow"]
    layout = layout_of("yellow", "2009-01")
    file = encode(official_sample(service, "2009-01", rows=4), service, layout)
    file = file.set_column(0, "vendor_name", pa.array(["CMT", " vts ", "DDS", None]))
    file = file.set_column(11, "Payment_Type", pa.array(["CASH", "Cre", "No Charge", "dispute"]))

    cleaned = _clean(tmp_path, service, "2009-01", file)

    assert cleaned.column("VendorID").to_pylist() == [1, 2, 3, None]
    assert cleaned.column("payment_type").to_pylist() == [2, 1, 3, 4]
    assert cleaned.column("tpep_pickup_datetime").type == pa.timestamp("us")


def test_an_unknown_legacy_word_is_an_error_naming_it_the_row_and_column(tmp_path):
    service = SERVICES["yellow"]
    file = encode(official_sample(service, "2009-01", rows=4), service, layout_of("yellow", "2009-01"))
    file = file.set_column(11, "Payment_Type", pa.array(["CASH", "Cash", "Voucher", "CASH"]))

    with pytest.raises(BadTripFile) as error:
        _clean(tmp_path, service, "2009-01", file)

    assert str(error.value).startswith(
        "yellow_tripdata_2009-01.parquet, row 3, column 'Payment_Type': "
        "'Voucher' is not a known Payment_Type word"
    )


def test_a_fraction_in_an_integer_code_stored_as_double_is_an_error(tmp_path):
    service = SERVICES["green"]
    layout = layout_of("green", "2019-05")
    file = encode(official_sample(service, "2019-05", rows=50), service, layout)
    counts = file.column("passenger_count").to_pylist()
    counts[41] = 1.5
    file = file.set_column(file.column_names.index("passenger_count"), "passenger_count", pa.array(counts))

    with pytest.raises(
        BadTripFile,
        match=r"green_tripdata_2019-05.parquet, row 42, column 'passenger_count': "
        r"1.5 is not a whole number",
    ):
        _clean(tmp_path, service, "2019-05", file)


def test_a_drop_off_in_the_year_3019_is_kept_in_microseconds(tmp_path):
    """fhv 2019-02 really holds one (catalogue S11); nanoseconds would overflow."""
    service = SERVICES["fhv"]
    file = encode(official_sample(service, "2019-02", rows=3), service, layout_of("fhv", "2019-02"))
    drop = file.column("dropOff_datetime").to_pylist()
    drop[1] = drop[1].replace(year=3019)
    file = file.set_column(2, "dropOff_datetime", pa.array(drop, pa.timestamp("us")))

    cleaned = _clean(tmp_path, service, "2019-02", file)

    assert cleaned.column("dropoff_datetime")[1].as_py().year == 3019


def test_an_unknown_column_in_a_parquet_file_is_named(tmp_path):
    service = SERVICES["fhvhv"]
    file = encode(official_sample(service, "2024-01", rows=3), service, layout_of("fhvhv", "2024-01"))
    file = file.append_column("surge_multiplier", pa.array([1.0, 1.2, 1.0]))

    with pytest.raises(BadTripFile, match=r"unknown columns \['surge_multiplier'\]"):
        _clean(tmp_path, service, "2024-01", file)


@pytest.mark.parametrize("header", [
    # the course's fhv files: 2019 and 2020 spellings, 7 columns (catalogue dtc_csv_releases.md)
    "dispatching_base_num,pickup_datetime,dropOff_datetime,PUlocationID,DOlocationID,SR_Flag,Affiliated_base_number",
    "dispatching_base_num,pickup_datetime,dropoff_datetime,PULocationID,DOLocationID,SR_Flag,Affiliated_base_number",
])
def test_both_fhv_spellings_of_the_course_mirror_clean(header, tmp_path):
    service = SERVICES["fhv"]
    rows = (
        "B00001,2019-01-01 00:30:00,2019-01-01 02:51:55,,,,B00001\n"
        "B00013,2019-01-01 00:01:00,,264,7,1,B02510\n"
    )
    src = tmp_path / "fhv_tripdata_2019-01.csv.gz"
    src.write_bytes(gzip.compress(f"{header}\n{rows}".encode()))

    write_clean_parquet(src, tmp_path / "c.parquet", service, month_start("2019-01"), src.name)

    table = pq.read_table(tmp_path / "c.parquet")
    assert table.column("PULocationID").to_pylist() == [None, 264]
    assert table.column("DOLocationID").to_pylist() == [None, 7]
    assert table.column("SR_Flag").to_pylist() == [None, 1]
    assert table.column("Affiliated_base_number").to_pylist() == ["B00001", "B02510"]
