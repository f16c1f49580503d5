"""The code location's definitions, loaded by `load_from_defs_folder` (definitions.py).

One module per concern, each with one `@definitions` function that Dagster calls when it
loads the location (importing a module here builds nothing):
services.py (one factory per service, fed by the registry), zones.py, sensors.py,
resources.py.
"""
