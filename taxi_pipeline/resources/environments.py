"""The one place that maps TAXI_PIPELINE_ENV to resources and IO managers.

Settings are read from the environment: values that have defaults are resolved when the
definitions load; secrets go through `EnvVar`, so Dagster resolves them at run time and
shows only the variable's name in the UI.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from dagster import EnvVar
from dagster_duckdb import DuckDBResource

from taxi_pipeline.io_managers.lake import LocalLakeIOManager
from taxi_pipeline.io_managers.postgres import PostgresTableIOManager
from taxi_pipeline.io_managers.warehouse import WAREHOUSE_SCHEMA, WarehouseIOManager
from taxi_pipeline.resources.postgres import PostgresResource
from taxi_pipeline.resources.source import RELEASE_URL, TaxiSourceResource

DEFAULT_ENV = "local"
DEFAULT_DATA_DIR = "taxi_data"


def _env(name: str, default: Any = None, cast=EnvVar) -> Any:
    """`EnvVar(name)` when the variable is set, else the default."""
    return cast(name) if os.environ.get(name) else default


def data_dir() -> Path:
    return Path(os.environ.get("TAXI_DATA_DIR") or DEFAULT_DATA_DIR).resolve()


def postgres_resource(embedded_dir: Path) -> PostgresResource:
    return PostgresResource(
        host=_env("TAXI_PG_HOST"),
        port=_env("TAXI_PG_PORT", 5432, EnvVar.int),
        user=_env("TAXI_PG_USER", "postgres"),
        password=_env("TAXI_PG_PASSWORD"),
        database=_env("TAXI_PG_DB", "ny_taxi"),
        sslmode=_env("TAXI_PG_SSLMODE", "prefer"),
        embedded_data_dir=str(embedded_dir),
    )


def local_resources() -> dict[str, Any]:
    """Lake in a folder, DuckDB warehouse file, Postgres (embedded unless TAXI_PG_HOST)."""
    root = data_dir()
    postgres = postgres_resource(root / "postgres")
    return {
        "source": TaxiSourceResource(base_url=_env("TAXI_SOURCE_URL", RELEASE_URL)),
        "lake_io_manager": LocalLakeIOManager(root=str(root / "lake")),
        "warehouse_io_manager": WarehouseIOManager(
            database=str(root / "warehouse.duckdb"), schema=WAREHOUSE_SCHEMA
        ),
        "warehouse": DuckDBResource(database=str(root / "warehouse.duckdb")),
        "postgres": postgres,
        "postgres_io_manager": PostgresTableIOManager(postgres=postgres),
    }


ENVIRONMENTS = {"local": local_resources}


def resources_for_environment(name: str | None = None) -> dict[str, Any]:
    name = name or os.environ.get("TAXI_PIPELINE_ENV") or DEFAULT_ENV
    if name not in ENVIRONMENTS:
        raise ValueError(
            f"TAXI_PIPELINE_ENV={name!r} is not available; choose one of {sorted(ENVIRONMENTS)}. "
            "(The gcp environment, GCS and BigQuery, is being built in issue 3.)"
        )
    return ENVIRONMENTS[name]()
