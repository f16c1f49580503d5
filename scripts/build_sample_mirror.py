"""Rebuild taxi_pipeline/sample_mirror from the real rows in taxi_pipeline_tests/data.

One root serves both sources with no network (run with the project's venv):
- the course's csv.gz release: `{service}/{service}_tripdata_{YYYY-MM}.csv.gz`; the fhv
  files in the release's 7-column layout (2019 spelled `dropOff_datetime,PUlocationID,
  DOlocationID`, 2020 `dropoff_datetime,PULocationID,DOLocationID`, plus
  `Affiliated_base_number`), made from the real 6-column heads;
- the official files: `trip-data/{service}_tripdata_{YYYY-MM}.parquet`, CONVERTED from
  the bundled real rows (fhvhv synthesized from fhv rows) and typed as that period's real
  files are (catalogue); each file says so in its footer metadata (`taxi_pipeline.sample`);
- `misc/taxi_zone_lookup.csv` for both, and `misc/taxi_zones.zip`: the TLC's real zone
  shapes (`data/zones`), zipped as the TLC serves them (the files at the zip's root).
Cut-off last lines are dropped; gzip timestamps are zeroed so rebuilding is reproducible.

    .venv/bin/python scripts/build_sample_mirror.py [folder of real rows, default taxi_pipeline_tests/data]
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


OFFICIAL_MONTHS = [
    # (service, month, rows): the demo month, a legacy year, each later layout, the
    # course's 2024-2026 homework months (green 2022, yellow 2024, green 2025-11)
    ("yellow", "2021-01", None), ("yellow", "2009-01", 2000), ("yellow", "2010-02", 2000),
    ("yellow", "2024-01", 2000), ("yellow", "2025-02", 2000),
    ("green", "2019-02", None), ("green", "2022-01", None), ("green", "2025-11", None),
    ("fhv", "2019-02", None), ("fhv", "2024-03", None),
    ("fhvhv", "2021-01", None), ("fhvhv", "2025-01", None),
]
FHV_HEADERS = {
    "2019": b"dispatching_base_num,pickup_datetime,dropOff_datetime,PUlocationID,DOlocationID,"
    b"SR_Flag,Affiliated_base_number",
    "2020": b"dispatching_base_num,pickup_datetime,dropoff_datetime,PULocationID,DOLocationID,"
    b"SR_Flag,Affiliated_base_number",
}


def course_fhv(data: bytes, year: str) -> bytes:
    """A real 6-column fhv head in the release's 7-column layout: the affiliated base is
    the dispatching base (as in the release's first row, `B00001,...,,,,B00001`)."""
    _, *rows = whole_lines(data).splitlines()
    lines = [FHV_HEADERS[year]] + [row + b"," + row.split(b",", 1)[0] for row in rows]
    return b"\r\n".join(lines) + b"\r\n"


def official_months(tlc: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sys.path.insert(0, str(REPO))
    from taxi_pipeline.services import SERVICES
    from taxi_pipeline_tests.layouts import encode, layout_of, official_sample

    for name, month, rows in OFFICIAL_MONTHS:
        service = SERVICES[name]
        layout = layout_of(name, month)
        canonical = official_sample(service, month, rows)
        table = encode(canonical, service, layout)
        if (name, month) == ("fhv", "2019-02"):  # the real file holds a drop-off in 3019
            drop = table.column("dropOff_datetime").to_pylist()
            drop[5] = drop[5].replace(year=3019)
            table = table.set_column(2, "dropOff_datetime", pa.array(drop, pa.timestamp("us")))
        origin = "fhv heads (synthesized fares and flags)" if name == "fhvhv" else "bundled real rows"
        table = table.replace_schema_metadata({
            "taxi_pipeline.sample": f"CONVERTED, not a TLC file: {origin} moved into {month}, "
                                    f"typed as the official {layout.id} files (catalogue)"
        })
        dest = MIRROR / "trip-data" / service.file_name(month, ".parquet")
        dest.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, dest, compression="snappy", row_group_size=10_000)


def main(tlc: Path) -> None:
    shutil.rmtree(MIRROR, ignore_errors=True)
    for head in sorted((tlc / "heads").glob("*_tripdata_*.csv")):
        service = head.name.split("_")[0]
        data = head.read_bytes()
        if service == "fhv":
            data = course_fhv(data, head.stem.split("_")[-1][:4])
        write_gz(MIRROR / service / f"{head.stem}.csv.gz", whole_lines(data))
    for sample, name in [
        ("yellow_tripdata_2021-01.head.csv.gz", "yellow_tripdata_2021-01.csv.gz"),
        ("yellow_tripdata_2020-01.headtail.csv.gz", "yellow_tripdata_2020-01.csv.gz"),
    ]:
        write_gz(MIRROR / "yellow" / name, whole_lines(gzip.decompress((tlc / sample).read_bytes())))
    (MIRROR / "misc").mkdir()
    shutil.copyfile(tlc / "taxi+_zone_lookup.csv", MIRROR / "misc" / "taxi_zone_lookup.csv")
    sys.path.insert(0, str(REPO))
    from taxi_pipeline_tests.layouts import zip_zone_shapes

    zip_zone_shapes(MIRROR / "misc" / "taxi_zones.zip")
    official_months(tlc)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else REAL_ROWS)
