"""The TLC's taxi zone shapes (`misc/taxi_zones.zip`, a shapefile of 263 polygons) as zone
polygons in WGS84 longitude/latitude, the coordinates of the yellow 2009-2010 trips.

The traps of the real file (taxi_pipeline_tests/data/zones/README.md): the `LocationID`
field is wrong in three records (OBJECTID 57 says 56, 104 and 105 say 103), so `OBJECTID`
is the zone's ID, as in the lookup; the shapes are in New York State Plane feet
(EPSG:2263); where the files sit inside the zip is not documented, so members are found by
their extension. Any other layout fails naming the file and what is wrong.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

SHAPES_SOURCE_PATH = "misc/taxi_zones.zip"
SHAPES_EPSG = 2263
"""NAD83 / New York Long Island, US survey feet: what the TLC's shapes have always been in."""
TRIPS_EPSG = 4326
"""WGS84 longitude/latitude: the trip files' coordinates."""
REQUIRED_FIELDS = ("OBJECTID", "zone", "borough")


class BadZoneShapes(ValueError):
    """The zone shapes file is not the shapefile the pipeline can use."""


@dataclass(frozen=True)
class ZoneShapes:
    """Zone polygons in longitude/latitude, sorted by `location_ids` (the lookup's IDs)."""

    location_ids: np.ndarray
    zones: tuple[str, ...]
    boroughs: tuple[str, ...]
    polygons: np.ndarray
    """shapely Polygons/MultiPolygons, WGS84 (x = longitude, y = latitude)."""
    field_location_ids: tuple[int | None, ...]
    """The shapefile's own `LocationID` field, kept to report where it disagrees."""

    @property
    def mislabelled(self) -> list[tuple[int, int | None]]:
        """(OBJECTID, the LocationID field) of records whose field is not their ID."""
        pairs = zip(self.location_ids, self.field_location_ids, strict=True)
        return [(int(i), f) for i, f in pairs if i != f]


def shapefile_members(names: list[str], label: str) -> dict[str, str]:
    """The zip's members of the one shapefile inside: extension (`shp`, `shx`, `dbf`,
    `prj`) -> member name, wherever it sits (root or a folder)."""
    shps = [n for n in names if n.lower().endswith(".shp") and not n.startswith("__MACOSX/")]
    if len(shps) != 1:
        raise BadZoneShapes(f"{label}: expected one .shp file in the zip, found "
                            f"{len(shps)} ({', '.join(shps) or 'none'}); members: {', '.join(names)}")
    stem = str(PurePosixPath(shps[0]).with_suffix(""))
    members = {}
    for ext in ("shp", "shx", "dbf", "prj"):
        found = [n for n in names if n.lower() == f"{stem}.{ext}".lower()]
        if not found:
            raise BadZoneShapes(f"{label}: {shps[0]} has no .{ext} beside it in the zip "
                                f"(members: {', '.join(names)})")
        members[ext] = found[0]
    return members


def read_zone_shapes(path: Path, label: str | None = None) -> ZoneShapes:
    """The zones of the zip at `path` (`label` names it in errors)."""
    label = label or path.name
    try:
        with zipfile.ZipFile(path) as archive:
            members = shapefile_members(archive.namelist(), label)
            files = {ext: archive.read(name) for ext, name in members.items()}
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise BadZoneShapes(f"{label}: not a readable zip file ({err}).") from None
    _check_projection(files["prj"].decode("utf-8", "replace"), f"{label}:{members['prj']}")
    return _zones(files, members, label)


def _check_projection(prj: str, where: str) -> None:
    from pyproj import CRS
    from pyproj.exceptions import CRSError

    try:
        crs = CRS.from_wkt(prj)
    except CRSError as err:
        raise BadZoneShapes(f"{where}: not a projection the pipeline can read ({err}).") from None
    if crs.to_epsg(min_confidence=70) != SHAPES_EPSG:
        raise BadZoneShapes(f"{where}: the shapes are in {crs.name!r}, not the TLC's NAD83 / New York "
                            f"Long Island feet (EPSG:{SHAPES_EPSG}).")


def _zones(files: dict[str, bytes], members: dict[str, str], label: str) -> ZoneShapes:
    import shapefile
    import shapely
    from shapely.geometry import shape

    try:
        reader = shapefile.Reader(shp=io.BytesIO(files["shp"]), shx=io.BytesIO(files["shx"]),
                                  dbf=io.BytesIO(files["dbf"]))
        fields = [f[0] for f in reader.fields[1:]]
        missing = [f for f in REQUIRED_FIELDS if f not in fields]
        if missing:
            raise BadZoneShapes(f"{label}:{members['dbf']}: missing fields {missing} (fields: {fields}).")
        rows = []
        for number, item in enumerate(reader.iterShapeRecords(), start=1):
            record = item.record.as_dict()
            geometry = shape(item.shape.__geo_interface__) if item.shape.points else None
            if geometry is None or geometry.geom_type not in ("Polygon", "MultiPolygon"):
                raise BadZoneShapes(f"{label}:{members['shp']}, record {number}: not a polygon.")
            rows.append((record, geometry))
    except BadZoneShapes:
        raise
    except Exception as err:  # pyshp raises struct, Unicode and its own errors on a corrupt file
        raise BadZoneShapes(f"{label}: corrupt shapefile {members['shp']}/{members['dbf']} "
                            f"({type(err).__name__}: {err}).") from None
    if not rows:
        raise BadZoneShapes(f"{label}:{members['shp']}: no zones in the shapefile.")
    ids = [r["OBJECTID"] for r, _ in rows]
    if any(not isinstance(i, int) for i in ids) or len(set(ids)) != len(ids):
        raise BadZoneShapes(f"{label}:{members['dbf']}: OBJECTID is not a unique zone number per record.")
    rows.sort(key=lambda row: row[0]["OBJECTID"])
    polygons = np.array([g for _, g in rows], dtype=object)
    polygons = shapely.transform(polygons, _to_lon_lat())
    invalid = ~shapely.is_valid(polygons)
    polygons[invalid] = shapely.make_valid(polygons[invalid])
    return ZoneShapes(
        location_ids=np.array([r["OBJECTID"] for r, _ in rows], dtype=np.int32),
        zones=tuple(str(r["zone"]) for r, _ in rows),
        boroughs=tuple(str(r["borough"]) for r, _ in rows),
        polygons=polygons,
        field_location_ids=tuple(r.get("LocationID") for r, _ in rows),
    )


def _to_lon_lat():
    """State Plane feet -> longitude/latitude, for shapely.transform (n x 2 arrays)."""
    from pyproj import Transformer

    transformer = Transformer.from_crs(SHAPES_EPSG, TRIPS_EPSG, always_xy=True)

    def transform(xy: np.ndarray) -> np.ndarray:
        lon, lat = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    return transform
