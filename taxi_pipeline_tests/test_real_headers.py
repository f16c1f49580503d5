"""Every real header of 2019-01..2020-06 (yellow, green, fhv) cleans to the canonical schema."""

import gzip
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from taxi_pipeline.cleaning import write_clean_parquet
from taxi_pipeline.partitions import month_start
from taxi_pipeline.services import SERVICES

from .conftest import TEST_DATA

HEADS = sorted((TEST_DATA / "heads").glob("*_tripdata_*.csv"))


def test_all_54_real_heads_are_here():
    assert len(HEADS) == 54


@pytest.mark.parametrize("head", HEADS, ids=[h.stem for h in HEADS])
def test_real_head_cleans_to_the_canonical_schema(head: Path, tmp_path):
    service, _, month = head.stem.split("_")
    data = head.read_bytes()
    whole = data[: data.rfind(b"\n") + 1]  # the heads are cut mid-row after 1,024 bytes
    src = tmp_path / f"{head.stem}.csv.gz"
    src.write_bytes(gzip.compress(whole))
    dest = tmp_path / "clean.parquet"

    result = write_clean_parquet(src, dest, SERVICES[service], month_start(month), src.name)

    table = pq.read_table(dest)
    assert table.schema.equals(SERVICES[service].schema)
    assert table.num_rows == result.rows == whole.count(b"\n") - 1 > 0
