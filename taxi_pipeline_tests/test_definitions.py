"""The code location loads with the expected shape: four assets per color, the jobs."""

import pytest
from dagster import AssetKey

from taxi_pipeline import defs
from taxi_pipeline.colors import COLORS
from taxi_pipeline.partitions import monthly_partitions
from taxi_pipeline.resources.environments import resources_for_environment

LAYERS = ["lake/raw_{c}_trips", "lake/clean_{c}_trips", "warehouse/{c}_tripdata", "postgres/{c}_taxi_trips"]


def test_partitions_cover_the_release_range():
    keys = monthly_partitions.get_partition_keys()
    assert (keys[0], keys[-1], len(keys)) == ("2019-01", "2021-07", 31)


@pytest.mark.parametrize("color", sorted(COLORS))
def test_each_color_has_four_assets_on_the_monthly_partitions(color):
    graph = defs.resolve_asset_graph()
    keys = [AssetKey.from_user_string(layer.format(c=color)) for layer in LAYERS]
    for key in keys:
        node = graph.get(key)
        assert node.partitions_def == monthly_partitions, key
        assert node.group_name == color
    # raw -> clean -> (warehouse, postgres)
    assert graph.get(keys[1]).parent_keys == {keys[0]}
    assert graph.get(keys[2]).parent_keys == {keys[1]}
    assert graph.get(keys[3]).parent_keys == {keys[1]}


def test_zone_lookup_assets_are_unpartitioned():
    graph = defs.resolve_asset_graph()
    for key in ["lake/raw_taxi_zone_lookup", "warehouse/taxi_zone_lookup", "postgres/taxi_zone_lookup"]:
        assert graph.get(AssetKey.from_user_string(key)).partitions_def is None


@pytest.mark.parametrize("job", ["yellow_taxi_job", "green_taxi_job", "fhv_taxi_job", "taxi_monthly_job"])
def test_monthly_jobs_exist(job):
    assert defs.resolve_job_def(job).partitions_def == monthly_partitions


def test_unknown_environment_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TAXI_PIPELINE_ENV", "azure")
    with pytest.raises(ValueError, match="TAXI_PIPELINE_ENV='azure'"):
        resources_for_environment()
