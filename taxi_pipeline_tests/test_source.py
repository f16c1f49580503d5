"""Downloads: a truncated gzip or a missing month fails clearly and writes nothing."""

import gzip

import pytest

from taxi_pipeline.resources.source import GzipVerifier, SourceFileCorrupt


def test_a_truncated_gzip_fails_at_download_naming_url_and_line(taxi_env):
    whole = taxi_env.mirror.path("yellow", "2021-01").read_bytes()
    taxi_env.mirror.put("yellow", "2021-01", whole[: len(whole) // 2])

    result = taxi_env.materialize("yellow", "2021-01", raise_on_error=False)

    error = taxi_env.failure_text(result)
    assert f"{taxi_env.mirror.url}/yellow/yellow_tripdata_2021-01.csv.gz" in error
    assert "truncated" in error and "ends after line" in error
    assert not (taxi_env.data_dir / "lake").exists() or not any((taxi_env.data_dir / "lake").rglob("*.*"))


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
