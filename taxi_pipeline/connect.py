"""Where psql, DuckDB and dbt find the data this pipeline loaded, for this environment.

    python -m taxi_pipeline.connect [--no-wait]

Prints the Postgres connection (never the password), the warehouse's names, and the
variables the course's dbt project reads. The embedded PostgreSQL runs only while a
process uses it, so this command keeps it up until Ctrl-C (`--no-wait`: print and exit).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

from taxi_pipeline.defs.resources import pipeline_environment
from taxi_pipeline.resources.warehouse import DuckDBWarehouse


def postgres_connection(postgres) -> dict[str, str]:
    """libpq parameters of a live connection (for the embedded server: its socket folder)."""
    with postgres.connect() as conn:
        info = conn.info
        return {"host": info.host, "port": str(info.port), "user": info.user, "dbname": info.dbname}


def dbt_variables(resources: dict) -> dict[str, dict[str, str]]:
    """Per target, the values the course's dbt `sources.yml` reads (DBT_DATABASE, DBT_SCHEMA)."""
    views = resources["postgres_io_manager"].views_schema
    targets = {"postgres": {"DBT_DATABASE": resources["postgres"].database, "DBT_SCHEMA": views}}
    warehouse = resources["warehouse"]
    if isinstance(warehouse, DuckDBWarehouse):  # the catalog is named after the file
        targets["duckdb"] = {"DBT_DATABASE": Path(warehouse.database).stem, "DBT_SCHEMA": warehouse.dataset,
                             "path": warehouse.database}
    else:
        targets["bigquery"] = {"DBT_DATABASE": "$GCP_PROJECT", "DBT_SCHEMA": warehouse.dataset}
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-wait", action="store_true", help="print and exit (stops an embedded server)")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        resources = {  # EnvVar settings resolved, as in a run
            key: stack.enter_context(resource.process_config_and_initialize_cm())
            for key, resource in pipeline_environment().resources().items()
            if key in ("postgres", "postgres_io_manager", "warehouse")
        }
        return _print_and_wait(resources, args.no_wait)


def _print_and_wait(resources: dict, no_wait: bool) -> int:
    postgres = resources["postgres"]
    pg = postgres_connection(postgres)
    dbt = dbt_variables(resources)
    print(f"environment: {pipeline_environment().name}")
    print(f'postgres:    psql "host={pg["host"]} port={pg["port"]} user={pg["user"]} dbname={pg["dbname"]}"')
    print(
        "             tables public.*_taxi_trips, public.taxi_zone_lookup; "
        f"lower-case views in {dbt['postgres']['DBT_SCHEMA']}"
    )
    for target, values in dbt.items():
        print(f"dbt ({target}): " + " ".join(f"{k}={v}" for k, v in values.items()))
    if postgres.host is None and not no_wait:
        print("The embedded PostgreSQL stays up until Ctrl-C.", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
