"""The TLC's real zone shapes (data/zones) and locating trips in them: known zones come
back exactly, unknown and out-of-city points get no zone, the shapefile's traps are handled,
and a zip that is not the shapefile fails naming the file."""

import io
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import shapely

from taxi_pipeline.conform import located_zones
from taxi_pipeline.ingest.locate import ZoneLocator
from taxi_pipeline.ingest.zone_shapes import BadZoneShapes, read_zone_shapes

from .layouts import OCEAN, ZONES, point_in_zone, zip_zone_shapes, zone_locator, zone_shapes


def test_the_real_shapes_have_263_zones_keyed_by_objectid_with_the_three_wrong_location_ids():
    shapes = zone_shapes()
    assert list(shapes.location_ids) == list(range(1, 264))
    assert shapes.mislabelled == [(57, 56), (104, 103), (105, 103)]
    # OBJECTID is the lookup's ID: 56 and 57 are both Corona, 103-105 the islands.
    assert shapes.zones[55] == shapes.zones[56] == "Corona"
    assert {shapes.zones[i] for i in (102, 103, 104)} == {"Governor's Island/Ellis Island/Liberty Island"}
    # State Plane feet became WGS84 longitude/latitude: Newark Airport (1) and JFK (132).
    newark, jfk = shapes.polygons[0].centroid, shapes.polygons[131].centroid
    assert -74.2 < newark.x < -74.15 and 40.66 < newark.y < 40.72
    assert -73.82 < jfk.x < -73.76 and 40.62 < jfk.y < 40.67


@pytest.mark.parametrize("folder", ["", "taxi_zones/"], ids=["at-the-root", "in-a-folder"])
def test_the_zip_is_read_wherever_the_files_sit_in_it(tmp_path, folder):
    shapes = read_zone_shapes(zip_zone_shapes(tmp_path / "taxi_zones.zip", folder))
    assert len(shapes.location_ids) == 263


def test_a_point_inside_each_zone_gets_that_zone():
    ids = np.arange(1, 264)
    points = [point_in_zone(int(i), seed=7) for i in ids]
    lon, lat = (np.array(v, dtype=float) for v in zip(*points, strict=True))
    assert list(zone_locator().locate(lon, lat)) == list(ids)


def test_famous_places_land_in_their_zones():
    places = {  # (lon, lat) -> the lookup's zone
        (-73.9855, 40.7580): 230,  # Times Square/Theatre District
        (-73.7781, 40.6413): 132,  # JFK Airport
        (-73.8740, 40.7769): 138,  # LaGuardia Airport
        (-73.9654, 40.7829): 43,   # Central Park
        (-74.0134, 40.7127): 261,  # World Trade Center
    }
    lon, lat = (np.array(v) for v in zip(*places, strict=True))
    assert list(zone_locator().locate(lon, lat)) == list(places.values())


def test_unknown_and_out_of_city_trip_ends_get_the_lookups_264_and_265():
    lon = pa.array([None, -73.9855, None, OCEAN[0], -73.9855, 2.35], pa.float64())
    lat = pa.array([None, None, 40.7580, OCEAN[1], 40.7580, 48.85], pa.float64())  # ..., Paris
    assert located_zones(zone_locator(), lon, lat).to_pylist() == [264, 264, 264, 265, 230, 265]


def test_a_point_on_a_shared_border_gets_the_lower_zone_always():
    shapes = zone_shapes()
    # A vertex two neighbouring zones share: both contain it (GEOS `intersects`).
    a, b = shapes.polygons[229], shapes.polygons[160]  # 230 Times Sq, 161 Midtown Center
    shared = shapely.get_coordinates(shapely.intersection(a.boundary, b.boundary))
    assert len(shared), "230 and 161 share a border"
    x, y = shared[len(shared) // 2]
    assert shapely.intersects_xy(a, x, y) and shapely.intersects_xy(b, x, y)
    for _ in range(2):
        assert zone_locator().locate(np.array([x]), np.array([y])).tolist() == [161]


def test_every_grid_resolution_locates_the_same(tmp_path):
    rng = np.random.default_rng(3)
    lon, lat = rng.uniform(-74.26, -73.70, 50_000), rng.uniform(40.49, 40.92, 50_000)
    fine = zone_locator().locate(lon, lat)
    assert 0.3 < (fine > 0).mean() < 0.5  # the box holds water and New Jersey too
    assert (ZoneLocator(zone_shapes(), cells=256).locate(lon, lat) == fine).all()
    tree = shapely.STRtree(zone_shapes().polygons)  # the plain GEOS answer, lowest ID wins
    points, zones = tree.query(shapely.points(lon[:5000], lat[:5000]), predicate="intersects")
    want = np.zeros(5000, dtype=np.int32)
    for p, z in sorted(zip(points, zones, strict=True), key=lambda pz: (pz[0], -pz[1])):
        want[p] = z + 1
    assert (want == fine[:5000]).all()


def _zip(tmp_path: Path, files: dict[str, bytes]) -> Path:
    dest = tmp_path / "taxi_zones.zip"
    with zipfile.ZipFile(dest, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return dest


def _real(ext: str) -> bytes:
    return (ZONES / f"taxi_zones.{ext}").read_bytes()


WGS84_PRJ = (b'GEOGCS["GCS_WGS_1984",DATUM["D_WGS_1984",SPHEROID["WGS_1984",6378137.0,298.257223563]],'
             b'PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]]')


@pytest.mark.parametrize("files,message", [
    ({"readme.txt": b"x"}, "expected one .shp file in the zip, found 0"),
    ({"z.shp": _real("shp"), "z.shx": _real("shx"), "z.prj": _real("prj")}, "z.shp has no .dbf beside it"),
    ({"z.shp": _real("shp"), "z.shx": _real("shx"), "z.dbf": _real("dbf"), "z.prj": WGS84_PRJ},
     "z.prj: the shapes are in 'WGS 84', not the TLC's NAD83 / New York Long Island feet (EPSG:2263)"),
    ({"z.shp": _real("shp"), "z.shx": _real("shx"), "z.dbf": _real("dbf")[:500], "z.prj": _real("prj")},
     "corrupt shapefile z.shp/z.dbf"),
], ids=["no-shp", "no-dbf", "other-projection", "corrupt-dbf"])
def test_a_zip_that_is_not_the_shapefile_fails_naming_the_file(tmp_path, files, message):
    with pytest.raises(BadZoneShapes) as error:
        read_zone_shapes(_zip(tmp_path, files), "taxi_zones.zip")
    assert str(error.value).startswith("taxi_zones.zip")
    assert message in str(error.value)


def test_a_file_that_is_not_a_zip_fails_naming_it(tmp_path):
    bad = tmp_path / "taxi_zones.zip"
    bad.write_bytes(io.BytesIO(b"<html>Access Denied</html>").getvalue())
    with pytest.raises(BadZoneShapes, match="^taxi_zones.zip: not a readable zip file"):
        read_zone_shapes(bad)
