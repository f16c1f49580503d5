"""The dbt models in gcp mode: the same shipped project, built in BigQuery (bqemulator
through our launcher) over the trip tables the pipeline loaded there, by dbt-bigquery in
its own venv (.venv-dbt, TAXI_DBT_EXECUTABLE) as the image runs it.

What the emulator proves: the profile made from the gcp settings, the models' BigQuery
SQL (views, the month-partitioned fact table, dbt's static insert_overwrite MERGE of the
run's month, the marts, dbt's tests as checks), and which months a run replaces. What it
cannot: that BigQuery's MERGE replaces the partition atomically and prunes the other
months (bills one month), and clustering's effect; test_bigquery_real.py's project runs
are where that would be seen.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from dagster import materialize

from taxi_pipeline.models.dashboards import dashboard_assets
from taxi_pipeline_tests.test_models import FACT, REVENUE, UPSTREAM, build_models, row_counts

pytestmark = pytest.mark.slow  # emulators and dbt subprocesses

DBT_BIGQUERY = Path(__file__).resolve().parents[1] / ".venv-dbt" / "bin" / "dbt"

# The course's revenue mart straight from the trip tables, in BigQuery's SQL: one trip per
# (vendor, pickup time) within a file's month, both zones known.
INDEPENDENT_REVENUE = """
with trips as (
    select 'Yellow' as service_type, vendorid, tpep_pickup_datetime as pickup, pulocationid, dolocationid,
           total_amount,
           row_number() over (partition by source_month, vendorid, tpep_pickup_datetime
               order by tpep_dropoff_datetime, pulocationid, dolocationid, total_amount, fare_amount) as rn
    from `{trips}.yellow_tripdata` where vendorid is not null
    union all
    select 'Green', vendorid, lpep_pickup_datetime, pulocationid, dolocationid, total_amount,
           row_number() over (partition by source_month, vendorid, lpep_pickup_datetime
               order by lpep_dropoff_datetime, pulocationid, dolocationid, total_amount, fare_amount)
    from `{trips}.green_tripdata` where vendorid is not null
)
select pz.zone, timestamp_trunc(pickup, month) as month, service_type, count(*) as trips,
       round(sum(cast(total_amount as numeric)), 2) as total
from trips
join `{trips}.taxi_zone_lookup` pz on pz.locationid = trips.pulocationid and pz.borough != 'Unknown'
join `{trips}.taxi_zone_lookup` dz on dz.locationid = trips.dolocationid and dz.borough != 'Unknown'
where rn = 1
group by 1, 2, 3 order by 1, 2, 3
"""
MART = """
select revenue_zone, revenue_month, service_type, total_monthly_trips,
       round(revenue_monthly_total_amount, 2)
from `{models}.dm_monthly_zone_revenue` order by 1, 2, 3
"""


@pytest.fixture
def env(request, monkeypatch):
    """gcp_env with dbt-bigquery's dbt and a models dataset of its own."""
    monkeypatch.setenv("TAXI_DBT_EXECUTABLE", str(DBT_BIGQUERY))
    monkeypatch.setenv("TAXI_MODELS_SCHEMA", f"models_{uuid.uuid4().hex[:8]}")
    return request.getfixturevalue("gcp_env")


def _build(env, models, selection, month=None):
    """test_models' build, which must succeed (the emulator's error shown if not)."""
    result = build_models(env, models, selection, month, raise_on_error=False)
    assert result.success, env.failure_text(result)
    return result


def _query(env, sql: str) -> list[tuple]:
    project, trips = env.settings["GCP_PROJECT"], env.settings["BQ_DATASET"]
    names = {"trips": f"{project}.{trips}", "models": f"{project}.{env.resources['dbt'].models_schema}"}
    return [tuple(row.values()) for row in env.bigquery().query(sql.format(**names)).result()]


def _months(env) -> dict:
    return dict(_query(env, "select source_month, count(*) from `{models}.fact_trips` group by 1"))


def test_the_models_build_in_bigquery_and_a_month_replaces_only_itself(env, models):
    assert env.materialize("zones").success
    for service in ("yellow", "green"):
        assert env.materialize(service, "2020-01").success
    _build(env, models, UPSTREAM)
    first = _build(env, models, [FACT], "2020-01")
    checks = {e.check_name: e.passed for e in first.get_asset_check_evaluations()}
    assert len(checks) == 5 and all(checks.values()), checks  # dbt's tests, run in BigQuery
    _build(env, models, [REVENUE])

    mart = _query(env, MART)
    assert mart == _query(env, INDEPENDENT_REVENUE)
    january = datetime(2020, 1, 1, tzinfo=UTC)
    trips = sum(row[3] for row in mart)
    assert _months(env) == {january: trips}
    assert row_counts(first)[FACT] == {"dagster/row_count": trips, "dagster/partition_row_count": trips}
    bq = env.bigquery()
    fact = bq.get_table(f"{env.settings['GCP_PROJECT']}.{env.resources['dbt'].models_schema}.fact_trips")
    assert (fact.time_partitioning.type_, fact.time_partitioning.field) == ("MONTH", "source_month")
    # The trip tables' dataset holds only the pipeline's tables: no model went there.
    trips_dataset = f"{env.settings['GCP_PROJECT']}.{env.settings['BQ_DATASET']}"
    trips_tables = {t.table_id for t in bq.list_tables(trips_dataset)}
    # (and the zone shapes' staging table is gone)
    assert trips_tables == {"yellow_tripdata", "green_tripdata", "taxi_zone_lookup", "taxi_zone_shapes"}

    # Re-running the month (insert_overwrite of its partition) changes no row.
    _build(env, models, [FACT], "2020-01")
    _build(env, models, [REVENUE])
    assert _query(env, MART) == mart

    # A marker on one January row: February's run must neither read nor rewrite January.
    _query(env, "update `{models}.fact_trips` set fare_amount = -4242 "
                "where tripid = (select min(tripid) from `{models}.fact_trips`)")
    january_rows = "select * from `{models}.fact_trips` where source_month = '2020-01-01' order by tripid"
    before = _query(env, january_rows)
    for service in ("yellow", "green"):
        assert env.materialize(service, "2020-02").success
    _build(env, models, [FACT], "2020-02")
    assert _query(env, january_rows) == before
    february = datetime(2020, 2, 1, tzinfo=UTC)
    both = sum(row[3] for row in _query(env, INDEPENDENT_REVENUE))
    assert _months(env) == {january: len(before), february: both - len(before)}

    # The dashboards, drawn from BigQuery's marts and tables into the bucket's dashboard/.
    _build(env, models, [REVENUE])
    drawn = materialize(dashboard_assets("bigquery"), resources=env.resources)
    assert drawn.success
    metadata = {e.asset_key.path[-1]: e.materialization.metadata
                for e in drawn.get_asset_materialization_events()}
    assert metadata["trips_per_month"]["trips"].value == {
        "yellow": env.bq_month("yellow", "2020-01") + env.bq_month("yellow", "2020-02"),
        "green": env.bq_month("green", "2020-01") + env.bq_month("green", "2020-02"), "fhv": 0, "fhvhv": 0}
    assert metadata["zone_map"]["zones_drawn"].value == 263  # the GEOGRAPHY column read back as WKT
    assert metadata["zone_map"]["zones_with_trips"].value > 10
    page = env.bucket().blob("dashboard/index.html")
    assert page.exists() and page.download_as_bytes().count(b"data:image/png;base64,") == 4
