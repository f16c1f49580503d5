"""The taxi zone lookup: 265 zones, in the lake, the warehouse and Postgres.
Its strings are taken literally: "NA" and "N/A" are real zone values, never nulls.
"""


from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from dagster import AssetIn, AssetKey, AssetsDefinition, DataVersion, MetadataValue, Output, asset

from taxi_pipeline.assets.scratch import scratch_file
from taxi_pipeline.assets.tables import table_schema
from taxi_pipeline.automation import catalog, follows_upstream
from taxi_pipeline.io_managers.dagster_internals import TableMetadataSet
from taxi_pipeline.io_managers.lake import LAKE_PATH_KEY
from taxi_pipeline.io_managers.postgres import VIEW_KEY
from taxi_pipeline.io_managers.warehouse import PANDAS_TYPES
from taxi_pipeline.policies import POSTGRES_POOL, WAREHOUSE_POOLS
from taxi_pipeline.resources.source import TaxiSourceResource

ZONE_SOURCE_PATH = "misc/taxi_zone_lookup.csv"
ZONE_SCHEMA = pa.schema(
    [
        pa.field("LocationID", pa.int32(), nullable=False),
        pa.field("Borough", pa.string(), nullable=False),
        pa.field("Zone", pa.string(), nullable=False),
        pa.field("service_zone", pa.string(), nullable=False),
    ]
)
GROUP = "zones"


def read_zone_lookup(path: Path) -> pa.Table:
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(
            column_types={f.name: f.type for f in ZONE_SCHEMA},
            include_columns=ZONE_SCHEMA.names,
            null_values=[],
            strings_can_be_null=False,
        ),
    )
    return table.cast(ZONE_SCHEMA)


ZONE_RAW_KEY = AssetKey(["lake", "raw_taxi_zone_lookup"])
ZONE_KEYS = [ZONE_RAW_KEY, *(AssetKey([target, "taxi_zone_lookup"]) for target in ("warehouse", "postgres"))]


def zone_assets(warehouse_kind: str) -> list[AssetsDefinition]:
    """The lookup in the lake, the warehouse (`warehouse_kind`: its kind tag) and Postgres."""

    @asset(
        key_prefix="lake",
        group_name=GROUP,
        io_manager_key="lake_io_manager",
        metadata={LAKE_PATH_KEY: "raw/misc/taxi+_zone_lookup.csv"},
        kinds={"csv"},
        description="The zone lookup file as the source serves it.",
        **catalog("raw", service="zones"),
    )
    def raw_taxi_zone_lookup(source: TaxiSourceResource) -> Output[Path]:
        with scratch_file(".csv") as staging:
            download = source.download(ZONE_SOURCE_PATH, staging)
            rows = read_zone_lookup(staging).num_rows  # fail here, before the lake, if unreadable
        # The file's version, as the trip files': the source sensor loads it again only when it changes.
        return Output(staging, data_version=DataVersion(source.versioned(download.version)),
                      metadata={"url": MetadataValue.url(download.url), "rows": rows})

    @asset(
        key_prefix="warehouse",
        group_name=GROUP,
        ins={"raw": AssetIn(key=raw_taxi_zone_lookup.key)},
        io_manager_key="warehouse_io_manager",
        kinds={warehouse_kind},
        metadata=dict(TableMetadataSet(column_schema=table_schema(ZONE_SCHEMA))),
        automation_condition=follows_upstream(),
        pool=WAREHOUSE_POOLS[warehouse_kind],
        **catalog("warehouse", service="zones"),
    )
    def taxi_zone_lookup(raw: Path) -> pd.DataFrame:
        """Warehouse table taxi_zone_lookup."""
        return read_zone_lookup(raw).to_pandas(types_mapper=PANDAS_TYPES.get)

    @asset(
        name="taxi_zone_lookup",
        key_prefix="postgres",
        group_name=GROUP,
        ins={"raw": AssetIn(key=raw_taxi_zone_lookup.key)},
        io_manager_key="postgres_io_manager",
        kinds={"postgres"},
        metadata={VIEW_KEY: "taxi_zone_lookup"},
        automation_condition=follows_upstream(),
        pool=POSTGRES_POOL,
        **catalog("postgres", service="zones"),
    )
    def postgres_taxi_zone_lookup(raw: Path) -> pa.RecordBatchReader:
        """Postgres table taxi_zone_lookup in ny_taxi."""
        return pa.RecordBatchReader.from_batches(ZONE_SCHEMA, read_zone_lookup(raw).to_batches())

    return [raw_taxi_zone_lookup, taxi_zone_lookup, postgres_taxi_zone_lookup]
