"""The course's dashboard as assets: pictures downstream of the marts, in the lake.

Four charts (PNG, models/charts.py), each shown in its materialization in the UI (a
Markdown image) and stored in the lake as `dashboard/<name>.png`, and one page,
`dashboard/index.html`, that holds them all (the images inline: it opens from a folder, a
bucket download or an e-mail, with no server). Nothing heavy is read: the trip tables
only through an aggregate query (trips per month), the models' marts and one aggregate
of fact_trips' newest month. Redrawn by the models' automation when an input changes
(never while one is being written); an input with no data yet draws a "No data for ..."
panel, and the same rows draw the same bytes.
"""


import base64
import html
from pathlib import Path

from dagster import AssetDep, AssetExecutionContext, AssetIn, AssetKey, MetadataValue, Output, asset

from taxi_pipeline import marts
from taxi_pipeline.assets.scratch import scratch_file
from taxi_pipeline.automation import catalog, drawn_when_inputs_change
from taxi_pipeline.io_managers.lake import LAKE_PATH_KEY
from taxi_pipeline.models import charts
from taxi_pipeline.policies import DUCKDB_POOL
from taxi_pipeline.resources.dbt import TaxiDbtResource
from taxi_pipeline.resources.warehouse import WarehouseResource
from taxi_pipeline.services import SERVICES

GROUP = "dashboards"
LAKE_FOLDER = "dashboard"
REVENUE_MART = AssetKey(["models", marts.REVENUE_MART])
FACT = AssetKey(["models", "fact_trips"])
SHAPES = AssetKey(["warehouse", "taxi_zone_shapes"])
TOP_ZONES = 10
CHARTS = ("trips_per_month", "revenue_by_month", "top_zones", "zone_map")


def picture_metadata(title: str, png: bytes, **facts) -> dict:
    """The picture in the materialization (the UI renders Markdown, a data: URI included)."""
    encoded = base64.b64encode(png).decode()
    return {"chart": MetadataValue.md(f"### {title}\n\n![{title}](data:image/png;base64,{encoded})"),
            "png_bytes": len(png), **facts}


def _stored(png: bytes) -> Path:
    with scratch_file(".png") as path:
        path.write_bytes(png)
    return path


def dashboard_assets(warehouse_kind: str) -> list:
    pool = DUCKDB_POOL if warehouse_kind == "duckdb" else None
    common = {"key_prefix": GROUP, "group_name": GROUP, "io_manager_key": "lake_io_manager",
              "automation_condition": drawn_when_inputs_change(), "pool": pool, "kinds": {"matplotlib"},
              **catalog("dashboards")}

    def lake(name: str, suffix: str = ".png") -> dict:
        return {LAKE_PATH_KEY: f"{LAKE_FOLDER}/{name}{suffix}"}

    @asset(deps=[AssetDep(AssetKey(["warehouse", f"{s}_tripdata"])) for s in SERVICES],
           metadata=lake("trips_per_month"), **common)
    def trips_per_month(context: AssetExecutionContext, warehouse: WarehouseResource) -> Output[Path]:
        """Trips per month of every service over every month loaded: a missing month, the 2020
        drop, a re-upload show at a glance (one aggregate query per trip table)."""
        series = {}
        for name, service in SERVICES.items():
            rows = warehouse.query("SELECT source_month, count(*) FROM {t} GROUP BY 1 ORDER BY 1",
                                   {"t": (warehouse.dataset, service.warehouse_table)})
            series[name] = rows or []
            context.log.info(f"{name}: {len(series[name])} months loaded")
        png = charts.trips_per_month(series)
        months = {name: len(rows) for name, rows in series.items()}
        return Output(_stored(png), metadata=picture_metadata(
            "Trips per month, by service", png, months_loaded=MetadataValue.json(months),
            trips=MetadataValue.json({n: int(sum(r[1] for r in rows)) for n, rows in series.items()})))

    @asset(deps=[REVENUE_MART], metadata=lake("revenue_by_month"), **common)
    def revenue_by_month(warehouse: WarehouseResource, dbt: TaxiDbtResource) -> Output[Path]:
        """The course's revenue view: revenue and trips per month by service (yellow, green)."""
        mart = {"mart": (dbt.models_schema, REVENUE_MART.path[-1])}
        rows = warehouse.query(
            "SELECT revenue_month, service_type, sum(revenue_monthly_total_amount), sum(total_monthly_trips) "
            "FROM {mart} GROUP BY 1, 2 ORDER BY 1, 2", mart) or []
        png = charts.revenue_by_month(rows)
        return Output(_stored(png), metadata=picture_metadata(
            "Revenue and trips per month", png, months=len({r[0] for r in rows})))

    @asset(deps=[REVENUE_MART], metadata=lake("top_zones"), **common)
    def top_zones(warehouse: WarehouseResource, dbt: TaxiDbtResource) -> Output[Path]:
        """The pickup zones that took the most revenue over the months loaded."""
        mart = {"mart": (dbt.models_schema, REVENUE_MART.path[-1])}
        rows = marts.top_zones(warehouse, dbt.models_schema, TOP_ZONES) or []
        span = warehouse.query("SELECT min(revenue_month), max(revenue_month) FROM {mart}", mart)
        first, last = span[0] if span and span[0][0] is not None else (None, None)
        period = "no months" if first is None else (
            f"{first:%Y-%m}" if first == last else f"{first:%Y-%m} to {last:%Y-%m}")
        png = charts.top_zones(rows, period)
        table = "| zone | revenue (USD) | trips |\n|---|---:|---:|\n" + "\n".join(
            f"| {zone} | {float(revenue):,.2f} | {int(trips):,} |" for zone, revenue, trips in rows)
        return Output(_stored(png), metadata=picture_metadata(
            f"Top pickup zones by revenue ({period})", png, top_zones=MetadataValue.md(table)))

    @asset(deps=[FACT, SHAPES], metadata=lake("zone_map"), **common)
    def zone_map(warehouse: WarehouseResource, dbt: TaxiDbtResource) -> Output[Path]:
        """The newest month's yellow and green trips per pickup zone, on the TLC's zone shapes."""
        newest = warehouse.query(
            "SELECT source_month, pickup_locationid, count(*) FROM {fact} "
            "WHERE source_month = (SELECT max(source_month) FROM {fact}) GROUP BY 1, 2",
            {"fact": (dbt.models_schema, FACT.path[-1])}) or []
        month = newest[0][0] if newest else None
        trips = {zone: count for _, zone, count in newest}
        shapes = dict(warehouse.query(
            f"SELECT LocationID, {warehouse.as_text('geometry')} FROM {{shapes}}",
            {"shapes": (warehouse.dataset, SHAPES.path[-1])}) or [])
        label = "no month" if month is None else f"{month:%Y-%m}"
        png = charts.zone_map(shapes, trips, label)
        return Output(_stored(png), metadata=picture_metadata(
            f"Trips per pickup zone, {label}", png, zones_with_trips=len(trips), zones_drawn=len(shapes)))

    @asset(ins={name: AssetIn(key=AssetKey([GROUP, name])) for name in CHARTS},
           metadata=lake("index", ".html"), **common)
    def dashboard_page(context: AssetExecutionContext, **pictures: Path) -> Output[Path]:
        """All the charts in one self-contained HTML page (the images inline), written to the
        lake's dashboard/ folder: it opens in a browser with no server."""
        page = render_page({name: pictures[name].read_bytes() for name in CHARTS})
        with scratch_file(".html") as path:
            path.write_text(page, encoding="utf-8")
        context.log.info(f"The dashboard: {len(page):,} bytes, {len(CHARTS)} charts")
        return Output(path, metadata={"charts": len(CHARTS)})

    return [trips_per_month, revenue_by_month, top_zones, zone_map, dashboard_page]


TITLES = {
    "trips_per_month": "Trips per month, by service",
    "revenue_by_month": "Revenue and trips per month (yellow, green)",
    "top_zones": "Top pickup zones by revenue",
    "zone_map": "Trips per pickup zone, newest month",
}


def render_page(pictures: dict[str, bytes]) -> str:
    """One HTML page with every chart inline (base64 PNG)."""
    sections = "\n".join(
        f'<section id="{name}"><h2>{html.escape(TITLES[name])}</h2>'
        f'<img class="chart" alt="{html.escape(TITLES[name])}" '
        f'src="data:image/png;base64,{base64.b64encode(png).decode()}"></section>'
        for name, png in pictures.items()
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>NYC taxi trips: the pipeline's dashboard</title>
<style>body{{font-family:sans-serif;margin:2em auto;max-width:1040px;color:#222}}
img.chart{{max-width:100%;border:1px solid #ddd}}section{{margin-bottom:2em}}</style></head>
<body><h1>NYC taxi trips: the pipeline's dashboard</h1>
<p>Drawn by taxi_pipeline's dashboard assets from the warehouse and the dbt marts.</p>
{sections}
</body></html>
"""
