"""Questions asked of the dbt marts outside dbt: by the dashboards and by `report`, so both
answer with the same query."""

from __future__ import annotations

from taxi_pipeline.resources.warehouse import WarehouseResource

REVENUE_MART = "dm_monthly_zone_revenue"


def top_zones(warehouse: WarehouseResource, models_schema: str, count: int) -> list[tuple] | None:
    """The `count` pickup zones with the most revenue over the months loaded, largest first:
    [(zone, revenue, trips)]; None when the mart does not exist yet."""
    return warehouse.query(
        "SELECT revenue_zone, sum(revenue_monthly_total_amount) AS revenue, sum(total_monthly_trips) "
        f"FROM {{mart}} GROUP BY 1 ORDER BY revenue DESC, revenue_zone LIMIT {int(count)}",
        {"mart": (models_schema, REVENUE_MART)})
