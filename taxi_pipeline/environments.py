"""The wiring: TAXI_PIPELINE_ENV -> the resources and IO managers of that deployment.

It sits above `resources/` and `io_managers/` (it imports them; they never import it),
and only the definitions (`defs/`) import it. Nothing here runs on import: an
environment's resources are built when the definitions ask for them.

Settings are read from the environment and checked, all of them, when the definitions
load (`settings.py`: what each accepts); values that have defaults are resolved then;
secrets go through `EnvVar`, so Dagster resolves them at run time and shows only the
variable's name in the UI.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from dagster import EnvVar

from taxi_pipeline.automation import DEFAULT_LATE_AFTER, DEFAULT_WINDOW_MONTHS, LoadWindow
from taxi_pipeline.io_managers.lake import LakeIOManager
from taxi_pipeline.io_managers.postgres import DEFAULT_VIEWS_SCHEMA, PostgresTableIOManager
from taxi_pipeline.io_managers.warehouse import WAREHOUSE_SCHEMA, WarehouseIOManager
from taxi_pipeline.resources.alerts import AlertWebhookResource
from taxi_pipeline.resources.dbt import DBT_EXECUTABLE, TaxiDbtResource
from taxi_pipeline.resources.gcp import GcpCredentialsResource
from taxi_pipeline.resources.postgres import PostgresResource
from taxi_pipeline.resources.source import TaxiSourceResource
from taxi_pipeline.resources.warehouse import BigQueryWarehouse, DuckDBWarehouse
from taxi_pipeline.settings import check as check_settings
from taxi_pipeline.settings import value as setting
from taxi_pipeline.sources import current_source
from taxi_pipeline.sources.tlc import TLC

DEFAULT_ENV = "local"
DEFAULT_DATA_DIR = "taxi_data"
DEFAULT_WAREHOUSE_FILE = "warehouse.duckdb"
DEFAULT_MODELS_SCHEMA = "taxi_models"
"""Inside TAXI_DATA_DIR unless TAXI_WAREHOUSE_FILE is absolute. DuckDB names the database
after the file (`warehouse`): that is what dbt's `database` (DBT_DATABASE) must say."""
# DuckDB keeps what a transaction inserts in its buffer pool up to its memory limit (80%
# of RAM by default), so a month's insert would grow with the month. Inserting a 3M-row
# fhvhv month from its parquet (scripts/benchmark_floor.py's file): 64MB and 1 thread
# 5.1 s, +102 MB; 128MB, 2 threads and no insertion order kept 3.0 s, +150 MB (2 threads
# that must keep the file's order stall at 64MB: 9.7 s). A table has no order anyway.
WAREHOUSE_DUCKDB_CONFIG = {"memory_limit": "128MB", "threads": 2, "preserve_insertion_order": False}


def _env(name: str, default: Any = None, cast=EnvVar) -> Any:
    """`EnvVar(name)` when the variable is set (its value checked), else the default."""
    return cast(name) if setting(name) else default


def models_schema() -> str:
    """Where the dbt models go: apart from the trip tables, so no model replaces one."""
    return setting("TAXI_MODELS_SCHEMA", DEFAULT_MODELS_SCHEMA)


def dbt_executable() -> str:
    """TAXI_DBT_EXECUTABLE, else the dbt beside the pipeline (dbt-duckdb is a dependency).
    BigQuery's adapter lives in its own venv (scripts/install_dbt.sh, the image's /opt/dbt):
    dbt-bigquery pins google-cloud-storage below the pipeline's."""
    return setting("TAXI_DBT_EXECUTABLE", DBT_EXECUTABLE)


def load_window() -> LoadWindow:
    """What automation keeps loaded: TAXI_AUTOMATION_SINCE (YYYY-MM), else the last
    TAXI_AUTOMATION_MONTHS calendar months (default 6)."""
    months = setting("TAXI_AUTOMATION_MONTHS", str(DEFAULT_WINDOW_MONTHS))
    return LoadWindow(months=int(months), since=setting("TAXI_AUTOMATION_SINCE"))


def late_after() -> timedelta:
    """TAXI_FRESHNESS_HOURS: how long a newly published month may be missing (default 24)."""
    hours = setting("TAXI_FRESHNESS_HOURS")
    return timedelta(hours=float(hours)) if hours else DEFAULT_LATE_AFTER


def data_dir() -> Path:
    return Path(setting("TAXI_DATA_DIR", DEFAULT_DATA_DIR)).resolve()


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


def source_resource() -> TaxiSourceResource:
    """TAXI_SOURCE picks the source; its own variable (TAXI_TLC_URL or TAXI_SOURCE_URL) its base URL."""
    source = current_source()
    tlc = {} if source is TLC else {"tlc_base_url": _env(TLC.url_variable, TLC.default_url)}
    base_url = _env(source.url_variable, source.default_url)
    return TaxiSourceResource(source=source.name, base_url=base_url, **tlc)


def _common(root: Path) -> dict[str, Any]:
    postgres = postgres_resource(root / "postgres")
    return {
        "source": source_resource(),
        "alerts": AlertWebhookResource(
            url=_env("TAXI_ALERT_WEBHOOK_URL"), ui_url=_env("TAXI_UI_URL", "http://localhost:3000")
        ),
        "postgres": postgres,
        "postgres_io_manager": PostgresTableIOManager(
            postgres=postgres, views_schema=setting("TAXI_PG_VIEWS_SCHEMA", DEFAULT_VIEWS_SCHEMA)
        ),
    }


def local_resources() -> dict[str, Any]:
    """Lake in a folder, DuckDB warehouse file, Postgres (embedded unless TAXI_PG_HOST)."""
    root = data_dir()
    database = str(root / setting("TAXI_WAREHOUSE_FILE", DEFAULT_WAREHOUSE_FILE))
    schema = setting("TAXI_WAREHOUSE_SCHEMA", WAREHOUSE_SCHEMA)
    return {
        **_common(root),
        "lake_io_manager": LakeIOManager(location=str(root / "lake"), gcp=GcpCredentialsResource()),
        "warehouse_io_manager": WarehouseIOManager(
            database=database, schema=schema, connection_config=WAREHOUSE_DUCKDB_CONFIG
        ),
        "warehouse": DuckDBWarehouse(database=database, dataset=schema),
        # DuckDB names the catalog after the file: that is the dbt sources' database.
        "dbt": TaxiDbtResource(
            target="duckdb", database=database, source_database=Path(database).stem, source_schema=schema,
            models_schema=models_schema(), executable=dbt_executable(),
        ),
    }


GCP_REQUIRED = ("GCP_PROJECT", "GCS_BUCKET")


def gcp_resources() -> dict[str, Any]:
    """Lake in GCS_BUCKET, warehouse in BigQuery, one credentials resource for both."""
    # Here, not at the top: the Google clients take 0.6 s to import, which a local run
    # (every month's process) need not pay.
    from taxi_pipeline.io_managers.bigquery import BigQueryWarehouseIOManager

    missing = [name for name in GCP_REQUIRED if not setting(name)]
    if missing:
        raise ValueError(f"TAXI_PIPELINE_ENV=gcp needs {', '.join(missing)} to be set.")
    gcp = GcpCredentialsResource(credentials=_env("GCP_CREDENTIALS"), project=EnvVar("GCP_PROJECT"))
    dataset = setting("BQ_DATASET", WAREHOUSE_SCHEMA)
    location = setting("BQ_LOCATION", "US")
    return {
        **_common(data_dir()),
        "gcp": gcp,
        "lake_io_manager": LakeIOManager(
            location=f"gs://{setting('GCS_BUCKET')}",
            gcp=gcp,
            upload_chunk_mib=_env("GCS_UPLOAD_CHUNK_MIB", 8, EnvVar.int),
        ),
        "warehouse_io_manager": BigQueryWarehouseIOManager(
            project=EnvVar("GCP_PROJECT"), dataset=dataset, location=location, gcp=gcp
        ),
        "warehouse": BigQueryWarehouse(gcp=gcp, dataset=dataset, location=location),
        "dbt": TaxiDbtResource(
            target="bigquery", database=EnvVar("GCP_PROJECT"), source_database=EnvVar("GCP_PROJECT"),
            source_schema=dataset, models_schema=models_schema(), location=location,
            credentials=_env("GCP_CREDENTIALS"), executable=dbt_executable(),
        ),
    }


@dataclass(frozen=True)
class Environment:
    """A deployment's targets: the resources it wires and its warehouse engine."""

    name: str
    warehouse_kind: str
    """The warehouse assets' kind tag in the UI."""
    resources: Callable[[], dict[str, Any]]


ENVIRONMENTS = {
    "local": Environment("local", "duckdb", local_resources),
    "gcp": Environment("gcp", "bigquery", gcp_resources),
}


def current_environment(name: str | None = None) -> Environment:
    """The environment `name` (default: TAXI_PIPELINE_ENV, else local); its resources are
    built only when asked for. Every setting is checked first: a bad one fails here, when
    the definitions load, in one line naming it."""
    check_settings()
    name = name or setting("TAXI_PIPELINE_ENV", DEFAULT_ENV)
    if name not in ENVIRONMENTS:
        raise ValueError(
            f"TAXI_PIPELINE_ENV={name!r} is not available; choose one of {sorted(ENVIRONMENTS)}."
        )
    return ENVIRONMENTS[name]


def resources_for_environment(name: str | None = None) -> dict[str, Any]:
    return current_environment(name).resources()
