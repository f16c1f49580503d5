"""The two code locations as `dagster dev -w workspace.yaml` serves them: the models'
automation (`taxi_models_automation`, in the `taxi_models` location) follows the months
the pipeline's location loads, across the two, with the daemon that serves them both, down
to the dashboards; and the UI shows a dashboard's picture in its materialization (Debian's
chromium)."""

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from dagster import AssetKey, DagsterInstance

from .conftest import REPO

pytestmark = pytest.mark.slow  # starts dagster dev (docs/development.md)

MONTH = "2019-01"
FACT = AssetKey(["models", "fact_trips"])
MART = AssetKey(["models", "dm_monthly_zone_revenue"])
MAP = AssetKey(["dashboards", "zone_map"])


def _execute(env: dict, job: str, month: str | None = None) -> None:
    tags = ["--tags", f'{{"dagster/partition": "{month}"}}'] if month else []
    subprocess.run([str(Path(sys.executable).with_name("dagster")), "job", "execute", "-m",
                    "taxi_pipeline.definitions", "-j", job, *tags], cwd=REPO, env=env, check=True,
                   capture_output=True)


def _map_drawn(instance) -> bool:
    """The zone map drawn from trips (redrawn once fact_trips has its month; a map drawn
    before that is a "No data" panel)."""
    event = instance.get_latest_materialization_event(MAP)
    return event is not None and event.asset_materialization.metadata["zones_with_trips"].value > 0


def test_the_models_and_dashboards_follow_a_month_the_pipelines_location_loaded(dagster_dev, browser):
    url, env, tmp_path = dagster_dev
    for job, month in [("taxi_zones_job", None), ("green_taxi_job", MONTH), ("yellow_taxi_job", MONTH)]:
        _execute(env, job, month)
    instance = DagsterInstance.from_config(str(tmp_path / "dagster_home"))
    deadline = time.monotonic() + 420
    while not (MONTH in instance.get_materialized_partitions(FACT)
               and instance.get_latest_materialization_event(MART) is not None and _map_drawn(instance)):
        assert time.monotonic() < deadline, "the automation did not build fact_trips, the mart and the map"
        time.sleep(5)
    fact_run = instance.get_run_by_id(instance.get_latest_materialization_event(FACT).run_id)
    assert fact_run.remote_job_origin.location_name == "taxi_models"
    warehouse = Path(env["TAXI_DATA_DIR"]) / "warehouse.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as db:
        trips = db.execute("select count(*) from taxi_models.fact_trips where pickup_datetime >= ?"
                           " and pickup_datetime < ?", [f"{MONTH}-01", "2019-02-01"]).fetchone()[0]
        loaded = sum(db.execute(f"select count(*) from trips_data_all.{table}").fetchone()[0]
                     for table in ("yellow_tripdata", "green_tripdata"))
    assert 0 < trips <= loaded  # fact_trips keeps the trips of known zones with a vendor

    # The map in its materialization, as the UI shows it: a Markdown entry whose image draws.
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.add_locator_handler(page.get_by_role("button", name="Skip"), lambda button: button.click())
    page.goto(f"{url}/assets/dashboards/zone_map")
    page.get_by_text("[Show Markdown]").first.click(timeout=60_000)
    picture = page.locator("img[src^='data:image/png;base64,']").first
    picture.wait_for(timeout=30_000)
    assert picture.evaluate("image => image.complete && image.naturalWidth") == 900
