"""Bad input fails naming file, partition, line and column, and writes no target.

Each case is a real month from the mirror, minimally modified.
"""

import gzip

import pytest

from .conftest import data_file


def _rewrite(taxi_env, month: str, edit) -> None:
    text = gzip.decompress(taxi_env.mirror.path("yellow", month).read_bytes()).decode()
    lines = text.split("\r\n")
    edit(lines)
    taxi_env.mirror.put("yellow", month, gzip.compress("\r\n".join(lines).encode()))


def _set_field(line: int, column: int, value: str):
    def edit(lines):
        fields = lines[line - 1].split(",")
        fields[column] = value
        lines[line - 1] = ",".join(fields)

    return edit


def _rename_header(old: str, new: str):
    def edit(lines):
        lines[0] = lines[0].replace(old, new)

    return edit


def _header_only(lines):
    del lines[1:-1]


CASES = {
    "wrong-header": (
        _rename_header("tpep_pickup_datetime", "pickup_time"),
        ["line 1: the header does not match the yellow schema",
         "unknown columns ['pickup_time']", "missing columns ['tpep_pickup_datetime']"],
    ),
    "unparseable-datetime": (
        _set_field(7, 2, "2020-01-01 25:61:00"),
        ["line 7, column 'tpep_dropoff_datetime'", "'2020-01-01 25:61:00'"],
    ),
    "value-does-not-fit": (
        _set_field(300, 7, "99999999999"),
        ["line 300, column 'PULocationID'", "out of range for a 32-bit integer"],
    ),
    "missing-field": (
        lambda lines: lines.__setitem__(500, lines[500].rsplit(",", 1)[0]),
        ["line 501: expected 18 columns, found 17"],
    ),
    "header-only": (_header_only, ["the file has a header but no rows"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_fails_clearly_and_writes_nothing(taxi_env, case):
    edit, expected = CASES[case]
    _rewrite(taxi_env, "2020-01", edit)

    result = taxi_env.materialize("yellow", "2020-01", raise_on_error=False)

    assert not result.success
    error = taxi_env.failure_text(result)
    assert "yellow_tripdata_2020-01.csv.gz (partition 2020-01)" in error
    for fragment in expected:
        assert fragment in error
    assert_nothing_written(taxi_env)


def assert_nothing_written(taxi_env):
    lake = taxi_env.data_dir / "lake"
    assert not lake.exists() or not [p for p in lake.rglob("*") if p.is_file()]
    assert not (taxi_env.data_dir / "warehouse.duckdb").exists()
    assert taxi_env.pg("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]


def test_an_empty_file_fails_naming_it(taxi_env):
    taxi_env.mirror.put("yellow", "2020-01", gzip.compress(b""))

    result = taxi_env.materialize("yellow", "2020-01", raise_on_error=False)

    assert "yellow_tripdata_2020-01.csv.gz (partition 2020-01): the file is empty" in taxi_env.failure_text(
        result
    )
    assert_nothing_written(taxi_env)


def test_the_real_cut_off_sample_writes_nothing(taxi_env):
    taxi_env.mirror.put("yellow", "2021-01", data_file("yellow_tripdata_2021-01.head.csv.gz").read_bytes())

    result = taxi_env.materialize("yellow", "2021-01", raise_on_error=False)

    assert "cut off at line 22794" in taxi_env.failure_text(result)
    assert_nothing_written(taxi_env)
