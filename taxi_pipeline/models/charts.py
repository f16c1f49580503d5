"""The dashboards' pictures: matplotlib (Agg, no display) into PNG bytes.

matplotlib because it draws a PNG in-process with nothing else to install (Vega-Lite
through altair needs vl-convert, a 90 MB wheel embedding a JavaScript engine, to make a
PNG), it is already the benchmarks' plotting library, and its output is deterministic:
the same rows give the same bytes (no timestamp or version in the PNG). Each function
takes plain rows and returns a PNG; with no rows it draws a "No data for ..." panel
instead of failing. matplotlib is imported when a picture is drawn, never at load.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from datetime import date, datetime

SERVICE_COLOURS = {"yellow": "#e6b400", "green": "#2e8b57", "fhv": "#6a5acd", "fhvhv": "#d2691e",
                   "Yellow": "#e6b400", "Green": "#2e8b57"}
SIZE = (10, 5)
DPI = 100


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    _pyplot().close(figure)
    return buffer.getvalue()


def _thousands(axis, minor: bool = False) -> None:
    from matplotlib.ticker import FuncFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    if minor:  # a log scale's in-between ticks (2, 3, ... 20, 30) read as plain numbers too
        axis.set_minor_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))


def _months(axes, months: Sequence[date]) -> None:
    """A time axis of months: a tick per month (or every few) up to two years, then years;
    a margin (half a month at least) so a single month is a point in the middle."""
    import math
    from datetime import timedelta

    import matplotlib.dates as mdates

    first, last = min(months), max(months)
    span = (last.year - first.year) * 12 + last.month - first.month + 1
    if span <= 24:
        locator, label = mdates.MonthLocator(interval=math.ceil(span / 12)), "%Y-%m"
    else:
        locator, label = mdates.YearLocator(base=math.ceil(span / 120)), "%Y"
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(mdates.DateFormatter(label))
    margin = max(timedelta(days=15), (last - first) * 0.03)
    axes.set_xlim(first - margin, last + margin)
    axes.figure.autofmt_xdate()


def no_data(title: str, why: str) -> bytes:
    """A panel that says what is missing, drawn where a chart would be."""
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=SIZE)
    axes.set_axis_off()
    axes.set_title(title, fontsize=14)
    axes.text(0.5, 0.5, f"No data for {why} yet", ha="center", va="center", fontsize=16, color="#666666",
              transform=axes.transAxes)
    return _png(figure)


def _as_date(month) -> date:
    return month.date() if isinstance(month, datetime) else month


def trips_per_month(series: Mapping[str, Sequence[tuple]]) -> bytes:
    """Trips per month of each service over every month loaded (service -> [(month, trips)])."""
    title = "Trips per month, by service (every month loaded)"
    series = {name: rows for name, rows in series.items() if rows}
    if not series:
        return no_data(title, "any service: load a month")
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=SIZE)
    every_month = []
    for name, rows in series.items():
        months, trips = zip(*sorted((_as_date(m), n) for m, n in rows), strict=True)
        every_month.extend(months)
        axes.plot(months, trips, marker="o", markersize=3, linewidth=1.5, label=name,
                  color=SERVICE_COLOURS.get(name))
    axes.set_yscale("log")
    _thousands(axes.yaxis)
    _months(axes, every_month)
    axes.set_title(title, fontsize=14)
    axes.set_xlabel("month (source file)")
    axes.set_ylabel("trips per month (log scale)")
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(title="service")
    figure.tight_layout()
    return _png(figure)


def revenue_by_month(rows: Sequence[tuple]) -> bytes:
    """The course's revenue view: revenue (USD) and trips per month, yellow and green
    ([(month, service, revenue, trips)])."""
    title = "Revenue and trips per month, yellow and green taxis"
    if not rows:
        return no_data(title, "the revenue mart: build dm_monthly_zone_revenue")
    plt = _pyplot()
    figure, (revenue, trips) = plt.subplots(2, 1, figsize=(SIZE[0], SIZE[1] * 1.4), sharex=True)
    for service in sorted({r[1] for r in rows}):
        mine = sorted((_as_date(r[0]), float(r[2]), int(r[3])) for r in rows if r[1] == service)
        months, colour = [m for m, _, _ in mine], SERVICE_COLOURS.get(service)
        revenue.plot(months, [v for _, v, _ in mine], marker="o", label=service, color=colour)
        trips.plot(months, [n for _, _, n in mine], marker="o", label=service, color=colour)
    revenue.set_title(title, fontsize=14)
    revenue.set_ylabel("revenue per month (USD)")
    trips.set_ylabel("trips per month")
    trips.set_xlabel("month (pickup)")
    for axes in (revenue, trips):
        _thousands(axes.yaxis)
        axes.grid(True, alpha=0.3)
        axes.legend(title="service")
    _months(trips, [_as_date(r[0]) for r in rows])
    figure.tight_layout()
    return _png(figure)


def top_zones(rows: Sequence[tuple], period: str) -> bytes:
    """The top pickup zones by revenue ([(zone, revenue, trips)], largest first)."""
    title = f"Top pickup zones by revenue, yellow and green ({period})"
    if not rows:
        return no_data(title, "the revenue mart: build dm_monthly_zone_revenue")
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=SIZE)
    zones = [str(r[0]) for r in rows][::-1]
    revenue = [float(r[1]) for r in rows][::-1]
    bars = axes.barh(zones, revenue, color="#4c72b0")
    axes.bar_label(bars, labels=[f"${v:,.0f}  ({int(r[2]):,} trips)" for v, r in zip(revenue, rows[::-1],
                                                                                    strict=True)],
                   padding=3, fontsize=8)
    _thousands(axes.xaxis)
    axes.set_xlim(0, max(revenue) * 1.35 if max(revenue) > 0 else 1)
    axes.set_title(title, fontsize=14)
    axes.set_xlabel("revenue (USD, total charged to passengers)")
    axes.set_ylabel("pickup zone")
    figure.tight_layout()
    return _png(figure)


def zone_map(shapes: Mapping[int, str], trips: Mapping[int, int], month: str) -> bytes:
    """Trips per pickup zone in `month`, drawn on the TLC's zone shapes (LocationID -> WKT
    in longitude/latitude); a zone with no trip is drawn empty."""
    title = f"Yellow and green trips per pickup zone, {month}"
    if not shapes or not trips:
        missing = "load the zone shapes" if not shapes else "build fact_trips"
        return no_data(title, f"the zone map: {missing}")
    import shapely
    from matplotlib.collections import PatchCollection
    from matplotlib.colors import LogNorm
    from matplotlib.patches import Polygon

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(9, 9))
    patches, values, empty = [], [], []
    for location, wkt in sorted(shapes.items()):
        geometry = shapely.from_wkt(wkt)
        for polygon in getattr(geometry, "geoms", [geometry]):
            patch = Polygon(list(polygon.exterior.coords), closed=True)
            if trips.get(location):
                patches.append(patch)
                values.append(trips[location])
            else:
                empty.append(patch)
    axes.add_collection(PatchCollection(empty, facecolor="#f2f2f2", edgecolor="#bbbbbb", linewidth=0.3))
    coloured = PatchCollection(patches, cmap="viridis", edgecolor="#444444", linewidth=0.3,
                               norm=LogNorm(vmin=max(min(values), 1), vmax=max(max(values), 2)))
    coloured.set_array(values)
    axes.add_collection(coloured)
    axes.autoscale_view()
    axes.set_aspect(1 / 0.755)  # a degree of longitude is ~0.755 of a degree of latitude at 40.7 N
    bar = figure.colorbar(coloured, ax=axes, shrink=0.7)
    bar.set_label("trips picked up in the month (log scale)")
    _thousands(bar.ax.yaxis, minor=True)
    axes.set_title(title, fontsize=14)
    axes.set_xlabel("longitude (degrees)")
    axes.set_ylabel("latitude (degrees)")
    figure.tight_layout()
    return _png(figure)
