"""A service's four monthly assets: raw file → clean parquet → warehouse → Postgres.

Four assets in the catalog, made by one step per month (`month_step.py`: one pass over
the file, the loads streaming beside it; a backfill's run takes several months, one
after another: `month_range.py`), and re-runnable one by one: the multi-asset can be
subset. Its checks are evaluated by the same step. Built per service by `trip_assets`,
which `defs/services.py` calls with the registry's entry.
"""

from dagster import AssetExecutionContext, AssetOut, AssetsDefinition, AssetSelection, multi_asset

from taxi_pipeline.assets.checks import month_check_specs
from taxi_pipeline.assets.keys import trip_asset_keys
from taxi_pipeline.assets.month_range import months_step
from taxi_pipeline.assets.tables import service_table_schema
from taxi_pipeline.assets.zones import shapes_in_use_key
from taxi_pipeline.automation import catalog, follows_upstream
from taxi_pipeline.io_managers.dagster_internals import TableMetadataSet
from taxi_pipeline.io_managers.lake import LAKE_PATH_KEY
from taxi_pipeline.io_managers.postgres import PICKUP_COLUMN_KEY, SOURCE_FILE_KEY, VIEW_KEY
from taxi_pipeline.io_managers.warehouse import CLUSTER_BY_KEY, PARTITION_EXPR_KEY
from taxi_pipeline.partitions import monthly_partitions
from taxi_pipeline.policies import MONTH_POOLS, TRANSIENT_RETRY, backfill_policy
from taxi_pipeline.services import SOURCE_MONTH_COLUMN, TaxiService
from taxi_pipeline.sources import Source


def trip_assets(service: TaxiService, layout: Source, warehouse_kind: str) -> list[AssetsDefinition]:
    """The raw zone keeps the file as published, so the raw asset's file type is `layout`'s;
    `warehouse_kind` (duckdb, bigquery) is the warehouse asset's kind tag in the UI."""
    name = service.name
    keys = trip_asset_keys(service)
    tags = {"service": name, "source": layout.name}
    columns = TableMetadataSet(column_schema=service_table_schema(service))
    # A month with coordinates depends on the zone shapes it is located with (per month, so
    # a new version marks only those months stale); automation never re-locates for it.
    shapes = [shapes_in_use_key(service)] if service.coordinate_months else []
    condition = follows_upstream(AssetSelection.assets(*shapes) if shapes else None)

    def out(layer: str, io_manager_key: str, **spec) -> AssetOut:
        """The asset of `layer` (raw, clean, warehouse, postgres): its key, catalog entry,
        and automation - the raw file is driven by the source (tlc_source_sensor,
        backfills), the rest follows it. Optional: the multi-asset is subset."""
        automation = {} if layer == "raw" else {"automation_condition": condition}
        return AssetOut(key=getattr(keys, layer), io_manager_key=io_manager_key, is_required=False,
                        **automation, **catalog(layer, **tags), **spec)

    outs = {
        "raw": out(
            "raw", "lake_io_manager",
            metadata={LAKE_PATH_KEY: service.raw_path("{month}", layout.suffix), "source": layout.name},
            kinds={layout.suffix.split(".")[1]},
            description=f"The month's {name} file from the {layout.title}, byte for byte, "
            "in the lake's raw zone.",
        ),
        "clean": out(
            "clean", "lake_io_manager",
            metadata={LAKE_PATH_KEY: service.clean_path("{month}")},
            kinds={"parquet"},
            description=f"The month cast to the canonical {name} schema, as zstd parquet.",
        ),
        "warehouse": out(
            "warehouse", "warehouse_io_manager",
            metadata={PARTITION_EXPR_KEY: SOURCE_MONTH_COLUMN, CLUSTER_BY_KEY: service.cluster_by, **columns},
            kinds={warehouse_kind},
            description=f"Warehouse table {name}_tripdata; a month is replaced by its source_month "
            "(in BigQuery by one load job from the lake into the month's partition).",
        ),
        "postgres": out(
            "postgres", "postgres_io_manager",
            metadata={
                PICKUP_COLUMN_KEY: service.pickup_column,
                SOURCE_FILE_KEY: service.file_label("{month}", layout.suffix),
                VIEW_KEY: service.warehouse_table,
                **columns,
            },
            kinds={"postgres"},
            description=f"Postgres table {name}_taxi_trips in ny_taxi, loaded with COPY, and its lower-case "
            f"view {service.warehouse_table} (TAXI_PG_VIEWS_SCHEMA, default trips_data_all).",
        ),
    }

    @multi_asset(
        name=f"{name}_month",
        outs=outs,
        internal_asset_deps={"clean": {keys.raw, *shapes}, "warehouse": {keys.clean},
                             "postgres": {keys.clean}},
        deps=shapes,
        check_specs=month_check_specs(service),
        can_subset=True,
        group_name=name,
        partitions_def=monthly_partitions(service),
        backfill_policy=backfill_policy(service),
        retry_policy=TRANSIENT_RETRY,
        pool=MONTH_POOLS[warehouse_kind],
        # The source, the read-side resources, and the IO managers whose loads the step streams.
        required_resource_keys={"source", "warehouse", "postgres",
                                "lake_io_manager", "warehouse_io_manager", "postgres_io_manager"},
    )
    def month_assets(context: AssetExecutionContext):
        """The run's months of the service, one after another: download, one pass over the
        file, the loads beside it."""
        yield from months_step(context, service, layout)

    return [month_assets]
