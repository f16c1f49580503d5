"""TAXI_PIPELINE_ENV=gcp: the lake in GCS and the warehouse in BigQuery, against the
gcp-storage-emulator and bqemulator (real servers, run by the fixtures)."""

import pyarrow.parquet as pq
from dagster import materialize

from taxi_pipeline.assets import all_assets
from taxi_pipeline.checks import all_checks
from taxi_pipeline.services import SERVICES

MONTHS = [("yellow", "2021-01"), ("yellow", "2020-01"), ("green", "2019-01"), ("green", "2020-01")]


def _bq_schema(gcp_env, table: str) -> list[tuple]:
    return [(f.name, f.field_type, f.mode) for f in gcp_env.bigquery().get_table(gcp_env.bq_table(table)).schema]


def test_two_months_of_two_colors_land_in_gcs_and_bigquery(gcp_env, tmp_path):
    for service, month in MONTHS:
        result = gcp_env.materialize(service, month)
        assert gcp_env.checks(result)["rows_reconcile"].passed, (service, month)

    bucket = gcp_env.bucket()
    for service, month in MONTHS:
        spec, rows = SERVICES[service], gcp_env.mirror.rows(service, month)
        raw = bucket.blob(spec.raw_path(month)).download_as_bytes()
        assert raw == gcp_env.mirror.path(service, month).read_bytes()
        local = tmp_path / f"{service}-{month}.parquet"
        bucket.blob(spec.clean_path(month)).download_to_filename(str(local))
        assert pq.ParquetFile(local).metadata.num_rows == rows
        assert pq.read_schema(local).equals(spec.schema)
        assert gcp_env.bq_month(service, month) == rows
        assert gcp_env.pg_month(service, month) == (rows,)

    names = sorted(b.name for b in bucket.list_blobs())
    assert "raw/yellow/yellow_tripdata_2021-01.csv.gz" in names
    assert "clean/green/green_tripdata_2019-01.parquet" in names


def test_rematerializing_a_month_leaves_bigquery_counts_unchanged(gcp_env):
    for month in ("2020-01", "2021-01"):
        assert gcp_env.materialize("yellow", month).success
    assert gcp_env.materialize("yellow", "2021-01").success

    assert gcp_env.bq_month("yellow", "2021-01") == 22792
    assert gcp_env.bq_month("yellow", "2020-01") == 999
    total = gcp_env.bigquery().query(f"SELECT count(*) AS n FROM `{gcp_env.bq_table('yellow_tripdata')}`")
    assert next(iter(total.result())).n == 22792 + 999


def test_bigquery_schema_is_the_same_for_months_with_and_without_empty_integers(gcp_env):
    assert gcp_env.materialize("yellow", "2021-01").success  # no empty integer fields
    before = _bq_schema(gcp_env, "yellow_tripdata")
    assert gcp_env.materialize("yellow", "2020-01").success  # 500 rows of empty integers

    assert _bq_schema(gcp_env, "yellow_tripdata") == before
    types = dict((name, kind) for name, kind, _ in before)
    # BigQuery's API says INTEGER/FLOAT, the emulator INT64/FLOAT64: the same types.
    assert types["PASSENGER_COUNT"] in {"INTEGER", "INT64"} and types["VENDORID"] in {"INTEGER", "INT64"}
    assert types["TPEP_PICKUP_DATETIME"] == "TIMESTAMP" and types["TOTAL_AMOUNT"] in {"FLOAT", "FLOAT64"}
    nulls = gcp_env.bigquery().query(
        f"SELECT countif(passenger_count IS NULL) AS n FROM `{gcp_env.bq_table('yellow_tripdata')}`"
    )
    assert next(iter(nulls.result())).n == 500


def test_zone_lookup_goes_to_bigquery(gcp_env):
    assert gcp_env.materialize("zones").success
    rows = gcp_env.bigquery().query(
        f"SELECT zone, service_zone FROM `{gcp_env.bq_table('taxi_zone_lookup')}` WHERE locationid = 265"
    )
    assert [tuple(r.values()) for r in rows.result()] == [("NA", "N/A")]


def test_a_bad_credentials_path_fails_before_any_data_moves(gcp_env, monkeypatch, tmp_path):
    from taxi_pipeline.resources.environments import resources_for_environment

    missing = tmp_path / "no-such-key.json"
    monkeypatch.setenv("GCP_CREDENTIALS", str(missing))
    resources = resources_for_environment("gcp")

    result = materialize([*all_assets, *all_checks], selection=["lake/raw_yellow_trips"],
                         partition_key="2021-01", resources=resources, raise_on_error=False)

    error = gcp_env.failure_text(result) if any(e.is_step_failure for e in result.all_events) else str(
        [e for e in result.all_events if e.is_failure]
    )
    assert not result.success
    assert f"GCP_CREDENTIALS points at {missing}, which is not a file" in error
    assert list(gcp_env.bucket().list_blobs()) == []


def test_large_lake_files_upload_in_resumable_chunks_and_read_back(gcp_env, tmp_path):
    import os

    from taxi_pipeline.io_managers.lake import GcsBucket

    # Over 8 MiB, google-cloud-storage switches from one multipart request to a resumable
    # upload sent in chunk_size pieces: here ten 1 MiB chunks.
    data = os.urandom(9 * 2**20 + 12345)
    local = tmp_path / "big.bin"
    local.write_bytes(data)
    with gcp_env.resources["gcp"].process_config_and_initialize_cm() as gcp:
        lake = GcsBucket(gcp.storage_client(), gcp_env.settings["GCS_BUCKET"], "", chunk_bytes=2**20)

        uri = lake.put(local, "raw/test/big.bin")

        assert uri == f"gs://{gcp_env.settings['GCS_BUCKET']}/raw/test/big.bin"
        assert not local.exists()  # moved, like a local rename
        assert lake.get("raw/test/big.bin").read_bytes() == data
