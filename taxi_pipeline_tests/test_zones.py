"""The zone lookup reaches the warehouse and Postgres with its literal "NA" values."""


def test_zone_lookup_loads_265_zones_keeping_na_strings(taxi_env):
    assert taxi_env.materialize("zones").success
    assert taxi_env.materialize("zones").success  # re-run replaces, never appends

    assert taxi_env.pg("SELECT count(*) FROM taxi_zone_lookup") == [(265,)]
    assert taxi_env.warehouse("SELECT count(*) FROM trips_data_all.taxi_zone_lookup") == [(265,)]
    row = taxi_env.pg('SELECT "Borough", "Zone", service_zone FROM taxi_zone_lookup WHERE "LocationID" = 265')
    assert row == [("Unknown", "NA", "N/A")]
    assert taxi_env.warehouse(
        "SELECT \"Zone\" FROM trips_data_all.taxi_zone_lookup WHERE \"LocationID\" = 1"
    ) == [("Newark Airport",)]


def test_the_zone_shapes_land_as_published_and_as_a_wkt_table_joining_the_lookup(taxi_env):
    import shapely

    assert taxi_env.materialize("zones").success
    assert taxi_env.materialize("zones").success  # a re-run replaces

    published = taxi_env.mirror.root / "misc" / "taxi_zones.zip"
    lake = taxi_env.data_dir / "lake" / "raw" / "misc" / "taxi_zones.zip"
    assert lake.read_bytes() == published.read_bytes()
    query = 'SELECT "LocationID", "Zone", geometry FROM {}taxi_zone_shapes ORDER BY 1'
    for rows in (taxi_env.pg(query.format("")), taxi_env.warehouse(query.format("trips_data_all."))):
        assert [r[0] for r in rows] == list(range(1, 264))  # OBJECTID: 57, 104 and 105 are there
        assert rows[56][1] == "Corona" and rows[0][1] == "Newark Airport"
        jfk = shapely.from_wkt(rows[131][2])
        assert jfk.geom_type in ("Polygon", "MultiPolygon") and jfk.contains(shapely.Point(-73.7781, 40.6413))
    joined = taxi_env.warehouse(
        'SELECT count(*) FROM trips_data_all.taxi_zone_shapes s JOIN trips_data_all.taxi_zone_lookup l '
        'USING ("LocationID") WHERE s."Zone" = l."Zone"')
    assert joined == [(263,)]


def test_a_zone_shapes_file_that_is_not_the_shapefile_fails_at_once_leaving_the_lake_alone(taxi_env):
    (taxi_env.mirror.root / "misc" / "taxi_zones.zip").write_bytes(b"<Error>AccessDenied</Error>")
    result = taxi_env.materialize("zones", raise_on_error=False)
    assert not result.success and taxi_env.retries(result) == 0
    assert any("taxi_zones.zip: not a readable zip file" in m for m in taxi_env.failures(result))
    assert not (taxi_env.data_dir / "lake" / "raw" / "misc" / "taxi_zones.zip").exists()
