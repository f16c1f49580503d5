"""The course's dbt models as Dagster assets (models/transform.py) on the embedded default:
real dbt (dbt-core + dbt-duckdb in the project's environment) on the real DuckDB warehouse
the pipeline loaded, months from the bundled course mirror over a real HTTP server."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pytest
from dagster import AssetKey, Definitions, materialize

from taxi_pipeline_tests.definitions import assets_for

pytestmark = pytest.mark.slow  # dbt subprocesses

MODELS = "taxi_models"
UPSTREAM = [AssetKey(["models", name]) for name in ("stg_yellow_tripdata", "stg_green_tripdata", "dim_zones")]
FACT = AssetKey(["models", "fact_trips"])
REVENUE = AssetKey(["models", "dm_monthly_zone_revenue"])

# The course's revenue mart, computed straight from the pipeline's warehouse tables: one trip
# per (vendor, pickup time) within a file's month, both zones known, grouped by pickup zone,
# pickup month and service.
INDEPENDENT_REVENUE = """
with trips as (
    select 'Yellow' as service_type, vendorid, tpep_pickup_datetime as pickup, pulocationid, dolocationid,
           total_amount, source_month,
           row_number() over (partition by source_month, vendorid, tpep_pickup_datetime
               order by tpep_dropoff_datetime, pulocationid, dolocationid, total_amount, fare_amount) as rn
    from trips_data_all.yellow_tripdata where vendorid is not null
    union all
    select 'Green', vendorid, lpep_pickup_datetime, pulocationid, dolocationid, total_amount, source_month,
           row_number() over (partition by source_month, vendorid, lpep_pickup_datetime
               order by lpep_dropoff_datetime, pulocationid, dolocationid, total_amount, fare_amount)
    from trips_data_all.green_tripdata where vendorid is not null
)
select pz.zone, date_trunc('month', pickup), service_type, count(*),
       round(sum(cast(total_amount as decimal(18, 3))), 2)
from trips
join trips_data_all.taxi_zone_lookup pz on pz.locationid = trips.pulocationid and pz.borough != 'Unknown'
join trips_data_all.taxi_zone_lookup dz on dz.locationid = trips.dolocationid and dz.borough != 'Unknown'
where rn = 1
group by 1, 2, 3 order by 1, 2, 3
"""
MART = f"""
select revenue_zone, revenue_month, service_type, total_monthly_trips,
       round(revenue_monthly_total_amount, 2)
from {MODELS}.dm_monthly_zone_revenue order by 1, 2, 3
"""


def build_models(taxi_env, models, selection, month=None, **kwargs):
    return materialize([*assets_for(taxi_env.source), *models.assets], selection=selection,
                       partition_key=month, resources=taxi_env.resources, **kwargs)


def _load(taxi_env, models, month):
    """The month of yellow and green, then the models' two jobs as a user runs them."""
    for service in ("yellow", "green"):
        assert taxi_env.materialize(service, month).success
    defs = Definitions.merge(models, Definitions(resources=taxi_env.resources))
    fact = defs.resolve_job_def("trip_models_job").execute_in_process(partition_key=month)
    assert fact.success
    assert defs.resolve_job_def("models_job").execute_in_process().success
    return fact


def row_counts(result) -> dict:
    """Asset key -> its materialization's row counts (views have none)."""
    return {e.asset_key: {k: v.value for k, v in e.materialization.metadata.items()
                          if k in ("dagster/row_count", "dagster/partition_row_count")}
            for e in result.get_asset_materialization_events()}


def _write(taxi_env, sql: str):
    with duckdb.connect(taxi_env.resources["warehouse_io_manager"].database) as con:
        con.execute(sql)


def test_a_month_of_models_equals_independent_sql_and_later_months_leave_it_alone(taxi_env, models):
    assert taxi_env.materialize("zones").success
    for service in ("yellow", "green"):
        assert taxi_env.materialize(service, "2020-01").success
    result = build_models(taxi_env, models, UPSTREAM)
    assert result.success
    first = build_models(taxi_env, models, [FACT], "2020-01")
    assert first.success
    checks = {e.check_name: e.passed for e in first.get_asset_check_evaluations()}
    assert checks and all(checks.values()), checks  # dbt's tests, as the fact's checks
    assert build_models(taxi_env, models, [REVENUE]).success

    mart = taxi_env.warehouse(MART)
    assert mart == taxi_env.warehouse(INDEPENDENT_REVENUE)
    trips = sum(row[3] for row in mart)
    assert trips == taxi_env.warehouse(f"select count(*) from {MODELS}.fact_trips")[0][0] > 400
    assert row_counts(first)[FACT] == {"dagster/row_count": trips, "dagster/partition_row_count": trips}

    # Re-running the month changes no row.
    assert build_models(taxi_env, models, [FACT], "2020-01").success
    assert build_models(taxi_env, models, [REVENUE]).success
    assert taxi_env.warehouse(MART) == mart

    # A marker on one 2020-01 row: the next month's run must neither read nor rewrite it.
    _write(taxi_env, f"update {MODELS}.fact_trips set fare_amount = -4242 "
                     f"where tripid = (select min(tripid) from {MODELS}.fact_trips)")
    january = f"select * from {MODELS}.fact_trips where source_month = '2020-01-01' order by tripid"
    before = taxi_env.warehouse(january)
    february = _load(taxi_env, models, "2020-02")
    after = taxi_env.warehouse(january)
    assert after == before  # 2020-01 untouched, marker included
    months = dict(taxi_env.warehouse(f"select source_month, count(*) from {MODELS}.fact_trips group by 1"))
    assert set(months) == {datetime(2020, 1, 1), datetime(2020, 2, 1)}
    both_months = sum(row[3] for row in taxi_env.warehouse(INDEPENDENT_REVENUE))
    assert months[datetime(2020, 2, 1)] == both_months - trips
    counts = row_counts(february)
    assert counts[FACT] == {"dagster/row_count": both_months,
                            "dagster/partition_row_count": both_months - trips}
    assert counts[AssetKey(["models", "dim_zones"])]["dagster/row_count"] == 265
    assert counts[AssetKey(["models", "stg_yellow_tripdata"])] == {}  # a view: not counted

    # The catalog's columns (schema.yml) are the columns dbt built, in order, with their types.
    graph = Definitions.merge(models, Definitions(resources=taxi_env.resources)).resolve_asset_graph()
    for key in [*UPSTREAM, FACT, REVENUE]:
        catalog = [(c.name, c.type) for c in graph.get(key).metadata["dagster/column_schema"].columns]
        built = taxi_env.warehouse(
            "select lower(column_name), lower(data_type) from information_schema.columns "
            f"where table_schema = '{MODELS}' and table_name = '{key.path[-1]}' order by ordinal_position")
        assert catalog == [tuple(row) for row in built], key


def test_a_month_tests_its_own_months_and_a_failing_dbt_test_fails_its_check(taxi_env, models):
    assert taxi_env.materialize("zones").success
    for service in ("yellow", "green"):
        assert taxi_env.materialize(service, "2020-01").success
    assert build_models(taxi_env, models, UPSTREAM).success
    assert build_models(taxi_env, models, [FACT], "2020-01").success
    _write(taxi_env, f"update {MODELS}.fact_trips set service_type = 'Blue' "
                     f"where tripid = (select min(tripid) from {MODELS}.fact_trips)")

    # 2020-02's build tests 2020-02's rows, not the history again (a `where` on the window).
    february = build_models(taxi_env, models, [FACT], "2020-02")
    checks = {e.check_name: e.passed for e in february.get_asset_check_evaluations()}
    assert february.success and len(checks) == 5 and all(checks.values()), checks

    # Bad input: a zone twice in the pipeline's zone table fails dim_zones' unique test.
    _write(taxi_env, "insert into trips_data_all.taxi_zone_lookup "
                     "select * from trips_data_all.taxi_zone_lookup where locationid = 1")
    result = build_models(taxi_env, models, [AssetKey(["models", "dim_zones"])], raise_on_error=False)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"unique_dim_zones_locationid": False, "not_null_dim_zones_locationid": True}


def test_a_2009_month_is_located_in_its_zones_and_its_trips_reach_the_fact_and_the_mart(tlc_env, models):
    """Yellow 2009 carries coordinates, not zone IDs: on the embedded default the month is
    located with the TLC's real shapes in the pass, and fact_trips and the revenue mart hold
    its trips (before, both lost every 2009-2010 trip)."""
    assert tlc_env.materialize("zones").success
    result = tlc_env.materialize("yellow", "2009-01")
    assert result.success
    clean = next(e.materialization.metadata for e in result.get_asset_materialization_events()
                 if e.asset_key == AssetKey(["lake", "clean_yellow_trips"]))
    assert clean["pickups_located"].value > 0.8 * clean["rows"].value
    assert "zone_shapes_version" in clean  # (each in-process materialize has its own instance)
    assert tlc_env.checks(result)["zones_located"].passed is False  # the sample's 1 in 11 has no point
    assert tlc_env.materialize("green", "2019-02").success  # the models read green's table too
    assert build_models(tlc_env, models, UPSTREAM).success
    fact = build_models(tlc_env, models, [FACT], "2009-01")
    assert fact.success
    assert build_models(tlc_env, models, [REVENUE]).success

    january = datetime(2009, 1, 1)
    only_2009 = "where rn = 1 and service_type = 'Yellow' and source_month = '2009-01-01'"
    expected = tlc_env.warehouse(INDEPENDENT_REVENUE.replace("where rn = 1", only_2009))
    trips = sum(row[3] for row in expected)
    assert trips > 1000
    assert tlc_env.warehouse(f"select count(*) from {MODELS}.fact_trips where source_month = ?",
                             [january]) == [(trips,)]
    mart = tlc_env.warehouse(f"select sum(total_monthly_trips) from {MODELS}.dm_monthly_zone_revenue "
                             "where service_type = 'Yellow' and revenue_month < '2009-02-01'")
    assert mart == [(trips,)]
