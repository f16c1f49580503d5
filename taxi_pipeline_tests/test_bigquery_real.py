"""Opt-in: gcp mode against real GCS and BigQuery, for what the emulators cannot prove.

Runs only when a project and a bucket are given (skipped otherwise):

    TAXI_TEST_GCP_PROJECT=my-project TAXI_TEST_GCS_BUCKET=my-bucket \\
    [TAXI_TEST_BQ_LOCATION=US] [GCP_CREDENTIALS=/path/key.json] \\
    .venv/bin/python -m pytest taxi_pipeline_tests/test_bigquery_real.py

Credentials: GCP_CREDENTIALS (a service-account key file or its JSON), else
application-default credentials. The account needs BigQuery Data Editor and Job User on
the project and Storage Object Admin on the bucket. Each test writes under a prefix of
its own in the bucket and a dataset of its own, and deletes both afterwards. Costs:
loads are free; the queries scan a few MB.

What it proves beyond the emulators: BigQuery accepts the load job into `table$YYYYMM`
and the month's rows replace that partition only; the table is month-partitioned and
clustered as BigQuery reports it (INFORMATION_SCHEMA.PARTITIONS); counting a month
scans only that partition; the migration printed for a previous-release table runs
whole (its PARTITION BY and RENAME) and the pipeline then loads into the migrated table.
"""

import os
import uuid

import pytest

from taxi_pipeline.services import SERVICES

from .conftest import gcp_test_env

PROJECT = os.environ.get("TAXI_TEST_GCP_PROJECT")
BUCKET = os.environ.get("TAXI_TEST_GCS_BUCKET")

pytestmark = pytest.mark.skipif(
    not (PROJECT and BUCKET),
    reason="real BigQuery: set TAXI_TEST_GCP_PROJECT and TAXI_TEST_GCS_BUCKET (see this file's docstring)",
)


@pytest.fixture
def real_gcp_env(tmp_path, http_mirror, embedded_postgres_dir, monkeypatch):
    run = uuid.uuid4().hex[:10]
    for name in ("STORAGE_EMULATOR_HOST", "BIGQUERY_EMULATOR_HOST"):
        monkeypatch.delenv(name, raising=False)
    settings = {
        "GCP_PROJECT": PROJECT,
        "GCS_BUCKET": f"{BUCKET}/taxi-pipeline-test-{run}",
        "BQ_DATASET": f"taxi_pipeline_test_{run}",
        "BQ_LOCATION": os.environ.get("TAXI_TEST_BQ_LOCATION") or "US",
    }
    env = gcp_test_env(settings, run, tmp_path, http_mirror, embedded_postgres_dir, monkeypatch)
    yield env
    env.bigquery().delete_dataset(settings["BQ_DATASET"], delete_contents=True, not_found_ok=True)
    for blob in env.bucket().list_blobs(prefix=f"taxi-pipeline-test-{run}/"):
        blob.delete()


def _one(client, sql: str):
    return next(iter(client.query(sql).result()))


def test_a_month_twice_replaces_only_its_partition_and_counts_scan_only_it(real_gcp_env):
    env = real_gcp_env
    assert env.materialize("yellow", "2020-01").success
    for _ in range(2):
        assert env.materialize("yellow", "2021-01").success

    client = env.bigquery()
    table = client.get_table(env.bq_table("yellow_tripdata"))
    assert (table.time_partitioning.type_, table.time_partitioning.field) == ("MONTH", "source_month")
    assert table.clustering_fields == SERVICES["yellow"].cluster_by
    assert [f.name for f in table.schema] == SERVICES["yellow"].schema.names
    partitions = client.query(
        "SELECT partition_id, total_rows "
        f"FROM `{PROJECT}.{env.settings['BQ_DATASET']}.INFORMATION_SCHEMA.PARTITIONS` "
        "WHERE table_name = 'yellow_tripdata' ORDER BY partition_id"
    ).result()
    assert [tuple(r.values()) for r in partitions] == [("202001", 999), ("202101", 22792)]
    assert env.bq_month("yellow", "2021-01") == 22792

    from google.cloud import bigquery

    dry = client.query(
        f"SELECT count(*) FROM `{env.bq_table('yellow_tripdata')}` "
        "WHERE source_month = TIMESTAMP '2021-01-01'",
        job_config=bigquery.QueryJobConfig(dry_run=True, use_query_cache=False),
    )
    assert dry.total_bytes_processed <= 8 * 22792  # at most the partition's source_month column


def test_the_printed_migration_runs_and_the_pipeline_loads_into_the_migrated_table(real_gcp_env):
    import pandas as pd

    env = real_gcp_env
    client = env.bigquery()
    client.create_dataset(env.settings["BQ_DATASET"], exists_ok=True)
    frame = pd.DataFrame({"VENDORID": [1, 2], "TOTAL_AMOUNT": [10.5, 7.25],
                          "SOURCE_MONTH": pd.to_datetime(["2019-03-01"] * 2)})
    client.load_table_from_dataframe(frame, env.bq_table("yellow_tripdata")).result()
    failed = env.materialize("yellow", "2021-01", raise_on_error=False)
    [message] = env.failures(failed)
    migration = message[message.index("CREATE TABLE"):message.index("\nor drop it")]

    client.query(migration).result()
    assert env.materialize("yellow", "2021-01").success

    table = client.get_table(env.bq_table("yellow_tripdata"))
    assert (table.time_partitioning.type_, table.time_partitioning.field) == ("MONTH", "source_month")
    assert env.bq_month("yellow", "2019-03") == 2 and env.bq_month("yellow", "2021-01") == 22792
    assert _one(client, f"SELECT sum(total_amount) AS s FROM `{env.bq_table('yellow_tripdata')}` "
                        "WHERE source_month = TIMESTAMP '2019-03-01'").s == pytest.approx(17.75)
