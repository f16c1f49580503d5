"""The dashboards (models/dashboards.py) on the embedded default: drawn from the real
warehouse and marts the pipeline and dbt built, stored in the lake, shown in the
materializations, and the HTML page opened by Debian's chromium."""

from __future__ import annotations

import base64
import re

import pytest
from dagster import AssetKey, Definitions

from taxi_pipeline.models import charts
from taxi_pipeline.models.dashboards import CHARTS, GROUP
from taxi_pipeline.models.definitions import dashboard_definitions
from taxi_pipeline.services import SERVICES

pytestmark = pytest.mark.slow  # dbt subprocesses, a browser

MONTH = "2020-01"
PNG = b"\x89PNG\r\n\x1a\n"


def _location(taxi_env, models) -> Definitions:
    resources = Definitions(resources=taxi_env.resources)
    return Definitions.merge(models, dashboard_definitions("duckdb"), resources)


def _pictures(result) -> dict[str, bytes]:
    """Chart name -> the PNG embedded in its materialization's Markdown."""
    found = {}
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        if "chart" in metadata:
            image = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)\)", metadata["chart"].value)
            encoded = image.group(1)
            found[event.asset_key.path[-1]] = base64.b64decode(encoded)
    return found


def test_with_nothing_loaded_every_chart_says_what_is_missing(taxi_env, models):
    result = _location(taxi_env, models).resolve_job_def("dashboard_job").execute_in_process()
    assert result.success
    pictures = _pictures(result)
    assert set(pictures) == set(CHARTS)
    assert pictures["trips_per_month"] == charts.no_data("Trips per month, by service (every month loaded)",
                                                         "any service: load a month")
    assert pictures["top_zones"] == charts.top_zones([], "no months")
    folder = taxi_env.data_dir / "lake" / "dashboard"
    assert (folder / "trips_per_month.png").read_bytes() == pictures["trips_per_month"]
    assert (folder / "index.html").stat().st_size > sum(map(len, pictures.values()))


def test_the_dashboard_draws_the_marts_and_its_page_opens_in_a_browser(taxi_env, models, browser):
    assert taxi_env.materialize("zones").success  # the lookup and the zone shapes
    for service in ("yellow", "green"):
        assert taxi_env.materialize(service, MONTH).success
    defs = _location(taxi_env, models)
    assert defs.resolve_job_def("trip_models_job").execute_in_process(partition_key=MONTH).success
    assert defs.resolve_job_def("models_job").execute_in_process().success
    result = defs.resolve_job_def("dashboard_job").execute_in_process()
    assert result.success
    pictures = _pictures(result)
    assert set(pictures) == set(CHARTS) and all(png.startswith(PNG) for png in pictures.values())
    metadata = {e.asset_key: e.materialization.metadata for e in result.get_asset_materialization_events()}

    # Trips per month: the warehouse's months, each service that has one.
    trips = metadata[AssetKey([GROUP, "trips_per_month"])]
    loaded = {name: taxi_env.warehouse_month(name, MONTH)[0] if name in ("yellow", "green") else 0
              for name in SERVICES}
    assert trips["trips"].value == loaded
    # Top zones: the mart's largest revenue first, as the mart says.
    top = taxi_env.warehouse("select revenue_zone, sum(revenue_monthly_total_amount) from "
                             "taxi_models.dm_monthly_zone_revenue group by 1 order by 2 desc, 1 limit 1")[0]
    table = metadata[AssetKey([GROUP, "top_zones"])]["top_zones"].value
    assert f"| {top[0]} | {float(top[1]):,.2f} |" in table
    zones = metadata[AssetKey([GROUP, "zone_map"])]
    assert zones["zones_drawn"].value == 263 and zones["zones_with_trips"].value > 10
    for name in CHARTS:  # not a "no data" panel: each chart is drawn from rows
        assert pictures[name] != charts.no_data("x", "y") and len(pictures[name]) > 20_000, name

    # The same rows draw the same bytes.
    again = _pictures(defs.resolve_job_def("dashboard_job").execute_in_process())
    assert again == pictures

    # The page, from the lake's folder, with no server: every chart drawn.
    page_file = taxi_env.data_dir / "lake" / "dashboard" / "index.html"
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(page_file.as_uri())
    page.wait_for_load_state("load")
    drawn = page.eval_on_selector_all(
        "img.chart", "images => images.map(i => [i.closest('section').id, i.complete && i.naturalWidth])")
    assert dict(drawn) == {name: 1000 if name != "zone_map" else 900 for name in CHARTS}
    assert page.title() == "NYC taxi trips: the pipeline's dashboard"
