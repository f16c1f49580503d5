"""The code location loads with the expected shape: four assets per service, the jobs,
partitions from each service's first month to the present one."""

from datetime import datetime

import pytest
from dagster import AssetKey

from taxi_pipeline import defs
from taxi_pipeline.services import SERVICES
from taxi_pipeline.partitions import service_partitions
from taxi_pipeline.resources.environments import resources_for_environment

LAYERS = ["lake/raw_{c}_trips", "lake/clean_{c}_trips", "warehouse/{c}_tripdata", "postgres/{c}_taxi_trips"]


FIRST_MONTHS = {"yellow": "2009-01", "green": "2014-01", "fhv": "2015-01", "fhvhv": "2019-02"}


@pytest.mark.parametrize("service", sorted(FIRST_MONTHS))
def test_partitions_run_from_the_first_published_month_to_the_present_one(service):
    partitions = service_partitions[service]
    assert partitions.get_partition_keys()[0] == FIRST_MONTHS[service]
    # They grow with time, no redeploy: the last key is the month of "now".
    for now, last in [(datetime(2026, 11, 22), "2026-11"), (datetime(2031, 2, 1, 0, 5), "2031-02")]:
        assert partitions.get_partition_keys(current_time=now)[-1] == last


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_each_service_has_four_assets_on_the_monthly_partitions(service):
    graph = defs.resolve_asset_graph()
    keys = [AssetKey.from_user_string(layer.format(c=service)) for layer in LAYERS]
    for key in keys:
        node = graph.get(key)
        assert node.partitions_def == service_partitions[service], key
        assert node.group_name == service
    # raw -> clean -> (warehouse, postgres)
    assert graph.get(keys[1]).parent_keys == {keys[0]}
    assert graph.get(keys[2]).parent_keys == {keys[1]}
    assert graph.get(keys[3]).parent_keys == {keys[1]}


def test_zone_lookup_assets_are_unpartitioned():
    graph = defs.resolve_asset_graph()
    for key in ["lake/raw_taxi_zone_lookup", "warehouse/taxi_zone_lookup", "postgres/taxi_zone_lookup"]:
        assert graph.get(AssetKey.from_user_string(key)).partitions_def is None


@pytest.mark.parametrize("service", sorted(FIRST_MONTHS))
def test_one_monthly_job_per_service(service):
    assert defs.resolve_job_def(f"{service}_taxi_job").partitions_def == service_partitions[service]


def test_unknown_environment_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TAXI_PIPELINE_ENV", "azure")
    with pytest.raises(ValueError, match="TAXI_PIPELINE_ENV='azure'"):
        resources_for_environment()
