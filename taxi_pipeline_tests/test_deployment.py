"""The production instance (deploy/dagster.yaml), the image's command and the stack's
workspace (deploy/workspace.yaml), against a real PostgreSQL that requires a password.

What needs a Docker engine (the compose stack itself, DockerRunLauncher starting a run
container) cannot run here; scripts/build_image.sh builds the image with buildah and runs
its command inside it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psycopg
import pytest
import yaml

from taxi_pipeline_tests.conftest import REPO, _free_port, graphql
from taxi_pipeline_tests.services import PasswordPostgres

pytestmark = pytest.mark.slow  # starts servers or subprocesses of its own (docs/development.md)

BIN = Path(sys.executable).parent
PASSWORD = "instance-Secret-7731"


@pytest.fixture
def production(tmp_path, http_mirror):
    """DAGSTER_HOME holding deploy/dagster.yaml, and the env the compose file would set."""
    server = PasswordPostgres(tmp_path / "pg", password=PASSWORD)
    with psycopg.connect(host="127.0.0.1", port=server.port, user="postgres", password=PASSWORD,
                         dbname="postgres", autocommit=True) as conn:
        for name in ("dagster", "ny_taxi"):
            conn.execute(f"CREATE DATABASE {name}")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(server.port),
        "DAGSTER_PG_USER": "postgres",
        "DAGSTER_PG_PASSWORD": PASSWORD,
        "DAGSTER_PG_DB": "dagster",
        "TAXI_DOCKER_NETWORK": "taxi_pipeline",
        "TAXI_DATA_DIR": str(tmp_path / "data"),
        "TAXI_SOURCE": "course",
        "TAXI_SOURCE_URL": http_mirror.url,
        "TAXI_PG_HOST": "127.0.0.1",
        "TAXI_PG_PORT": str(server.port),
        "TAXI_PG_PASSWORD": PASSWORD,
        "TAXI_PG_DB": "ny_taxi",
        "TAXI_PG_SSLMODE": "disable",
    }
    yield env, server, http_mirror
    server.stop()


def query(server: PasswordPostgres, db: str, sql: str, params=()) -> list[tuple]:
    with psycopg.connect(host="127.0.0.1", port=server.port, user="postgres", password=PASSWORD,
                         dbname=db) as conn:
        return conn.execute(sql, params).fetchall()


def test_the_production_instance_loads_its_coordinator_launcher_monitoring_and_retries(production):
    env, _, _ = production
    script = """
from dagster import DagsterInstance
i = DagsterInstance.get()
queue = i.get_concurrency_config().run_queue_config  # what the daemon's queue obeys
print(type(i.run_storage).__name__, type(i.run_coordinator).__name__, type(i.run_launcher).__name__,
      queue.max_concurrent_runs, len(queue.tag_concurrency_limits),
      i.run_monitoring_enabled, i.run_retries_enabled, i.run_retries_max_retries,
      i.telemetry_enabled)
"""
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split() == [
        "PostgresRunStorage", "QueuedRunCoordinator", "DockerRunLauncher", "4", "1",
        "True", "True", "1", "False",
    ]


def test_a_partition_run_through_the_production_instance_is_recorded_in_postgres(production):
    env, server, mirror = production
    run = subprocess.run(
        [str(BIN / "dagster"), "job", "execute", "-m", "taxi_pipeline.definitions", "-j", "yellow_taxi_job",
         "--tags", json.dumps({"dagster/partition": "2019-02"})],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]

    runs = query(server, "dagster", "SELECT run_id, pipeline_name, status FROM runs")
    assert [(name, status) for _, name, status in runs] == [("yellow_taxi_job", "SUCCESS")]
    run_id = runs[0][0]
    tags = dict(query(server, "dagster", "SELECT key, value FROM run_tags WHERE run_id = %s", [run_id]))
    assert tags["dagster/partition"] == "2019-02"
    materialized = query(
        server, "dagster",
        "SELECT count(DISTINCT asset_key) FROM event_logs WHERE run_id = %s "
        "AND dagster_event_type = 'ASSET_MATERIALIZATION'", [run_id],
    )[0][0]
    assert materialized == 4  # raw, clean, warehouse, postgres
    leaked = query(
        server, "dagster", "SELECT count(*) FROM event_logs WHERE event LIKE %s", [f"%{PASSWORD}%"]
    )
    assert leaked == [(0,)]
    rows = query(
        server, "ny_taxi", "SELECT count(*) FROM yellow_taxi_trips WHERE source_month = '2019-02-01'"
    )
    assert rows == [(mirror.rows("yellow", "2019-02"),)]


MODELS_MODULE = "taxi_pipeline.models.definitions"


def _image_command(port: int, module: str = "taxi_pipeline.definitions") -> list[str]:
    """The Dockerfile's CMD (the pipeline's location), with the port moved to a free one;
    with `module`, the models' server's command (the same with its module)."""
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", (REPO / "Dockerfile").read_text(), re.M).group(1))
    assert cmd[:3] == ["dagster", "api", "grpc"] and cmd[cmd.index("-p") + 1] == "4000"
    assert cmd[cmd.index("-m") + 1] == "taxi_pipeline.definitions"
    cmd[cmd.index("-p") + 1] = str(port)
    cmd[cmd.index("-m") + 1] = module
    return [str(BIN / cmd[0]), *cmd[1:]]


def _wait(check, what: str, process: subprocess.Popen, log: Path, seconds: int = 120) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert process.poll() is None, f"{what} exited: {log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"{what} did not come up: {log.read_text()[-3000:]}"
        time.sleep(1)


def _healthy(port: int, env: dict) -> bool:
    probe = subprocess.run([str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(port)],
                           env=env, capture_output=True, text=True)
    return probe.returncode == 0


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(f"{url}/server_info", timeout=2)
        return True
    except OSError:
        return False


WORKSPACE = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus displayMetadata { key value }
    locationOrLoadError { __typename
      ... on RepositoryLocation { repositories { name jobs { name } } }
      ... on PythonError { message } } } } } }
"""

LAUNCH = """
mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId status } }
  ... on PythonError { message } } }
"""


def test_the_image_commands_serve_the_locations_the_stack_workspace_points_at(production, tmp_path):
    env, server, _ = production
    grpc_port, models_port, web_port = _free_port(), _free_port(), _free_port()
    env = {**env, "TAXI_CODE_SERVER_HOST": "127.0.0.1", "TAXI_CODE_SERVER_PORT": str(grpc_port),
           "TAXI_MODELS_SERVER_HOST": "127.0.0.1", "TAXI_MODELS_SERVER_PORT": str(models_port)}
    processes = []

    def start(command: list[str], log: Path) -> subprocess.Popen:
        with open(log, "wb") as out:
            processes.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=out,
                                              stderr=subprocess.STDOUT, start_new_session=True))
        return processes[-1]

    try:
        grpc_log = tmp_path / "grpc.log"
        grpc = start(_image_command(grpc_port), grpc_log)
        models_log = tmp_path / "models_grpc.log"
        models = start(_image_command(models_port, MODELS_MODULE), models_log)
        _wait(lambda: _healthy(grpc_port, env), "the gRPC server", grpc, grpc_log)
        _wait(lambda: _healthy(models_port, env), "the models' gRPC server", models, models_log)

        web_log = tmp_path / "webserver.log"
        url = f"http://127.0.0.1:{web_port}"
        web = start([str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port),
                     "-w", str(REPO / "deploy" / "workspace.yaml")], web_log)
        _wait(lambda: _answers(url), "dagster-webserver", web, web_log)

        entries = {e["name"]: e for e in graphql(url, WORKSPACE, {})["workspaceOrError"]["locationEntries"]}
        assert sorted(entries) == ["taxi_models", "taxi_pipeline"]
        assert {e["loadStatus"] for e in entries.values()} == {"LOADED"}, entries
        (models_repository,) = entries["taxi_models"]["locationOrLoadError"]["repositories"]
        assert {"trip_models_job", "models_job"} <= {job["name"] for job in models_repository["jobs"]}
        entry = entries["taxi_pipeline"]
        metadata = {m["key"]: m["value"] for m in entry["displayMetadata"]}
        assert metadata["host"] == "127.0.0.1" and metadata["port"] == str(grpc_port)
        (repository,) = entry["locationOrLoadError"]["repositories"]
        jobs = {job["name"] for job in repository["jobs"]}
        assert {"yellow_taxi_job", "fhvhv_taxi_job", "taxi_zones_job"} <= jobs

        # A run launched from the webserver goes to the instance's queue in Postgres
        # (QueuedRunCoordinator; the daemon would start it in its own container).
        params = {"selector": {"repositoryLocationName": "taxi_pipeline",
                               "repositoryName": repository["name"], "jobName": "taxi_zones_job"}}
        launched = graphql(url, LAUNCH, {"params": params})["launchRun"]
        assert launched["__typename"] == "LaunchRunSuccess", launched
        run_id = launched["run"]["runId"]
        assert query(server, "dagster", "SELECT status FROM runs WHERE run_id = %s", [run_id]) == [
            ("QUEUED",)
        ]
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def test_the_dockerfile_is_lint_clean():
    lint = subprocess.run([str(BIN / "hadolint"), str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_the_compose_stack_wires_the_instance_workspace_and_run_containers_together():
    """No Docker engine here: check what `docker compose config` would otherwise catch for us."""
    compose = yaml.safe_load((REPO / "deploy" / "docker-compose.yaml").read_text())
    instance = yaml.safe_load((REPO / "deploy" / "dagster.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "taxi_pipeline_code", "taxi_models_code", "webserver", "daemon"} <= set(services)
    # The models' server: the image's command with its module, the same settings.
    models = services["taxi_models_code"]
    assert models["command"] == ["dagster", *_image_command(4000, MODELS_MODULE)[1:]]
    assert models["environment"] == services["taxi_pipeline_code"]["environment"]
    assert models["image"] == services["taxi_pipeline_code"]["image"]
    for name in ("webserver", "daemon"):
        assert {"taxi_pipeline_code", "taxi_models_code"} <= set(services[name]["depends_on"])
    launcher = instance["run_launcher"]["config"]
    daemon_env = services["daemon"]["environment"]
    # Every variable a run container gets comes from the daemon's environment.
    assert set(launcher["env_vars"]) <= set(daemon_env)
    assert daemon_env["TAXI_DOCKER_NETWORK"] == compose["networks"]["taxi_pipeline"]["name"]
    volume = launcher["container_kwargs"]["volumes"][0].split(":")[0]
    assert compose["volumes"][volume]["name"] == volume
    # The code server's image is the image run containers start from.
    code = services["taxi_pipeline_code"]
    assert code["environment"]["DAGSTER_CURRENT_IMAGE"] == code["image"]
    # No secret value in the files: the password comes from the env file.
    assert "${POSTGRES_PASSWORD" in (REPO / "deploy" / "docker-compose.yaml").read_text()
    assert "password: {env: DAGSTER_PG_PASSWORD}" in (REPO / "deploy" / "dagster.yaml").read_text()


def _settings_the_package_reads() -> set[str]:
    source = "\n".join(p.read_text() for p in (REPO / "taxi_pipeline").rglob("*.py"))
    return set(re.findall(r'"((?:TAXI|GCP|GCS|BQ)_[A-Z_]+)"', source))


def test_the_helm_values_run_the_image_command_with_settings_the_package_reads():
    values = yaml.safe_load((REPO / "deploy" / "helm" / "values.yaml").read_text())
    deployment, models = values["dagster-user-deployments"]["deployments"]
    cmd = _image_command(4000)
    assert deployment["port"] == 4000 and deployment["dagsterApiGrpcArgs"] == cmd[3:5]
    assert models["port"] == 4000 and models["dagsterApiGrpcArgs"] == _image_command(4000, MODELS_MODULE)[3:5]
    assert models["env"] == deployment["env"] and models["volumeMounts"] == deployment["volumeMounts"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    names = {item["name"] for item in deployment["env"]}
    assert names <= _settings_the_package_reads()
    mount = deployment["volumeMounts"][0]["mountPath"]
    gcp_credentials = next(i["value"] for i in deployment["env"] if i["name"] == "GCP_CREDENTIALS")
    assert gcp_credentials.startswith(mount + "/")


def test_every_setting_the_stack_passes_is_one_the_package_reads():
    compose = yaml.safe_load((REPO / "deploy" / "docker-compose.yaml").read_text())
    passed = set(compose["services"]["taxi_pipeline_code"]["environment"])
    project = {n for n in passed if n.split("_")[0] in {"TAXI", "GCP", "GCS", "BQ"}}
    stack_only = {"TAXI_DOCKER_NETWORK", "TAXI_CODE_SERVER_HOST", "TAXI_CODE_SERVER_PORT",
                  "TAXI_MODELS_SERVER_HOST", "TAXI_MODELS_SERVER_PORT"}
    assert project - stack_only <= _settings_the_package_reads()
