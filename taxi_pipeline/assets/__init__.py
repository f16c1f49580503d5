"""The assets' building blocks: a service's trip assets and checks, the zone lookup.

Nothing here is registered by itself: `taxi_pipeline/defs/` calls these factories.
"""
