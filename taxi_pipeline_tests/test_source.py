"""Downloads: a truncated gzip or a missing month fails clearly and writes nothing.

A month's gzip is proven whole by the one pass that reads it (`VerifiedGzipFile`), while
the loads already stream: a truncated file must roll them back."""

import gzip
import tempfile
from pathlib import Path

import pytest

from taxi_pipeline.gzip_stream import GzipVerifier, SourceFileCorrupt, VerifiedGzipFile


def test_a_truncated_gzip_fails_naming_url_and_line_and_loads_nothing(taxi_env):
    whole = taxi_env.mirror.path("yellow", "2021-01").read_bytes()
    taxi_env.mirror.put("yellow", "2021-01", whole[: len(whole) // 2])

    result = taxi_env.materialize("yellow", "2021-01", raise_on_error=False)

    error = taxi_env.failure_text(result)
    url = f"{taxi_env.mirror.url}/yellow/yellow_tripdata_2021-01.csv.gz"
    assert f"{url}: the gzip stream is truncated" in error
    lines = int(error.split("ends after line ")[1].split(",")[0])
    assert 0 < lines < len(gzip.decompress(whole).splitlines())
    assert not (taxi_env.data_dir / "lake").exists() or not any((taxi_env.data_dir / "lake").rglob("*.*"))
    assert not (taxi_env.data_dir / "warehouse.duckdb").exists()
    assert taxi_env.pg("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]


def test_a_gzip_cut_inside_its_header_is_reported_as_truncated(taxi_env):
    whole = taxi_env.mirror.path("yellow", "2021-01").read_bytes()
    taxi_env.mirror.put("yellow", "2021-01", whole[:40])

    result = taxi_env.materialize("yellow", "2021-01", raise_on_error=False)

    assert "yellow_tripdata_2021-01.csv.gz: the gzip stream is truncated: it ends after line 0" in (
        taxi_env.failure_text(result))


def test_verified_gzip_file_reads_what_gzip_reads_across_members():
    data = gzip.compress(b"a,b\n" + b"1,2\n" * 300_000) + gzip.compress(b"3,4\n")
    path = Path(tempfile.mkdtemp()) / "two.csv.gz"
    path.write_bytes(data)
    with VerifiedGzipFile(path, "two.csv.gz") as stream:
        read = b"".join(iter(lambda: stream.read(100_000), b""))
    assert read == gzip.decompress(data)

    path.write_bytes(data[:-30])
    with VerifiedGzipFile(path, "two.csv.gz") as stream, pytest.raises(SourceFileCorrupt, match="truncated"):
        stream.read()

    path.write_bytes(gzip.compress(b"a,b\n1,2\n3,"))
    with VerifiedGzipFile(path, "cut.csv.gz") as stream, pytest.raises(
            SourceFileCorrupt, match=r"cut.csv.gz: the file is cut off at line 3: its last line '3,'"):
        stream.read(4)
        stream.read()


def test_a_month_missing_at_the_source_names_the_url(taxi_env):
    result = taxi_env.materialize("green", "2021-07", raise_on_error=False)

    error = taxi_env.failure_text(result)
    assert (f"green 2021-07 is not published in the course's csv.gz mirror: no file at "
            f"{taxi_env.mirror.url}/green/green_tripdata_2021-07.csv.gz (HTTP 404)") in error


def test_gzip_verifier_counts_lines_across_members_and_chunks():
    data = gzip.compress(b"a,b\n1,2\n") + gzip.compress(b"3,4\n")
    verifier = GzipVerifier("two-members.csv.gz")
    for i in range(0, len(data), 7):
        verifier.feed(data[i : i + 7])
    assert verifier.finish() == 3


def test_gzip_verifier_rejects_a_file_cut_mid_line():
    verifier = GzipVerifier("cut.csv.gz")
    verifier.feed(gzip.compress(b"a,b\n1,2\n3,"))
    with pytest.raises(SourceFileCorrupt, match=r"cut off at line 3: its last line '3,'"):
        verifier.finish()
