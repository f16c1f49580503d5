"""Writes the pipeline's pool limits (policies.POOL_LIMITS) into the Dagster instance.

Dagster OSS keeps per-pool limits in the instance's storage, not in dagster.yaml (which has
only a default for every pool); this is `dagster instance concurrency set` for each pool,
run once per instance that wants more than the local dagster.yaml's one slot per pool (a
production instance: docs/deployment.md; the `dg dev` test fixture) and again after
POOL_LIMITS changes. Usage: DAGSTER_HOME=... python -m taxi_pipeline.pools
"""

from dagster import DagsterInstance

from taxi_pipeline.policies import POOL_LIMITS


def apply_pool_limits(instance: DagsterInstance) -> dict[str, int]:
    """Sets each pool's limit; returns what the instance now holds."""
    storage = instance.event_log_storage
    for pool, limit in POOL_LIMITS.items():
        storage.set_concurrency_slots(pool, limit)
    return {pool: storage.get_concurrency_info(pool).slot_count for pool in POOL_LIMITS}


def main() -> None:
    with DagsterInstance.get() as instance:
        for pool, limit in apply_pool_limits(instance).items():
            print(f"pool {pool}: {limit}")


if __name__ == "__main__":
    main()
