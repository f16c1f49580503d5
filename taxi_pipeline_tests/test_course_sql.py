"""SQL written the way the course writes it runs on the local targets as written.

- the course's dbt models: unquoted lower-case names (`vendorid`, `pulocationid`) on
  `trips_data_all.{service}_tripdata`: in Postgres through the lower-case views, in
  DuckDB on the warehouse tables themselves (DuckDB matches names case-insensitively);
- the week-1 SQL: quoted mixed-case names (`"PULocationID"`) on the Postgres tables;
- dbt_utils' surrogate key: md5 of the columns cast to text, nulls as a marker.
"""

import hashlib
import re
from collections import Counter

import pyarrow.parquet as pq

from taxi_pipeline.io_managers.postgres_views import ensure_view, relation_columns
from taxi_pipeline_tests.conftest import REPO
from taxi_pipeline_tests.services import resources_with_postgres

MONTH = "2021-01"

STAGING = """
    select
        cast(vendorid as integer) as vendorid,
        cast(ratecodeid as integer) as ratecodeid,
        cast(pulocationid as integer) as pickup_locationid,
        cast(dolocationid as integer) as dropoff_locationid,
        cast(tpep_pickup_datetime as timestamp) as pickup_datetime,
        cast(passenger_count as integer) as passenger_count,
        cast(total_amount as numeric) as total_amount,
        cast(congestion_surcharge as numeric) as congestion_surcharge
    from trips_data_all.yellow_tripdata
    where vendorid is not null
"""

SURROGATE_KEY = """
    select md5(cast(
        coalesce(cast(vendorid as varchar), '_dbt_utils_surrogate_key_null_') || '-' ||
        coalesce(cast(tpep_pickup_datetime as varchar), '_dbt_utils_surrogate_key_null_')
    as varchar)) as tripid
    from trips_data_all.yellow_tripdata
"""

WEEK_1 = """
    SELECT CONCAT(zpu."Borough", ' / ', zpu."Zone") AS pickup_loc, COUNT(1) AS trips,
           ROUND(CAST(SUM(t."total_amount") AS numeric), 2) AS revenue
    FROM {trips} t JOIN {zones} zpu ON t."PULocationID" = zpu."LocationID"
    WHERE CAST(t."tpep_pickup_datetime" AS date) = '2021-01-01'
    GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5
"""


def _load(env, *groups: tuple[str, str | None]) -> None:
    for group, month in groups:
        assert env.materialize(group, month).success


def test_course_style_sql_runs_unchanged_on_postgres_views_tables_and_the_warehouse(taxi_env):
    _load(taxi_env, ("yellow", MONTH), ("zones", None))
    rows = taxi_env.mirror.rows("yellow", MONTH)

    # dbt staging through the view: lower-case unquoted names, the course's casts.
    summary = (
        f"select count(*), sum(total_amount), sum(pickup_locationid), min(pickup_datetime) from ({STAGING}) s"
    )
    pg = taxi_env.pg(summary)
    duck = taxi_env.warehouse(summary)
    table = taxi_env.pg('SELECT count(*), sum(CAST("total_amount" AS numeric)), sum("PULocationID"), '
                        'min("tpep_pickup_datetime") FROM yellow_taxi_trips WHERE "VendorID" IS NOT NULL')
    assert pg == table
    assert pg[0][0] == duck[0][0] > 0.9 * rows
    assert [float(pg[0][1]), pg[0][2], pg[0][3]] == [float(duck[0][1]), duck[0][2], duck[0][3]]

    # The week-1 SQL: quoted mixed-case names on the Postgres tables; the same SQL on DuckDB.
    week1_pg = taxi_env.pg(WEEK_1.format(trips="yellow_taxi_trips", zones="taxi_zone_lookup"))
    week1_duck = taxi_env.warehouse(WEEK_1.format(trips="trips_data_all.yellow_tripdata",
                                                  zones="trips_data_all.taxi_zone_lookup"))
    assert len(week1_pg) == 5 and week1_pg[0][1] > 10
    assert [(z, n, float(r)) for z, n, r in week1_pg] == [(z, n, float(r)) for z, n, r in week1_duck]

    # The zone lookup has its lower-case view too (the course's dim_zones reads locationid, zone).
    assert taxi_env.pg("select zone from trips_data_all.taxi_zone_lookup where locationid = 1") == [
        ("Newark Airport",)
    ]

    # dbt_utils.generate_surrogate_key: the same keys in Postgres (view), DuckDB and Python.
    clean = pq.read_table(
        taxi_env.lake_file("clean", "yellow", MONTH), columns=["VendorID", "tpep_pickup_datetime"]
    )
    null = "_dbt_utils_surrogate_key_null_"
    expected = Counter(
        hashlib.md5(f"{null if v is None else v}-{null if t is None else t}".encode()).hexdigest()
        for v, t in zip(clean.column(0).to_pylist(), clean.column(1).to_pylist(), strict=True)
    )
    assert Counter(k for (k,) in taxi_env.pg(SURROGATE_KEY)) == expected
    assert Counter(k for (k,) in taxi_env.warehouse(SURROGATE_KEY)) == expected
    assert sum(expected.values()) == rows


def documented_queries(target: str) -> list[str]:
    """The docs' example queries for a target (docs/querying.md, linked from the README):
    ```sql blocks starting `-- <target>:`."""
    blocks = re.findall(r"```sql\n(.*?)```", (REPO / "docs" / "querying.md").read_text(), re.S)
    return [b for b in blocks if b.startswith(f"-- {target}:")]


def test_the_documented_example_queries_run_as_written(taxi_env):
    """Those of "Querying the data", on the demo's course month."""
    _load(taxi_env, ("yellow", MONTH), ("zones", None))
    postgres, duck = documented_queries("postgres"), documented_queries("duckdb")
    assert len(postgres) == len(duck) == 3
    for query in postgres:
        assert taxi_env.pg(query), query
    for query in duck:
        assert taxi_env.warehouse(query), query
    [(trips, keys)] = taxi_env.warehouse(duck[1])
    assert trips == taxi_env.mirror.rows("yellow", MONTH) and 0 < keys <= trips


def test_the_view_follows_a_table_that_gained_a_column_and_views_built_on_it_survive(taxi_env):
    """The previous release's fhv table lacked Affiliated_base_number, and its view too;
    a learner's dbt model is a view on ours (what `dbt run` makes of a staging model)."""
    _load(taxi_env, ("fhv", "2019-01"))
    taxi_env.pg('ALTER TABLE fhv_taxi_trips DROP COLUMN "Affiliated_base_number" CASCADE')
    with taxi_env.resources["postgres"].connect() as conn:
        assert ensure_view(conn, "public", "fhv_taxi_trips", "trips_data_all", "fhv_tripdata")
        assert not ensure_view(conn, "public", "fhv_taxi_trips", "trips_data_all", "fhv_tripdata")
    taxi_env.pg("CREATE SCHEMA dbt_learner")
    taxi_env.pg("CREATE VIEW dbt_learner.stg_fhv_tripdata AS SELECT dispatching_base_num, "
                "pulocationid, pickup_datetime FROM trips_data_all.fhv_tripdata")
    before = _view_columns(taxi_env, "fhv_tripdata")
    assert "affiliated_base_number" not in before

    _load(taxi_env, ("fhv", "2019-02"))

    after = _view_columns(taxi_env, "fhv_tripdata")
    assert after == before + ["affiliated_base_number"]
    assert after == [c.lower() for c in _table_columns(taxi_env, "fhv_taxi_trips")]
    assert taxi_env.pg("select count(affiliated_base_number) from trips_data_all.fhv_tripdata") == \
        taxi_env.pg('SELECT count("Affiliated_base_number") FROM fhv_taxi_trips')
    assert (
        taxi_env.pg(
            "select count(*) from trips_data_all.fhv_tripdata where affiliated_base_number is not null"
        )[0][0]
        > 0
    )
    stg = taxi_env.pg(
        "select count(*) from dbt_learner.stg_fhv_tripdata where pickup_datetime >= '2019-02-01'"
    )
    assert stg == [taxi_env.pg_month("fhv", "2019-02")]


def test_a_relation_of_someone_else_where_a_view_goes_stops_the_load_at_once(taxi_env):
    taxi_env.pg("CREATE SCHEMA trips_data_all")
    taxi_env.pg("CREATE TABLE trips_data_all.green_tripdata (vendorid integer)")

    result = taxi_env.materialize("green", "2019-01", raise_on_error=False)

    assert not result.success and taxi_env.retries(result) == 0
    [message] = taxi_env.failures(result)
    assert message.startswith(
        "Postgres table trips_data_all.green_tripdata exists but was not created by taxi_pipeline"
    )
    assert "TAXI_PG_VIEWS_SCHEMA" in message
    # Nothing half-made: the trip table's creation rolled back with the view's.
    assert taxi_env.pg("SELECT to_regclass('public.green_taxi_trips')") == [(None,)]
    assert taxi_env.pg("SELECT count(*) FROM trips_data_all.green_tripdata") == [(0,)]


def test_the_views_schema_is_configurable_and_can_be_turned_off(taxi_env, monkeypatch):
    postgres = taxi_env.resources["postgres"]
    monkeypatch.setenv("TAXI_PG_VIEWS_SCHEMA", "course_sources")
    taxi_env.resources = resources_with_postgres(postgres)
    _load(taxi_env, ("green", "2019-01"))
    assert taxi_env.pg("select count(*) from course_sources.green_tripdata") == [
        taxi_env.pg_month("green", "2019-01")
    ]

    monkeypatch.setenv("TAXI_PG_VIEWS_SCHEMA", "")
    taxi_env.resources = resources_with_postgres(postgres)
    _load(taxi_env, ("yellow", "2019-01"))
    assert taxi_env.pg("SELECT to_regclass('course_sources.yellow_tripdata'), "
                       "to_regclass('trips_data_all.yellow_tripdata')") == [(None, None)]


def test_the_warehouse_file_and_schema_are_configurable(taxi_env, monkeypatch):
    """The course's 2026 dbt project reads `prod.green_tripdata` in `taxi_rides_ny.duckdb`."""
    monkeypatch.setenv("TAXI_WAREHOUSE_FILE", "taxi_rides_ny.duckdb")
    monkeypatch.setenv("TAXI_WAREHOUSE_SCHEMA", "prod")
    taxi_env.resources = resources_with_postgres(taxi_env.resources["postgres"])

    result = taxi_env.materialize("green", "2019-01")

    assert result.success
    reconcile = taxi_env.checks(result)["rows_reconcile"]
    # The check's own read found the month in the configured file and schema.
    assert reconcile.passed and reconcile.metadata["rows warehouse"].value == 8
    database = taxi_env.data_dir / "taxi_rides_ny.duckdb"
    assert taxi_env.resources["warehouse_io_manager"].database == str(database)
    assert taxi_env.warehouse("select count(*) from taxi_rides_ny.prod.green_tripdata") == \
        [taxi_env.pg_month("green", "2019-01")]
    assert not (taxi_env.data_dir / "warehouse.duckdb").exists()


def _view_columns(env, view: str) -> list[str]:
    return _table_columns(env, view, "trips_data_all")


def _table_columns(env, table: str, schema: str = "public") -> list[str]:
    with env.resources["postgres"].connect() as conn:
        return relation_columns(conn, schema, table)
