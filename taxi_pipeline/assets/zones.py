"""The taxi zones: the lookup (265 zones) and the TLC's zone shapes (263 polygons), each
in the lake as published, in the warehouse and in Postgres.

The lookup's strings are taken literally: "NA" and "N/A" are real zone values, never nulls.
The shapes' table holds each zone's polygon in WGS84 longitude/latitude as WKT text: every
target and map tool reads WKT (DuckDB's spatial extension, PostGIS, BigQuery's
ST_GEOGFROMTEXT, GeoPandas) and none needs an extension to store it.
"""


from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetObservation,
    AssetsDefinition,
    AssetSpec,
    DataVersion,
    MetadataValue,
    Output,
    asset,
)

from taxi_pipeline.assets.scratch import scratch_file
from taxi_pipeline.assets.tables import table_schema
from taxi_pipeline.automation import catalog, follows_upstream
from taxi_pipeline.column_docs import doc
from taxi_pipeline.ingest.zone_shapes import SHAPES_SOURCE_PATH, BadZoneShapes, read_zone_shapes
from taxi_pipeline.io_managers.dagster_internals import TableMetadataSet
from taxi_pipeline.io_managers.lake import LAKE_PATH_KEY
from taxi_pipeline.io_managers.postgres import VIEW_KEY
from taxi_pipeline.io_managers.warehouse import GEOGRAPHY_KEY, PANDAS_TYPES
from taxi_pipeline.materializations import DATA_VERSION_TAG
from taxi_pipeline.partitions import monthly_partitions
from taxi_pipeline.policies import POSTGRES_POOL, WAREHOUSE_POOLS, permanent
from taxi_pipeline.resources.source import TaxiSourceResource
from taxi_pipeline.services import SERVICES, TaxiService

ZONE_SOURCE_PATH = "misc/taxi_zone_lookup.csv"
ZONE_SCHEMA = pa.schema(
    [
        pa.field("LocationID", pa.int32(), nullable=False),
        pa.field("Borough", pa.string(), nullable=False),
        pa.field("Zone", pa.string(), nullable=False),
        pa.field("service_zone", pa.string(), nullable=False),
    ]
)
ZONE_COLUMN_DESCRIPTIONS = {name: doc(name.lower()) for name in ZONE_SCHEMA.names}
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
SHAPES_RAW_KEY = AssetKey(["lake", "raw_taxi_zones"])
SHAPES_KEYS = [SHAPES_RAW_KEY,
               *(AssetKey([target, "taxi_zone_shapes"]) for target in ("warehouse", "postgres"))]
SHAPES_LAKE_PATH = "raw/misc/taxi_zones.zip"
SHAPES_SCHEMA = pa.schema([
    pa.field("LocationID", pa.int32(), nullable=False),
    pa.field("Borough", pa.string(), nullable=False),
    pa.field("Zone", pa.string(), nullable=False),
    pa.field("geometry", pa.string(), nullable=False),
])
SHAPES_COLUMN_DESCRIPTIONS = {
    "LocationID": "The zone's ID, as in taxi_zone_lookup and the trips' PULocationID/DOLocationID "
                  "(the shapefile's OBJECTID: its LocationID field is wrong in three records)",
    "Borough": "Borough, as the shapefile names it",
    "Zone": "Zone name, as the shapefile names it",
    "geometry": "The zone's polygon or multipolygon as WKT, WGS84 longitude/latitude (EPSG:4326), "
                "7 decimals (about 1 cm)",
}
WKT_DECIMALS = 7


def shapes_in_use_key(service: TaxiService) -> AssetKey:
    return AssetKey(["lake", f"{service.name}_zone_shapes"])


def shapes_in_use_specs() -> list[AssetSpec]:
    """Per service that locates trips (yellow): an external asset, monthly like the
    service, whose partition is the version of the zone shapes that month is located with.

    Why it exists: Dagster marks a partition stale when a partition it depends on has a new
    data version. Depending on the unpartitioned zip would mark every yellow month stale at
    each new version of the shapes; this asset changes (is observed, by raw_taxi_zones) only
    in the months that carry coordinates, so only those show "stale" in the UI. Nothing
    materializes it, and no automation re-locates a month because of it."""
    return [
        AssetSpec(
            shapes_in_use_key(service),
            partitions_def=monthly_partitions(service),
            group_name=GROUP,
            deps=[SHAPES_RAW_KEY],
            kinds={"zip"},
            description=f"The version of the zone shapes each {service.name} month with coordinates "
            f"({service.coordinate_months[0]}..{service.coordinate_months[1]}) is located with: observed "
            "when lake/raw_taxi_zones loads a version, never for months that have zone IDs. A new version "
            "marks exactly those months stale; re-locating them is a backfill.",
            **catalog("raw", service="zones"),
        )
        for service in SERVICES.values() if service.coordinate_months
    ]


def _observe_shapes_in_use(context: AssetExecutionContext, version: str) -> None:
    """The months with coordinates now locate with `version` (see shapes_in_use_specs)."""
    for service in SERVICES.values():
        if not service.coordinate_months:
            continue
        first, last = service.coordinate_months
        months = [m for m in monthly_partitions(service).get_partition_keys() if first <= m <= last]
        for month in months:
            context.log_event(AssetObservation(shapes_in_use_key(service), partition=month,
                                               tags={DATA_VERSION_TAG: version}))
        context.log.info(f"zone shapes {version} observed for {service.name} {first}..{last} "
                         f"({len(months)} months located with them)")


def read_shapes_table(path: Path, label: str) -> pa.Table:
    """The zone table of the shapes zip at `path`: one row per zone, geometry as WKT."""
    import shapely

    shapes = read_zone_shapes(path, label)
    wkt = shapely.to_wkt(shapes.polygons, rounding_precision=WKT_DECIMALS, trim=True)
    return pa.Table.from_arrays(
        [pa.array(shapes.location_ids, pa.int32()), pa.array(shapes.boroughs), pa.array(shapes.zones),
         pa.array(wkt.tolist(), pa.string())], schema=SHAPES_SCHEMA)


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
        metadata=dict(TableMetadataSet(column_schema=table_schema(ZONE_SCHEMA, ZONE_COLUMN_DESCRIPTIONS))),
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

    return [raw_taxi_zone_lookup, taxi_zone_lookup, postgres_taxi_zone_lookup, *shape_assets(warehouse_kind)]


def shape_assets(warehouse_kind: str) -> list[AssetsDefinition]:
    """The TLC's zone shapes: the zip in the lake (what locates yellow 2009-2010 trips), and
    the zone table with its geometry in the warehouse and Postgres (what maps draw)."""
    columns = TableMetadataSet(column_schema=table_schema(SHAPES_SCHEMA, SHAPES_COLUMN_DESCRIPTIONS))

    @asset(
        key=SHAPES_RAW_KEY,
        group_name=GROUP,
        io_manager_key="lake_io_manager",
        metadata={LAKE_PATH_KEY: SHAPES_LAKE_PATH},
        kinds={"zip"},
        description="The TLC's taxi zone shapefile (misc/taxi_zones.zip) exactly as published: it "
        "locates the yellow 2009-2010 trips, which carry coordinates instead of zone IDs.",
        **catalog("raw", service="zones"),
    )
    def raw_taxi_zones(context: AssetExecutionContext, source: TaxiSourceResource):
        with scratch_file(".zip") as staging:
            download = source.download(SHAPES_SOURCE_PATH, staging)
            try:  # fail here, before the lake, if it is not the shapefile the pass can use
                shapes = read_zone_shapes(staging, download.url)
            except BadZoneShapes as err:
                raise permanent(err) from None
        wrong = ", ".join(f"OBJECTID {i} says {f}" for i, f in shapes.mislabelled) or "none"
        version = source.versioned(download.version)
        yield Output(staging, data_version=DataVersion(version),
                     metadata={"url": MetadataValue.url(download.url), "zones": len(shapes.location_ids),
                               "LocationID field wrong (OBJECTID used)": wrong})
        _observe_shapes_in_use(context, version)  # once the zip is in the lake

    @asset(
        key=AssetKey(["warehouse", "taxi_zone_shapes"]),
        group_name=GROUP,
        ins={"raw": AssetIn(key=SHAPES_RAW_KEY)},
        io_manager_key="warehouse_io_manager",
        kinds={warehouse_kind},
        metadata={**columns, GEOGRAPHY_KEY: ["geometry"]},
        automation_condition=follows_upstream(),
        pool=WAREHOUSE_POOLS[warehouse_kind],
        **catalog("warehouse", service="zones"),
    )
    def taxi_zone_shapes(raw: Path) -> pd.DataFrame:
        """Warehouse table taxi_zone_shapes: each zone's polygon (WGS84; WKT text in DuckDB,
        GEOGRAPHY in BigQuery), joining taxi_zone_lookup and the trips on LocationID."""
        return read_shapes_table(raw, SHAPES_LAKE_PATH).to_pandas(types_mapper=PANDAS_TYPES.get)

    @asset(
        key=AssetKey(["postgres", "taxi_zone_shapes"]),
        group_name=GROUP,
        ins={"raw": AssetIn(key=SHAPES_RAW_KEY)},
        io_manager_key="postgres_io_manager",
        kinds={"postgres"},
        metadata={VIEW_KEY: "taxi_zone_shapes", **columns},
        automation_condition=follows_upstream(),
        pool=POSTGRES_POOL,
        **catalog("postgres", service="zones"),
    )
    def postgres_taxi_zone_shapes(raw: Path) -> pa.RecordBatchReader:
        """Postgres table taxi_zone_shapes in ny_taxi: each zone's polygon as WKT (WGS84);
        `ST_GeomFromText("geometry", 4326)` makes it a PostGIS geometry."""
        table = read_shapes_table(raw, SHAPES_LAKE_PATH)
        return pa.RecordBatchReader.from_batches(SHAPES_SCHEMA, table.to_batches())

    return [raw_taxi_zones, taxi_zone_shapes, postgres_taxi_zone_shapes]
