"""Longitude/latitude -> taxi zone, vectorised: no Python object per point.

A grid over the zones' bounds answers most points with one array lookup: a cell that no
zone boundary crosses lies wholly in one zone (or none), found once when the grid is built.
A cell a boundary crosses (a "border cell") keeps the few zones whose boundary crosses
it, and its points are tested exactly against those zones with GEOS (shapely 2,
`intersects_xy` on prepared polygons), lowest LocationID first: a point on a border shared
by two zones gets the lower ID, always. 0 means "in no zone".
"""

from __future__ import annotations

import numpy as np

from taxi_pipeline.ingest.zone_shapes import ZoneShapes

GRID_CELLS = 2048
"""Cells per side: about 20 m at New York's latitude. Finer grids leave fewer points to
the exact test and cost memory (16 MB at 2048) and build time (docs/performance.md)."""
NO_ZONE = 0


class ZoneLocator:
    """Built once per run from the zone shapes; `locate` is called per batch."""

    def __init__(self, shapes: ZoneShapes, cells: int = GRID_CELLS):
        import shapely

        self.location_ids = shapes.location_ids.astype(np.int32)
        self.polygons = shapes.polygons.copy()
        shapely.prepare(self.polygons)
        x0, y0, x1, y1 = shapely.total_bounds(self.polygons)
        self.cells = cells
        self.origin = np.array([x0, y0])
        self.step = np.array([(x1 - x0) / cells, (y1 - y0) / cells]) * (1 + 1e-9)
        self._build(shapely)

    def _cell_of(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cell column and row of each point; a NaN's are garbage, masked by the caller."""
        with np.errstate(invalid="ignore"):
            return (np.floor((x - self.origin[0]) / self.step[0]).astype(np.int64),
                    np.floor((y - self.origin[1]) / self.step[1]).astype(np.int64))

    def _build(self, shapely) -> None:
        n = self.cells
        # Border cells: every cell a zone's boundary passes through, found from points along
        # the boundary closer together than a cell, then widened by one cell each way so a
        # boundary that clips a cell's corner between two points still marks it.
        boundaries = shapely.segmentize(shapely.boundary(self.polygons), float(self.step.min()) / 2)
        coords, owner = shapely.get_coordinates(boundaries, return_index=True)
        ix, iy = self._cell_of(coords[:, 0], coords[:, 1])
        pairs = []
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                cx, cy = np.clip(ix + dx, 0, n - 1), np.clip(iy + dy, 0, n - 1)
                pairs.append((cy * n + cx) * len(self.polygons) + owner)
        # Zones may overlap a little (slivers where neighbours' shapes disagree): a border
        # cell lying wholly inside a zone whose own boundary is elsewhere gets that zone too,
        # found by the zones containing the cell's centre.
        marked = np.unique(np.concatenate(pairs) // len(self.polygons))
        rows, columns = np.divmod(marked, n)
        cx = self.origin[0] + (columns + 0.5) * self.step[0]
        cy = self.origin[1] + (rows + 0.5) * self.step[1]
        for zone, (x0, y0, x1, y1) in enumerate(shapely.bounds(self.polygons)):
            near = np.flatnonzero((cx >= x0) & (cx <= x1) & (cy >= y0) & (cy <= y1))
            hit = near[shapely.intersects_xy(self.polygons[zone], cx[near], cy[near])]
            pairs.append(marked[hit] * len(self.polygons) + zone)
        pairs = np.unique(np.concatenate(pairs))  # sorted by cell, then zone (by LocationID)
        cell, zone = np.divmod(pairs, len(self.polygons))
        border_cells, first = np.unique(cell, return_index=True)
        self.candidates = zone.astype(np.int32)
        self.offsets = np.append(first, len(zone)).astype(np.int64)
        self.max_candidates = int(np.diff(self.offsets).max())

        grid = np.zeros(n * n, dtype=np.int32)
        border = np.zeros(n * n, dtype=bool)
        border[border_cells] = True
        # Every other cell: a run of such cells along a row is crossed by no boundary, so
        # it lies in one zone or none - test one point of each run.
        inner = ~border.reshape(n, n)
        starts = inner & ~np.pad(inner, ((0, 0), (1, 0)))[:, :-1]
        run = np.cumsum(starts.ravel()) - 1
        rows, columns = np.nonzero(starts)
        x = self.origin[0] + (columns + 0.5) * self.step[0]
        y = self.origin[1] + (rows + 0.5) * self.step[1]
        run_zone = self._exact(x, y, np.arange(len(self.polygons)))
        grid[inner.ravel()] = run_zone[run[inner.ravel()]]
        grid[border_cells] = -1 - np.arange(len(border_cells), dtype=np.int32)
        self.grid = grid
        self.border_share = len(border_cells) / (n * n)

    def _exact(self, x: np.ndarray, y: np.ndarray, zones: np.ndarray) -> np.ndarray:
        """Zone number (index + 1) of each point among all `zones`, via an STR tree."""
        import shapely

        tree = shapely.STRtree(self.polygons[zones])
        point_index, hit = tree.query(shapely.points(x, y), predicate="intersects")
        out = np.zeros(len(x), dtype=np.int32)
        order = np.lexsort((hit, point_index))[::-1]  # lowest zone written last: it wins
        out[point_index[order]] = zones[hit[order]] + 1
        return out

    def locate(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """LocationID of each point (float64 arrays, NaN for missing), NO_ZONE outside every
        zone or where a coordinate is missing."""
        import shapely

        n = self.cells
        ix, iy = self._cell_of(lon, lat)
        inside = (ix >= 0) & (ix < n) & (iy >= 0) & (iy < n) & ~np.isnan(lon) & ~np.isnan(lat)
        value = np.zeros(len(lon), dtype=np.int32)
        value[inside] = self.grid[iy[inside] * n + ix[inside]]
        result = np.zeros(len(lon), dtype=np.int32)
        whole = value > 0
        result[whole] = self.location_ids[value[whole] - 1]
        on_border = np.flatnonzero(value < 0)
        if len(on_border):
            border = -1 - value[on_border]
            start = self.offsets[border]
            count = self.offsets[border + 1] - start
            found = np.zeros(len(on_border), dtype=np.int32)
            for k in range(self.max_candidates):
                todo = np.flatnonzero((count > k) & (found == 0))
                if not len(todo):
                    break
                zone = self.candidates[start[todo] + k]
                points = on_border[todo]
                hit = shapely.intersects_xy(self.polygons[zone], lon[points], lat[points])
                found[todo[hit]] = self.location_ids[zone[hit]]
            result[on_border] = found
        return result
