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
