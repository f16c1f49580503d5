"""TAXI_PIPELINE_ENV=gcp: the lake in GCS and the warehouse in BigQuery, against the
gcp-storage-emulator and bqemulator (real servers, run by the fixtures).

bqemulator runs through our launcher (bigquery_emulator.py), which adds what the
project uses and bqemulator 1.4.0 lacks: partition decorators on load jobs, loads by
column name, 409 for a job id that exists, columns added by a schema update. What an
emulator cannot prove - that BigQuery swaps a month atomically, prunes partitions and
bills nothing for a load, and the migration's PARTITION BY and RENAME - is what
test_bigquery_real.py checks against real BigQuery when given a project.
"""

import pyarrow.parquet as pq
import pytest
from dagster import AssetKey, materialize
from google.api_core.exceptions import GoogleAPICallError

from taxi_pipeline.assets.keys import trip_asset_keys
from taxi_pipeline.io_managers.bigquery import submit_load_job
from taxi_pipeline.services import SERVICES
from taxi_pipeline_tests.definitions import assets_for

pytestmark = pytest.mark.slow  # starts servers or subprocesses of its own (docs/development.md)

YELLOW = SERVICES["yellow"]
WAREHOUSE_KEY = AssetKey(["warehouse", "yellow_tripdata"])

MONTHS = [("yellow", "2021-01"), ("yellow", "2020-01"), ("green", "2019-01"), ("green", "2020-01")]


def _bq_schema(gcp_env, table: str) -> list[tuple]:
    return [
        (f.name, f.field_type, f.mode) for f in gcp_env.bigquery().get_table(gcp_env.bq_table(table)).schema
    ]


def test_two_months_of_two_services_land_in_gcs_and_bigquery(gcp_env, tmp_path):
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


def test_a_backfill_run_of_three_months_loads_each_into_gcs_bigquery_and_postgres(gcp_env):
    """A backfill's run of several months (month_range.py) on GCP: each month stored in
    GCS and loaded into its BigQuery partition on its own, and reconciled on its own."""
    months = ["2019-01", "2019-02", "2019-03"]
    tags = {"dagster/asset_partition_range_start": months[0], "dagster/asset_partition_range_end": months[-1]}

    result = gcp_env.materialize("green", tags=tags)

    reconciled = [e for e in result.get_asset_check_evaluations() if e.check_name == "rows_reconcile"]
    assert sorted(e.partition for e in reconciled if e.passed) == months
    bucket = gcp_env.bucket()
    for month in months:
        rows = gcp_env.mirror.rows("green", month)
        assert bucket.blob(SERVICES["green"].clean_path(month)).exists()
        assert gcp_env.bq_month("green", month) == rows
        assert gcp_env.pg_month("green", month) == (rows,)


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
    # Names exactly as the canonical schema (no upper-casing). BigQuery's API says
    # INTEGER/FLOAT, the emulator INT64/FLOAT64: the same types.
    assert list(types) == YELLOW.schema.names
    assert types["passenger_count"] in {"INTEGER", "INT64"} and types["VendorID"] in {"INTEGER", "INT64"}
    assert types["tpep_pickup_datetime"] == "TIMESTAMP" and types["total_amount"] in {"FLOAT", "FLOAT64"}
    assert types["store_and_fwd_flag"] == "STRING" and types["source_month"] == "TIMESTAMP"
    nulls = gcp_env.bigquery().query(
        f"SELECT countif(passenger_count IS NULL) AS n FROM `{gcp_env.bq_table('yellow_tripdata')}`"
    )
    assert next(iter(nulls.result())).n == 500


def _load_jobs(gcp_env) -> list:
    client = gcp_env.bigquery()
    jobs = [client.get_job(job.job_id) for job in client.list_jobs() if job.job_type == "load"]
    return [
        job for job in jobs if job.destination.dataset_id == gcp_env.settings["BQ_DATASET"]
    ]  # this test's


def _warehouse_metadata(result) -> dict:
    [materialization] = [e.materialization for e in result.get_asset_materialization_events()
                         if e.asset_key == trip_asset_keys(YELLOW).warehouse]
    return {key: value.value for key, value in materialization.metadata.items()}


def test_a_month_arrives_by_one_load_job_from_gcs_into_its_month_partition(gcp_env):
    assert gcp_env.materialize("yellow", "2020-01").success
    results = [gcp_env.materialize("yellow", "2021-01") for _ in range(2)]  # the same month twice

    client = gcp_env.bigquery()
    table = client.get_table(gcp_env.bq_table("yellow_tripdata"))
    assert (table.time_partitioning.type_, table.time_partitioning.field) == ("MONTH", "source_month")
    assert table.clustering_fields == ["tpep_pickup_datetime", "PULocationID"]
    assert [f.name for f in table.schema] == YELLOW.schema.names
    assert gcp_env.bq_month("yellow", "2021-01") == 22792 and gcp_env.bq_month("yellow", "2020-01") == 999

    jobs = [job for job in _load_jobs(gcp_env) if job.destination.table_id.endswith("$202101")]
    assert len(jobs) == 2  # one per run, nothing else wrote the month
    bucket = gcp_env.settings["GCS_BUCKET"]
    for job, result in zip(sorted(jobs, key=lambda j: j.created), results, strict=True):
        # The exact configuration the code submitted, as BigQuery (here the emulator) holds it.
        assert job.source_uris == [f"gs://{bucket}/clean/yellow/yellow_tripdata_2021-01.parquet"]
        assert job.destination.table_id == "yellow_tripdata$202101"
        assert job.source_format == "PARQUET" and job.write_disposition == "WRITE_TRUNCATE"
        assert job.create_disposition == "CREATE_NEVER"
        assert [(f.name, f.field_type) for f in job.schema] == [(f.name, f.field_type) for f in table.schema]
        assert (job.time_partitioning.type_, job.time_partitioning.field) == ("MONTH", "source_month")
        assert job.clustering_fields == ["tpep_pickup_datetime", "PULocationID"]
        assert job.job_id == f"taxi_yellow_tripdata_202101_{result.run_id}"
        metadata = _warehouse_metadata(result)
        assert metadata["bigquery_job_id"] == job.job_id and metadata["dagster/partition_row_count"] == 22792
        assert job.output_rows == 22792


def test_a_retried_step_finds_its_load_job_and_a_failed_one_is_submitted_again(gcp_env):
    from google.cloud import bigquery

    assert gcp_env.materialize("yellow", "2021-01").success
    client = gcp_env.bigquery()
    uri = f"gs://{gcp_env.settings['GCS_BUCKET']}/{YELLOW.clean_path('2021-01')}"
    destination = gcp_env.bq_table("yellow_tripdata") + "$202101"
    # WRITE_APPEND, so a second load would show as doubled rows.
    config = bigquery.LoadJobConfig(source_format="PARQUET", write_disposition="WRITE_APPEND")

    first = submit_load_job(client, uri, destination, config, "taxi_retry_test").result()
    again = submit_load_job(client, uri, destination, config, "taxi_retry_test").result()

    assert first.job_id == again.job_id == "taxi_retry_test"
    assert gcp_env.bq_month("yellow", "2021-01") == 2 * 22792  # the original and one append

    gcp_env.bucket().blob("clean/broken.parquet").upload_from_string(b"not parquet")
    broken = f"gs://{gcp_env.settings['GCS_BUCKET']}/clean/broken.parquet"
    with pytest.raises(GoogleAPICallError):  # the emulator, like BigQuery, rejects the file
        submit_load_job(client, broken, destination, config, "taxi_failed_test").result()
    retried = submit_load_job(client, uri, destination, config, "taxi_failed_test").result()
    assert retried.job_id == "taxi_failed_test_2" and retried.error_result is None
    assert gcp_env.bq_month("yellow", "2021-01") == 3 * 22792


def test_a_file_bigquery_cannot_read_fails_at_once_naming_file_and_month_and_keeps_the_month(gcp_env):
    assert gcp_env.materialize("yellow", "2021-01").success
    gcp_env.bucket().blob(YELLOW.clean_path("2021-01")).upload_from_string(b"PAR1 truncated")

    result = materialize(assets_for(gcp_env.source), selection=[WAREHOUSE_KEY], partition_key="2021-01",
                         resources=gcp_env.resources, raise_on_error=False)

    assert not result.success and gcp_env.retries(result) == 0
    [message] = gcp_env.failures(result)
    bucket = gcp_env.settings["GCS_BUCKET"]
    assert message.startswith(
        f"BigQuery could not load gs://{bucket}/clean/yellow/yellow_tripdata_2021-01.parquet "
        "(partition 2021-01) into "
    )
    assert gcp_env.bq_month("yellow", "2021-01") == 22792


def _previous_release_table(gcp_env) -> None:
    """The table as the previous release left it: loaded from a DataFrame by
    dagster-gcp-pandas, names upper-cased, no partitioning."""
    import pandas as pd

    frame = pd.DataFrame(
        {
            "VENDORID": [1, 2],
            "TPEP_PICKUP_DATETIME": pd.to_datetime(["2019-03-01", "2019-03-02"]),
            "TOTAL_AMOUNT": [10.5, 7.25],
            "SOURCE_MONTH": pd.to_datetime(["2019-03-01"] * 2),
        }
    )
    client = gcp_env.bigquery()
    client.create_dataset(gcp_env.settings["BQ_DATASET"], exists_ok=True)
    client.load_table_from_dataframe(frame, gcp_env.bq_table("yellow_tripdata")).result()


def test_a_table_of_the_previous_release_stops_the_run_with_its_migration(gcp_env):
    _previous_release_table(gcp_env)

    result = gcp_env.materialize("yellow", "2021-01", raise_on_error=False)

    assert not result.success and gcp_env.retries(result) == 0
    [message] = gcp_env.failures(result)
    table = gcp_env.bq_table("yellow_tripdata")
    assert message.startswith(
        f"BigQuery table {table} is in the way: it is not partitioned by MONTH on source_month"
    )
    assert "it has a column VENDORID that is not in the canonical schema" in message
    migration = message[message.index("CREATE TABLE"):message.index("\nor drop it")]
    assert "PARTITION BY TIMESTAMP_TRUNC(`source_month`, MONTH)" in migration
    assert "CLUSTER BY `tpep_pickup_datetime`, `PULocationID`" in migration
    client = gcp_env.bigquery()
    assert client.get_table(table).num_rows == 2  # left as it was

    # The migration's copy runs here and keeps every row under the canonical names (the
    # emulator ignores its PARTITION BY and lacks RENAME: test_bigquery_real.py runs it whole).
    create = migration.split(";\n")[0]
    client.query(create).result()
    migrated = client.get_table(table + "_migrated")
    assert [f.name for f in migrated.schema] == YELLOW.schema.names
    rows = client.query(
        f"SELECT VendorID, total_amount, airport_fee FROM `{table}_migrated` ORDER BY VendorID"
    )
    assert [tuple(r.values()) for r in rows.result()] == [(1, 10.5, None), (2, 7.25, None)]


def test_a_table_missing_newer_columns_gains_them_and_keeps_its_rows(gcp_env):
    from google.cloud import bigquery

    from taxi_pipeline.assets.tables import service_table_schema
    from taxi_pipeline.io_managers.bigquery import bigquery_schema

    # (congestion_surcharge came in 2019, airport_fee in 2021: the course's 2021-01 file
    # has the first, which shows the month's values go into an added column.)
    newer = [name for name in YELLOW.schema.names if name in ("congestion_surcharge", "airport_fee")]
    older = [f for f in bigquery_schema(service_table_schema(YELLOW)) if f.name not in newer]
    client = gcp_env.bigquery()
    client.create_dataset(gcp_env.settings["BQ_DATASET"], exists_ok=True)
    table = bigquery.Table(gcp_env.bq_table("yellow_tripdata"), schema=older)
    table.time_partitioning = bigquery.TimePartitioning(type_="MONTH", field="source_month")
    client.create_table(table)
    client.query(f"INSERT INTO `{gcp_env.bq_table('yellow_tripdata')}` (VendorID, source_month) "
                 "VALUES (2, TIMESTAMP '2019-03-01')").result()

    result = gcp_env.materialize("yellow", "2021-01")

    assert [f.name for f in client.get_table(gcp_env.bq_table("yellow_tripdata")).schema][-2:] == newer
    assert _warehouse_metadata(result)["columns_added"] == newer
    filled = client.query(
        f"SELECT count(congestion_surcharge) AS n FROM `{gcp_env.bq_table('yellow_tripdata')}`"
    )
    assert next(iter(filled.result())).n > 0  # the new month's values went into the added column
    assert gcp_env.bq_month("yellow", "2021-01") == 22792 and gcp_env.bq_month("yellow", "2019-03") == 1


def test_zone_lookup_goes_to_bigquery(gcp_env):
    assert gcp_env.materialize("zones").success
    # (The zones stay on dagster-gcp-pandas, which upper-cases names; BigQuery resolves
    # names case-insensitively.)
    rows = gcp_env.bigquery().query(
        f"SELECT zone, service_zone FROM `{gcp_env.bq_table('taxi_zone_lookup')}` WHERE locationid = 265"
    )
    assert [tuple(r.values()) for r in rows.result()] == [("NA", "N/A")]
    # The zone shapes: the geometry as GEOGRAPHY, what a map reads (JFK's polygon holds the airport).
    shapes = gcp_env.bq_table("taxi_zone_shapes")
    types = {f.name.lower(): f.field_type for f in gcp_env.bigquery().get_table(shapes).schema}
    # bqemulator 1.4.0 reports a GEOGRAPHY column made by CREATE TABLE AS as BYTES (how it
    # stores it) but answers geography functions on it; real BigQuery says GEOGRAPHY. What
    # the emulator cannot prove: the type name, and make_valid on a real ring defect.
    assert types["geometry"] in ("GEOGRAPHY", "BYTES") and types["locationid"] == "INTEGER"
    rows = gcp_env.bigquery().query(
        f"SELECT count(*) AS n, countif(ST_CONTAINS(geometry, ST_GEOGPOINT(-73.7781, 40.6413))) AS jfk "
        f"FROM `{shapes}`").result()
    assert [tuple(r.values()) for r in rows] == [(263, 1)]


def test_a_bad_credentials_path_fails_before_any_data_moves(gcp_env, monkeypatch, tmp_path):
    """Refused when the definitions load (settings.py), the value not shown (the variable
    may hold a key); nothing runs."""
    from taxi_pipeline.environments import resources_for_environment
    from taxi_pipeline.settings import SettingError

    missing = tmp_path / "no-such-key.json"
    monkeypatch.setenv("GCP_CREDENTIALS", str(missing))
    refused = r"^GCP_CREDENTIALS=\(a secret, not shown\) is not accepted \(no such key file\)"
    with pytest.raises(SettingError, match=refused):
        resources_for_environment("gcp")
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
