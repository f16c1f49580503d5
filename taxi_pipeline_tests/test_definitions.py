"""The code location loads with the expected shape (four assets per service, the jobs,
partitions from each service's first month to the present one), as a `dg` project whose
modules import in one direction and build nothing on import."""

import ast
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from dagster import AssetKey

from taxi_pipeline.assets.keys import trip_asset_keys
from taxi_pipeline.definitions import defs as location
from taxi_pipeline.environments import resources_for_environment
from taxi_pipeline.models.definitions import defs as models_location
from taxi_pipeline.partitions import monthly_partitions
from taxi_pipeline.services import SERVICES

from .conftest import REPO

PACKAGE = REPO / "taxi_pipeline"
LAYERS = ["lake/raw_{c}_trips", "lake/clean_{c}_trips", "warehouse/{c}_tripdata", "postgres/{c}_taxi_trips"]
FIRST_MONTHS = {"yellow": "2009-01", "green": "2014-01", "fhv": "2015-01", "fhvhv": "2019-02"}


@pytest.fixture(scope="module")
def defs():
    return location()


@pytest.fixture(scope="module")
def models():
    return models_location()


@pytest.mark.parametrize("service", sorted(FIRST_MONTHS))
def test_partitions_run_from_the_first_published_month_to_the_present_one(service):
    partitions = monthly_partitions(SERVICES[service])
    assert partitions.get_partition_keys()[0] == FIRST_MONTHS[service]
    # They grow with time, no redeploy: the last key is the month of "now".
    for now, last in [(datetime(2026, 11, 22), "2026-11"), (datetime(2031, 2, 1, 0, 5), "2031-02")]:
        assert partitions.get_partition_keys(current_time=now)[-1] == last


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_has_four_assets_on_the_monthly_partitions(defs, service):
    graph = defs.resolve_asset_graph()
    keys = [AssetKey.from_user_string(layer.format(c=service)) for layer in LAYERS]
    for key in keys:
        node = graph.get(key)
        assert node.partitions_def == monthly_partitions(SERVICES[service]), key
        assert node.group_name == service
    # raw -> clean -> (warehouse, postgres); yellow's months with coordinates also read the
    # zone shapes they are located with (per month: an external asset, assets/zones.py)
    shapes = {AssetKey(["lake", "yellow_zone_shapes"])} if service == "yellow" else set()
    assert graph.get(keys[1]).parent_keys == {keys[0], *shapes}
    assert graph.get(keys[2]).parent_keys == {keys[1]}
    assert graph.get(keys[3]).parent_keys == {keys[1]}


def test_zone_lookup_assets_are_unpartitioned(defs):
    graph = defs.resolve_asset_graph()
    for key in ["lake/raw_taxi_zone_lookup", "warehouse/taxi_zone_lookup", "postgres/taxi_zone_lookup"]:
        assert graph.get(AssetKey.from_user_string(key)).partitions_def is None


def test_the_dbt_models_follow_the_warehouse_tables_and_fact_trips_is_monthly(models):
    graph = models.resolve_asset_graph()
    fact = graph.get(AssetKey(["models", "fact_trips"]))
    assert fact.partitions_def == monthly_partitions(SERVICES["yellow"])
    assert graph.get(AssetKey(["models", "stg_green_tripdata"])).parent_keys == {
        AssetKey(["warehouse", "green_tripdata"])
    }
    zones = graph.get(AssetKey(["models", "dim_zones"]))
    assert zones.parent_keys == {AssetKey(["warehouse", "taxi_zone_lookup"])}
    revenue = graph.get(AssetKey(["models", "dm_monthly_zone_revenue"]))
    assert AssetKey(["models", "fact_trips"]) in revenue.parent_keys
    assert models.resolve_job_def("trip_models_job").partitions_def == monthly_partitions(SERVICES["yellow"])


@pytest.mark.parametrize("service", sorted(FIRST_MONTHS))
def test_one_monthly_job_per_service(defs, service):
    assert defs.resolve_job_def(f"{service}_taxi_job").partitions_def == monthly_partitions(SERVICES[service])


def test_a_backfill_runs_months_per_run_by_their_size_and_automation_one_month(defs, models):
    """policies.backfill_policy: ~48M rows of recent months per run, 1 to 12; the service
    months' automation requests runs (one month each), the models' emits backfills."""
    graph = defs.resolve_asset_graph()
    model_graph = models.resolve_asset_graph()
    per_run = {name: graph.get(trip_asset_keys(service).raw).backfill_policy.max_partitions_per_run
               for name, service in SERVICES.items()}
    assert per_run == {"yellow": 12, "green": 12, "fhv": 12, "fhvhv": 2}
    assert model_graph.get(AssetKey(["models", "fact_trips"])).backfill_policy.max_partitions_per_run is None
    sensors = {s.name: s for s in defs.sensors}
    assert not sensors["taxi_month_automation"].emit_backfills
    months = sensors["taxi_month_automation"].asset_selection.resolve(graph)
    assert trip_asset_keys(SERVICES["fhvhv"]).clean in months
    assert AssetKey(["lake", "taxi_zone_lookup"]) not in months
    (model_sensor,) = models.sensors
    assert model_sensor.name == "taxi_models_automation" and model_sensor.emit_backfills
    assert AssetKey(["models", "fact_trips"]) in model_sensor.asset_selection.resolve(model_graph)


@pytest.mark.slow  # a child load (the marker's rule)
def test_a_months_run_imports_neither_dbt_nor_the_google_clients_nor_the_geo_code():
    """The pipeline's location (what a month's run loads) without dagster-dbt and dbt-core
    (the models' location has them), without the component library's listing (it imports
    every integration), and on the local default without Google's clients or shapely."""
    script = (
        "import sys\n"
        "from taxi_pipeline.definitions import defs\n"
        "defs().resolve_asset_graph()\n"
        "heavy = ('dbt', 'dagster_dbt', 'agate', 'google', 'dagster_gcp', 'shapely', 'pyproj')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TAXI_PIPELINE_ENV"}
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == "[]"


def test_the_location_has_every_check_schedule_sensor_and_resource(defs, models):
    graph = defs.resolve_asset_graph()
    pipeline_checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    model_graph = models.resolve_asset_graph()
    model_checks = {(k.asset_key.to_user_string(), k.name) for k in model_graph.asset_check_keys}
    checks = pipeline_checks | model_checks
    # 4 per service + negative_total_amount for yellow and green + a freshness check per service
    # + zones_located for yellow (2009-2010 carry coordinates)
    assert len(pipeline_checks) == 23
    assert ("lake/clean_yellow_trips", "zones_located") in checks
    assert ("warehouse/fhv_tripdata", "newest_month_loaded") in checks
    assert ("models/fact_trips", "not_null_fact_trips_tripid") in checks  # dbt's tests
    assert ("postgres/fhvhv_taxi_trips", "rows_reconcile") in checks
    assert ("lake/clean_yellow_trips", "negative_total_amount") in checks
    assert ("lake/clean_fhv_trips", "negative_total_amount") not in checks
    assert sorted(s.name for s in defs.schedules) == [
        "fhv_monthly_schedule", "fhvhv_monthly_schedule", "freshness_schedule", "green_monthly_schedule",
        "yellow_monthly_schedule"]
    monthly = {s.name: s for s in defs.schedules if s.name != "freshness_schedule"}
    assert {(s.job_name, s.cron_schedule, s.execution_timezone, s.default_status.value)
            for s in monthly.values()} == {
        (f"{name}_taxi_job", "0 6 25 * *", "UTC", "STOPPED") for name in SERVICES}
    sensor_names = ["alert_on_run_failure", "taxi_automation", "taxi_month_automation", "tlc_source_sensor"]
    assert sorted(s.name for s in defs.sensors) == sensor_names
    assert set(defs.resources) == set(models.resources) == {
        "alerts", "dbt", "lake_io_manager", "postgres", "postgres_io_manager", "source", "warehouse",
        "warehouse_io_manager"}
    assert models.executor == defs.executor


def test_unknown_environment_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TAXI_PIPELINE_ENV", "azure")
    with pytest.raises(ValueError, match="TAXI_PIPELINE_ENV='azure'"):
        resources_for_environment()


def _modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): path
        for path in PACKAGE.rglob("*.py")
    }


def _imports(path: Path) -> set[str]:
    """The taxi_pipeline modules a file imports (anywhere in it, functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == "taxi_pipeline"}


def _under(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


IMPORTED_ONLY_BY = {
    "taxi_pipeline.definitions": (),
    "taxi_pipeline.models.definitions": (),
    "taxi_pipeline.defs": (
        "taxi_pipeline.defs", "taxi_pipeline.definitions", "taxi_pipeline.models.definitions",
        "taxi_pipeline.report", "taxi_pipeline.connect",
    ),
    "taxi_pipeline.models": ("taxi_pipeline.models",),  # a location of its own
    "taxi_pipeline.environments": ("taxi_pipeline.defs",),  # the wiring
}
NEVER_IMPORT = {
    "taxi_pipeline.resources": ("taxi_pipeline.io_managers", "taxi_pipeline.assets"),
    "taxi_pipeline.io_managers": ("taxi_pipeline.assets",),
}


def test_imports_run_one_way_and_only_the_definitions_import_the_wiring():
    """definitions -> defs -> environments (the wiring) -> assets -> io_managers -> resources;
    the models' location (models/) uses the pipeline's resources, nothing imports it."""
    wrong = set()
    for module, path in _modules().items():
        for imported in _imports(path):
            for target, importers in IMPORTED_ONLY_BY.items():
                if _under(imported, target) and not any(_under(module, i) for i in importers):
                    wrong.add(f"{module} imports {imported}")
            for layer, below in NEVER_IMPORT.items():
                if _under(module, layer) and any(_under(imported, b) for b in below):
                    wrong.add(f"{module} imports {imported}")
    assert sorted(wrong) == []


def test_importing_any_module_resolves_no_environment_and_builds_nothing():
    """With an environment that cannot be built (gcp, no GCP variables) every module imports;
    the definitions are built only when Dagster calls `defs`."""
    modules = sorted(m for m in _modules() if m != "taxi_pipeline.__main__")
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "from taxi_pipeline.definitions import defs\n"
        "try:\n"
        "    defs()\n"
        "except Exception as err:\n"
        "    chain = []\n"
        "    while err is not None:\n"
        "        chain.append(str(err))\n"
        "        err = err.__cause__ or err.__context__\n"
        "    print(json.dumps(chain))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GCP_", "GCS_", "BQ_"))}
    env["TAXI_PIPELINE_ENV"] = "gcp"
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    # Building them, not importing them, is what needs the variables.
    assert "TAXI_PIPELINE_ENV=gcp needs GCP_PROJECT, GCS_BUCKET to be set." in json.loads(run.stdout)


def test_every_model_and_column_is_described_and_typed_and_links_to_its_code(defs, models):
    """The catalog: each dbt model's description and typed, described columns come from the
    project's schema.yml; the columns' words are the docs blocks the trip tables use too."""
    graph = models.resolve_asset_graph()
    keys = [key for key in graph.get_all_asset_keys() if key.path[0] == "models"]
    assert len(keys) == 8
    for key in keys:
        node = graph.get(key)
        assert node.description and not node.description.startswith("dbt model"), key
        columns = node.metadata["dagster/column_schema"].columns
        assert columns, key
        undescribed = [c.name for c in columns if not c.description or "{{" in c.description or not c.type]
        assert undescribed == [], key
        (reference,) = node.metadata["dagster/code_references"].code_references
        assert Path(reference.file_path).name == f"{key.path[-1]}.sql" and Path(reference.file_path).exists()
    fact = {c.name: c.description for c in graph.get(AssetKey(["models", "fact_trips"]))
            .metadata["dagster/column_schema"].columns}
    pipeline = defs.resolve_asset_graph()
    yellow = {c.name: c.description for c in pipeline.get(AssetKey(["warehouse", "yellow_tripdata"]))
              .metadata["dagster/column_schema"].columns}
    assert fact["tip_amount"] == yellow["tip_amount"] and "cash tips are not recorded" in fact["tip_amount"]
    assert fact["vendorid"] == yellow["VendorID"]
    assert fact["source_month"] == yellow["source_month"]
    for key in pipeline.get_all_asset_keys():
        node = pipeline.get(key)
        if node.is_materializable:
            assert "dagster/code_references" in node.metadata, key
