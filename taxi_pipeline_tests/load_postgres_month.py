"""Child process for tests: materialize one service's Postgres asset for one month.

    python -m taxi_pipeline_tests.load_postgres_month EMBEDDED_PG_DIR DATABASE COLOR MONTH

TAXI_DATA_DIR must point at a lake that already holds the month's clean parquet.
"""

import sys

from dagster import AssetKey, materialize

from taxi_pipeline.resources.postgres import PostgresResource
from taxi_pipeline.sources import current_source
from taxi_pipeline_tests.definitions import assets_for
from taxi_pipeline_tests.services import resources_with_postgres


def main(pg_dir: str, database: str, service: str, month: str) -> int:
    postgres = PostgresResource(embedded_data_dir=pg_dir, database=database)
    result = materialize(
        assets_for(current_source()),
        selection=[AssetKey(["postgres", f"{service}_taxi_trips"])],
        partition_key=month,
        resources=resources_with_postgres(postgres),
        raise_on_error=False,
    )
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
