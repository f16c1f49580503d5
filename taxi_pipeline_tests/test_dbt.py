"""A dbt project written like the course's week-4 `taxi_rides_ny` builds on both local
targets with only connection settings changed: on Postgres through the lower-case views
(`ny_taxi.trips_data_all`), on the DuckDB warehouse under the names the course's 2026
project expects (`taxi_rides_ny.duckdb`, schema `prod`). Real dbt (`.venv-dbt`, from
scripts/install_dbt.sh), real servers; the dbt hub is out of reach, so dbt_utils' one
macro used comes as a local package."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from taxi_pipeline.connect import dbt_variables, postgres_connection
from taxi_pipeline.resources.dbt import DBT_PROJECT_DIR
from taxi_pipeline_tests.conftest import REPO, SAMPLE_MIRROR
from taxi_pipeline_tests.services import resources_with_postgres

pytestmark = pytest.mark.slow  # starts servers or subprocesses of its own (docs/development.md)

DBT = REPO / ".venv-dbt" / "bin" / "dbt"
PROJECT = Path(__file__).with_name("dbt_taxi_rides_ny")
MONTH = "2021-01"
REVENUE = ("select revenue_zone, cast(revenue_month as date), service_type, total_monthly_trips, "
           "round(cast(revenue_monthly_total_amount as numeric), 2) "
           "from dbt_learner.dm_monthly_zone_revenue order by 1, 2, 3")


@pytest.fixture
def dbt_project(tmp_path) -> Path:
    if not DBT.exists():
        pytest.fail(f"{DBT} is missing: run bash scripts/install_dbt.sh (scripts/test.sh does)")
    project = tmp_path / "taxi_rides_ny"
    shutil.copytree(PROJECT, project)
    # The same macros as the shipped project (the course's payment-type macro, dbt_utils'
    # surrogate key as a local package), taken from it rather than kept twice.
    shutil.copytree(DBT_PROJECT_DIR / "macros", project / "macros")
    shutil.copytree(DBT_PROJECT_DIR / "local_packages", project / "local_packages")
    # The course's seed: the zone lookup with lower-case headers.
    header, *rows = (SAMPLE_MIRROR / "misc" / "taxi_zone_lookup.csv").read_text().splitlines()
    (project / "seeds").mkdir()
    (project / "seeds" / "taxi_zone_lookup.csv").write_text("\n".join([header.lower(), *rows]) + "\n")
    _dbt(project, "deps")
    return project


def _dbt(project: Path, command: str, target: str | None = None, env: dict | None = None) -> dict:
    args = [str(DBT), command, "--project-dir", str(project), "--profiles-dir", str(project)]
    run = subprocess.run(
        args + (["--target", target] if target else []),
        env={**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", **(env or {})},
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, (
        f"dbt {command} --target {target} failed:\n{run.stdout[-4000:]}{run.stderr[-2000:]}"
    )
    if command != "build":
        return {}
    results = json.loads((project / "target" / "run_results.json").read_text())["results"]
    return {r["unique_id"]: r["status"] for r in results}


def test_the_course_style_dbt_project_builds_on_postgres_and_duckdb(taxi_env, dbt_project, monkeypatch):
    monkeypatch.setenv("TAXI_WAREHOUSE_FILE", "taxi_rides_ny.duckdb")
    monkeypatch.setenv("TAXI_WAREHOUSE_SCHEMA", "prod")
    taxi_env.resources = resources_with_postgres(taxi_env.resources["postgres"])
    for group, month in (("yellow", MONTH), ("green", "2020-01"), ("zones", None)):
        assert taxi_env.materialize(group, month).success
    variables = dbt_variables(taxi_env.resources)
    assert {k: variables["duckdb"][k] for k in ("DBT_DATABASE", "DBT_SCHEMA")} == \
        {"DBT_DATABASE": "taxi_rides_ny", "DBT_SCHEMA": "prod"}
    assert variables["postgres"]["DBT_SCHEMA"] == "trips_data_all"
    pg = postgres_connection(taxi_env.resources["postgres"])

    on_postgres = _dbt(dbt_project, "build", "postgres", {
        "DBT_PG_HOST": pg["host"], "DBT_PG_PORT": pg["port"], "DBT_PG_USER": pg["user"],
        "DBT_DATABASE": variables["postgres"]["DBT_DATABASE"], "DBT_SCHEMA": "trips_data_all",
    })
    on_duckdb = _dbt(dbt_project, "build", "duckdb", {
        "DBT_DUCKDB_PATH": variables["duckdb"]["path"], "DBT_DATABASE": "taxi_rides_ny", "DBT_SCHEMA": "prod",
    })

    # Every node built on both (1 seed, 5 models, 4 tests), the tests passing, not warning.
    assert on_postgres == on_duckdb
    assert sorted(on_postgres.values()) == ["pass"] * 4 + ["success"] * 6
    # The same answers from both targets...
    pg_revenue = taxi_env.pg(REVENUE)
    with duckdb.connect(variables["duckdb"]["path"], read_only=True) as conn:
        duck_revenue = conn.execute(REVENUE).fetchall()
        duck_trips = conn.execute("select count(*) from dbt_learner.fact_trips").fetchall()
    assert [tuple(map(str, r)) for r in pg_revenue] == [tuple(map(str, r)) for r in duck_revenue]
    # ...counting one trip per (vendor, pickup) with known zones, green and yellow.
    assert {s for _, _, s, _, _ in pg_revenue} == {"Green", "Yellow"}
    trips = sum(r[3] for r in pg_revenue)
    assert trips == duck_trips[0][0] == taxi_env.pg("select count(*) from dbt_learner.fact_trips")[0][0]
    # The staging dedup, as week-1 style SQL on the table: the first row per (vendor, pickup).
    kept = taxi_env.pg(
        'SELECT count(*) FROM (SELECT DISTINCT ON ("VendorID", "tpep_pickup_datetime") * '
        "FROM yellow_taxi_trips "
        'WHERE "VendorID" IS NOT NULL ORDER BY "VendorID", "tpep_pickup_datetime", "tpep_dropoff_datetime", '
        '"PULocationID", "DOLocationID", "total_amount", "fare_amount") t '
        'JOIN taxi_zone_lookup pu ON t."PULocationID" = pu."LocationID" '
        'JOIN taxi_zone_lookup du ON t."DOLocationID" = du."LocationID" '
        "WHERE pu.\"Borough\" != 'Unknown' AND du.\"Borough\" != 'Unknown'"
    )
    yellow = sum(r[3] for r in pg_revenue if r[2] == "Yellow")
    assert yellow == kept[0][0] > 15000
