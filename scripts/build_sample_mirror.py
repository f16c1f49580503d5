"""Rebuild taxi_pipeline/sample_mirror from the real rows in taxi_pipeline_tests/data.

The mirror is laid out like the nyc-tlc-data release so the default pipeline runs with
no network: `{color}/{color}_tripdata_{YYYY-MM}.csv.gz` and `misc/taxi_zone_lookup.csv`.
Cut-off last lines are dropped; gzip timestamps are zeroed so rebuilding is reproducible.

    python scripts/build_sample_mirror.py [folder of real rows, default taxi_pipeline_tests/data]
"""

from __future__ import annotations

import gzip
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MIRROR = REPO / "taxi_pipeline" / "sample_mirror"
REAL_ROWS = REPO / "taxi_pipeline_tests" / "data"


def whole_lines(data: bytes) -> bytes:
    """Drop a last line that has no line end (the samples are cut mid-row)."""
    return data if data.endswith(b"\n") else data[: data.rfind(b"\n") + 1]


def write_gz(dest: Path, data: bytes) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(data)


def main(tlc: Path) -> None:
    shutil.rmtree(MIRROR, ignore_errors=True)
    for head in sorted((tlc / "heads").glob("*_tripdata_*.csv")):
        color = head.name.split("_")[0]
        write_gz(MIRROR / color / f"{head.stem}.csv.gz", whole_lines(head.read_bytes()))
    for sample, name in [
        ("yellow_tripdata_2021-01.head.csv.gz", "yellow_tripdata_2021-01.csv.gz"),
        ("yellow_tripdata_2020-01.headtail.csv.gz", "yellow_tripdata_2020-01.csv.gz"),
    ]:
        write_gz(MIRROR / "yellow" / name, whole_lines(gzip.decompress((tlc / sample).read_bytes())))
    (MIRROR / "misc").mkdir()
    shutil.copyfile(tlc / "taxi+_zone_lookup.csv", MIRROR / "misc" / "taxi_zone_lookup.csv")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REAL_ROWS)
