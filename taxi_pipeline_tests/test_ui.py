"""The UI, as a user drives it: Debian's chromium (through Playwright) opens `dagster dev`,
finds the yellow job's asset graph, launches one month by clicking, and sees it succeed.
A screenshot of the finished run is saved to test-artifacts/. A second test shows a yellow
2009 month "Unsynced" once the TLC republishes the zone shapes it was located with.

With TAXI_UI_SCREENSHOTS=docs (a folder under the repository) the test also loads three
more months and saves the pictures the README shows: the global asset graph, a partition
grid with loaded and missing months, an asset check with its plots."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from taxi_pipeline.partitions import monthly_partitions
from taxi_pipeline.services import SERVICES
from taxi_pipeline.targets import counts_agree

from .conftest import REPO, dev_month_counts

pytestmark = pytest.mark.slow  # starts servers or subprocesses of its own (docs/development.md)

ARTIFACTS = REPO / "test-artifacts"


def _dismiss_first_visit_dialog(page) -> None:
    """The "Join the Dagster community" dialog can open seconds after the page loads and
    then blocks every click: Playwright dismisses it whenever it shows up before an action."""
    skip = page.get_by_role("button", name="Skip")
    page.add_locator_handler(skip, lambda button: button.click())


def test_one_month_launched_by_clicking_in_the_ui_succeeds(dagster_dev, browser):
    url, env, _ = dagster_dev
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    _dismiss_first_visit_dialog(page)
    page.goto(f"{url}/locations/taxi_pipeline/jobs/yellow_taxi_job")
    page.wait_for_load_state("networkidle")

    # The job's asset graph: its header counts the service's four assets, and the graph
    # draws the first of them (the rest may lie outside the viewport).
    page.get_by_text("View 4 assets").wait_for(timeout=30_000)
    page.get_by_text("raw_yellow_trips", exact=True).first.wait_for(timeout=30_000)
    page.get_by_role("button", name="Materialize all").click()
    # The picker's placeholder shows the job's first partition key (yellow: 2009-01).
    months = page.get_by_placeholder(f"ex: {monthly_partitions(SERVICES['yellow']).get_partition_keys()[0]}")
    months.fill("2019-02")
    months.press("Enter")
    page.get_by_role("button", name="Launch 1 run").click()
    page.get_by_text("Launched run").wait_for(timeout=60_000)  # the launch went through

    page.goto(f"{url}/runs")
    page.get_by_text("partition: 2019-02").first.wait_for(timeout=60_000)
    page.get_by_text("Success", exact=True).first.wait_for(timeout=300_000)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui_run_success.png"))

    counts = dev_month_counts(env, "yellow", "2019-02")
    assert counts_agree(counts), counts
    if os.environ.get("TAXI_UI_SCREENSHOTS"):
        _save_readme_pictures(page, url, env, REPO / os.environ["TAXI_UI_SCREENSHOTS"])


README_MONTHS = ("2019-03", "2020-01", "2021-01")  # 8, 999 and 22,792 rows: the plots rise


def _save_readme_pictures(page, url: str, env: dict, folder: Path) -> None:
    for month in README_MONTHS:
        _execute(env, "yellow_taxi_job", month)
    folder.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1600, "height": 1000})

    page.goto(f"{url}/asset-groups")
    _settle(page)
    page.get_by_text("yellow", exact=True).last.click()  # open the yellow group in the graph
    page.reload()  # the graph fits itself to the window on load
    _settle(page)
    page.get_by_text("yellow_taxi_trips", exact=True).first.wait_for()
    page.screenshot(path=str(folder / "ui_asset_graph.png"))

    page.goto(f"{url}/assets/postgres/yellow_taxi_trips?view=partitions")
    _settle(page)
    page.get_by_placeholder("Filter by name").fill("2021")
    page.get_by_text("2021-01", exact=True).first.click()
    page.get_by_text("rows_loaded").wait_for()
    page.screenshot(path=str(folder / "ui_partitions.png"))

    page.set_viewport_size({"width": 1600, "height": 1250})
    page.goto(f"{url}/assets/postgres/yellow_taxi_trips?view=checks")
    _settle(page)
    page.get_by_text("Plots").first.scroll_into_view_if_needed()
    page.wait_for_timeout(1500)  # the plots draw after the data arrives
    page.screenshot(path=str(folder / "ui_asset_check.png"))


def _settle(page) -> None:
    """Wait for the page's data, and close the first-visit dialog if it came up meanwhile."""
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(2500)
    skip = page.get_by_role("button", name="Skip")
    if skip.count():
        skip.click()


def _execute(env: dict, job: str, month: str | None = None) -> None:
    tags = ["--tags", f'{{"dagster/partition": "{month}"}}'] if month else []
    subprocess.run([str(Path(sys.executable).with_name("dagster")), "job", "execute", "-m",
                    "taxi_pipeline.definitions", "-j", job, *tags], cwd=REPO, env=env, check=True,
                   capture_output=True)


def test_new_zone_shapes_show_the_month_located_with_the_old_ones_stale(dagster_dev, browser, http_mirror):
    """Yellow 2009-01 is located with the shapes of its run; the TLC republishes the shapes:
    the UI shows that month stale, naming the shapes, and a 2021 month not."""
    from .layouts import zip_zone_shapes

    url, env, tmp_path = dagster_dev
    tlc = {**env, "TAXI_SOURCE": "tlc"}
    _execute(tlc, "taxi_zones_job")
    for month in ("2009-01", "2021-01"):
        _execute(tlc, "yellow_taxi_job", month)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    _dismiss_first_visit_dialog(page)

    def partition_text(month: str) -> str:
        page.goto(f"{url}/assets/lake/clean_yellow_trips?view=partitions&partition={month}")
        page.wait_for_load_state("networkidle")  # (the Skip dialog: the handler closes it)
        page.get_by_text("pickups_located" if month < "2011" else "rows", exact=True).first.wait_for()
        return page.inner_text("body")

    assert "Unsynced" not in partition_text("2009-01")
    zip_zone_shapes(http_mirror.root / "misc" / "taxi_zones.zip", "taxi_zones/")  # republished
    _execute(tlc, "taxi_zones_job")
    text = partition_text("2009-01")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ui_stale_located_month.png"))
    assert "Unsynced" in text, text[:3000]
    assert "Unsynced" not in partition_text("2021-01")
