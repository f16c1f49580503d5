"""Automation that can be left on: the source sensor keeps the load window loaded (and
re-uploads of months loaded before), and what is downstream of a raw file follows it by
declarative automation. Against a local server that answers like the TLC's CDN for every
month since 2009 (HEAD with an ETag; 403 after the newest published month), on a real
instance; loads are recorded as the raw asset's materializations with the file's version."""

import email.utils
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler

import pytest
from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    DagsterInstance,
    Definitions,
    build_schedule_context,
    build_sensor_context,
    evaluate_automation_conditions,
)

from taxi_pipeline.assets import freshness
from taxi_pipeline.assets.keys import trip_asset_keys
from taxi_pipeline.assets.zones import (
    SHAPES_KEYS,
    SHAPES_RAW_KEY,
    ZONE_KEYS,
    ZONE_RAW_KEY,
    ZONE_SOURCE_PATH,
    shapes_in_use_key,
)
from taxi_pipeline.automation import LoadWindow
from taxi_pipeline.defs import sensors
from taxi_pipeline.defs.freshness import freshness_definitions
from taxi_pipeline.environments import resources_for_environment
from taxi_pipeline.ingest.zone_shapes import SHAPES_SOURCE_PATH
from taxi_pipeline.materializations import DATA_VERSION_TAG
from taxi_pipeline.models.transform import dbt_project, model_definitions
from taxi_pipeline.resources.alerts import AlertWebhookResource
from taxi_pipeline.resources.source import TaxiSourceResource
from taxi_pipeline.services import SERVICES
from taxi_pipeline.sources import SOURCES
from taxi_pipeline_tests.definitions import pipeline

from .conftest import AlertReceiver, serve_http

NOW = datetime(2026, 11, 2, 6, tzinfo=UTC)
NEWEST_PUBLISHED = "2026-09"
YELLOW = trip_asset_keys(SERVICES["yellow"])


class Cdn:
    """Every month of every service up to NEWEST_PUBLISHED, each file's ETag its generation
    (bumped by `reupload`); later months 403, as the TLC's CloudFront answers."""

    def __init__(self):
        self.generations: dict[str, int] = {}
        self.published: dict[str, datetime] = {}
        self.asked: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_HEAD(self):
                name = self.path.rsplit("/", 1)[-1]
                outer.asked.append(name)
                month = name.rsplit("_", 1)[-1].split(".")[0]
                if month > NEWEST_PUBLISHED and name not in ("taxi_zone_lookup.csv", "taxi_zones.zip"):
                    self.send_response(403)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("ETag", f'"{name}-{outer.generations.get(name, 1)}"')
                published = outer.published.get(name, datetime(2026, 10, 20, tzinfo=UTC))
                self.send_header("Last-Modified", email.utils.format_datetime(published, usegmt=True))
                self.send_header("Content-Length", "1000")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = serve_http(Handler)
        self.source = TaxiSourceResource(source="tlc", base_url=f"http://127.0.0.1:{self.server.server_port}")

    def reupload(self, service: str, month: str, when: datetime | None = None) -> None:
        name = f"{service}_tripdata_{month}.parquet"
        self.generations[name] = self.generations.get(name, 1) + 1
        if when:
            self.published[name] = when

    def version(self, service: str, month: str) -> str:
        return self.source.month_version(SERVICES[service], month)


@pytest.fixture
def cdn():
    server = Cdn()
    yield server
    server.server.shutdown()


@pytest.fixture
def instance(tmp_path):
    (tmp_path / "home").mkdir()
    test_instance = DagsterInstance.local_temp(str(tmp_path / "home"))
    yield test_instance
    test_instance.dispose()


def _tick(cdn, instance, monkeypatch, now, cursor=None, window=None):
    monkeypatch.setattr(sensors, "_now", lambda: now)
    cdn.asked.clear()
    sensor = sensors.source_sensor(window or LoadWindow())
    with build_sensor_context(instance=instance, cursor=cursor, resources={"source": cdn.source}) as context:
        result = sensor(context)
    for request in result.run_requests:  # named, so automation knows the run did them (sensors.py)
        job = definitions_of_jobs()[request.job_name]
        assert set(request.asset_selection) in ({*ZONE_KEYS}, {*SHAPES_KEYS}, set(job)), request
    requested = {(r.job_name.removesuffix("_taxi_job"), r.partition_key) for r in result.run_requests}
    return requested, result.cursor


def definitions_of_jobs() -> dict:
    """Job name -> the asset keys it materializes."""
    keys = {f"{s}_taxi_job": list(trip_asset_keys(SERVICES[s])) for s in SERVICES}
    return {**keys, "taxi_zones_job": [*ZONE_KEYS, *SHAPES_KEYS]}


def _loaded(instance, key: AssetKey, month: str, version: str | None = None) -> None:
    """What a run (or a backfill's) records when it materializes `key`'s month."""
    tags = {DATA_VERSION_TAG: version} if version else None
    instance.report_runless_asset_event(AssetMaterialization(asset_key=key, partition=month, tags=tags))


def test_a_fresh_instance_requests_only_the_window_and_then_reuploads_of_loaded_months(
    cdn, instance, monkeypatch
):
    requested, cursor = _tick(cdn, instance, monkeypatch, NOW)
    # The last six calendar months: 2026-06..2026-11, published up to 2026-09; the zones.
    window = {"2026-06", "2026-07", "2026-08", "2026-09"}
    zones = ("taxi_zones_job", None)
    assert requested == {(service, month) for service in SERVICES for month in window} | {zones}
    assert len(cdn.asked) == 6 * len(SERVICES) + 2  # not the ~600 months since 2009; the zone files
    requested.remove(zones)
    _loaded(instance, ZONE_RAW_KEY, None, cdn.source.versioned(cdn.source.version(ZONE_SOURCE_PATH)))
    _loaded(instance, SHAPES_RAW_KEY, None, cdn.source.versioned(cdn.source.version(SHAPES_SOURCE_PATH)))

    # 2012-03 of yellow was loaded by a backfill; the window's months by their runs.
    _loaded(instance, YELLOW.raw, "2012-03", cdn.version("yellow", "2012-03"))
    for service, month in requested:
        _loaded(instance, trip_asset_keys(SERVICES[service]).raw, month, cdn.version(service, month))

    later = datetime(2026, 11, 2, 12, tzinfo=UTC)
    assert _tick(cdn, instance, monkeypatch, later, cursor)[0] == set()  # nothing changed
    assert "yellow_tripdata_2012-03.parquet" not in cdn.asked  # loaded months: weekly

    cdn.reupload("yellow", "2012-03")
    cdn.reupload("green", "2012-04")  # never loaded, outside the window
    week_later = datetime(2026, 11, 9, 12, tzinfo=UTC)
    requested, cursor = _tick(cdn, instance, monkeypatch, week_later, cursor)
    assert requested == {("yellow", "2012-03")}
    assert "green_tripdata_2012-04.parquet" not in cdn.asked  # never asked, never requested
    assert len(cdn.asked) == 6 * len(SERVICES) + 1 + 2  # the window, 2012-03, the zone files


def test_the_window_can_start_at_a_month(cdn, instance, monkeypatch):
    requested, _ = _tick(cdn, instance, monkeypatch, NOW, window=LoadWindow(since="2026-08"))
    months = {(s, m) for s in SERVICES for m in ("2026-08", "2026-09")}
    assert requested == months | {("taxi_zones_job", None)}
    with pytest.raises(ValueError, match="TAXI_AUTOMATION_SINCE must look like 2024-01"):
        LoadWindow(since="2026-8")


def test_new_zone_shapes_never_re_locate_a_month_by_themselves(instance, definitions):
    requested, cursor = _requests(definitions, instance, None)
    for month in ("2009-01", "2012-03"):
        for key in YELLOW:
            _loaded(instance, key, month, "tlc:v1" if key == YELLOW.raw else None)
    _loaded(instance, SHAPES_RAW_KEY, None, "tlc:shapes-v2")
    for month in ("2009-01", "2009-02"):  # what raw_taxi_zones observes for the months with coordinates
        instance.report_runless_asset_event(AssetObservation(
            shapes_in_use_key(SERVICES["yellow"]), partition=month, tags={DATA_VERSION_TAG: "tlc:shapes-v2"}))
    requested, cursor = _requests(definitions, instance, cursor)
    assert not any(key.startswith(("lake/clean_yellow", "warehouse/yellow", "postgres/yellow"))
                   for key in requested), requested  # the zone tables follow; no month is re-located


def _schedule(service: str, cdn, instance, day: datetime):
    from taxi_pipeline.defs.services import monthly_schedule

    resources = {**resources_for_environment("local"), "source": cdn.source}  # built, never used
    definitions = Definitions.merge(pipeline(SOURCES["tlc"]), Definitions(resources=resources))
    repository = definitions.get_repository_def()
    with build_schedule_context(instance=instance, scheduled_execution_time=day, repository_def=repository,
                                resources={"source": cdn.source}) as context:
        result = monthly_schedule(SERVICES[service]).evaluate_tick(context)
    return [(r.partition_key, r.tags["taxi/source_version"]) for r in result.run_requests or []], result


def test_each_monthly_schedule_requests_the_newest_published_month_once_and_never_what_the_sensor_did(
    cdn, instance, monkeypatch, tmp_path
):
    from taxi_pipeline.defs.services import MONTHLY_CRON

    monkeypatch.setenv("TAXI_DATA_DIR", str(tmp_path / "data"))
    assert MONTHLY_CRON == "0 6 25 * *"
    day = datetime(2026, 11, 25, 6, tzinfo=UTC)  # the TLC published 2026-09 between the 17th and 22nd
    for service in SERVICES:
        requested, _ = _schedule(service, cdn, instance, day)
        assert requested == [("2026-09", cdn.version(service, "2026-09"))], service
    # yellow's run loaded it: next month's tick (nothing newer published) asks for nothing
    _loaded(instance, YELLOW.raw, "2026-09", cdn.version("yellow", "2026-09"))
    requested, result = _schedule("yellow", cdn, instance, datetime(2026, 12, 25, 6, tzinfo=UTC))
    assert requested == [] and "is loaded at this version" in result.skip_message
    # ... and the source sensor does not request what the schedule loaded (the same test)
    sensor_requested, _ = _tick(cdn, instance, monkeypatch, datetime(2026, 11, 25, 12, tzinfo=UTC))
    assert ("yellow", "2026-09") not in sensor_requested and ("green", "2026-09") in sensor_requested
    # A month the sensor loaded is not requested by the schedule; a re-upload is, once.
    _loaded(instance, trip_asset_keys(SERVICES["green"]).raw, "2026-09", cdn.version("green", "2026-09"))
    assert _schedule("green", cdn, instance, day)[0] == []
    cdn.reupload("green", "2026-09")
    assert _schedule("green", cdn, instance, day)[0] == [("2026-09", cdn.version("green", "2026-09"))]
    # A run already under way for that version (the sensor's, say) is not requested again.
    from dagster import DagsterRunStatus
    from dagster._core.test_utils import create_run_for_test

    create_run_for_test(instance, job_name="green_taxi_job", status=DagsterRunStatus.STARTED,
                        tags={"dagster/partition": "2026-09",
                              "taxi/source_version": cdn.version("green", "2026-09")})
    requested, result = _schedule("green", cdn, instance, day)
    assert requested == [] and "is being loaded" in result.skip_message


def test_the_course_source_has_no_new_month_to_schedule(instance, http_mirror):
    course = TaxiSourceResource(source="course", base_url=http_mirror.url)
    from taxi_pipeline.defs.services import monthly_schedule

    with build_schedule_context(instance=instance, scheduled_execution_time=NOW,
                                resources={"source": course}) as context:
        result = monthly_schedule(SERVICES["yellow"]).evaluate_tick(context)
    assert not result.run_requests and "no yellow month in the last year" in result.skip_message


def _requests(definitions, instance, cursor) -> tuple[dict, object]:
    result = evaluate_automation_conditions(
        defs=definitions, instance=instance, cursor=cursor, evaluation_time=NOW
    )
    requested = {
        key.to_user_string(): set(result.get_requested_partitions(key))
        for key in definitions.resolve_asset_graph().get_all_asset_keys()
        if result.get_num_requested(key)
    }
    return requested, result.cursor


@pytest.fixture
def definitions(tmp_path, monkeypatch) -> Definitions:
    """The pipeline and its models, with the local resources (built, never used)."""
    monkeypatch.setenv("TAXI_DATA_DIR", str(tmp_path / "data"))
    return Definitions.merge(
        pipeline(SOURCES["tlc"]), model_definitions(dbt_project()),
        Definitions(resources=resources_for_environment("local")),
    )


def test_a_reloaded_old_month_flows_downstream_through_every_layer_and_the_models(instance, definitions):
    requested, cursor = _requests(definitions, instance, None)
    assert requested == {}  # a fresh instance: nothing loaded, nothing to follow

    _loaded(instance, YELLOW.raw, "2012-03", "tlc:v2")  # the re-uploaded month, downloaded
    requested, cursor = _requests(definitions, instance, cursor)
    # The month's three downstream layers, in one run (a dep that will be requested counts).
    month = {"2012-03"}
    assert requested == {"lake/clean_yellow_trips": month, "warehouse/yellow_tripdata": month,
                         "postgres/yellow_taxi_trips": month}

    for key in (YELLOW.clean, YELLOW.warehouse, YELLOW.postgres):
        _loaded(instance, key, "2012-03")
    requested, cursor = _requests(definitions, instance, cursor)
    # The yellow view is built once its table has data; fact_trips waits for it and dim_zones.
    assert requested == {"models/stg_yellow_tripdata": {None}}

    for name in ("stg_yellow_tripdata", "stg_green_tripdata", "dim_zones"):
        _loaded(instance, AssetKey(["models", name]), None)
    _loaded(instance, YELLOW.warehouse, "2012-03")  # the month loaded again
    requested, cursor = _requests(definitions, instance, cursor)
    assert requested == {"models/fact_trips": month}

    _loaded(instance, AssetKey(["models", "fact_trips"]), "2012-03")
    requested, cursor = _requests(definitions, instance, cursor)
    assert requested == {"models/dm_monthly_zone_revenue": {None}}  # the mart over the new month
    _loaded(instance, AssetKey(["models", "dm_monthly_zone_revenue"]), None)
    assert _requests(definitions, instance, cursor)[0] == {}  # all caught up: nothing twice


def test_every_asset_has_owners_layer_tags_a_code_version_and_its_pool(definitions):
    graph = definitions.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners == ["team:data-engineering"], key
        assert node.tags.get("layer") in {"raw", "clean", "warehouse", "postgres", "models"}, key
        assert node.code_version, key
    raw = graph.get(YELLOW.raw)
    assert raw.tags["service"] == "yellow" and raw.tags["source"] == "tlc"
    # Writers of one system share its pool: the DuckDB file's loads and the dbt models alike.
    pools = {key.to_user_string(): definitions.get_assets_def(key).get_op_def_for_asset_key(key).pool
             for key in graph.get_all_asset_keys() if graph.get(key).is_executable}
    # A service-month's one step writes the DuckDB file too: it takes that pool.
    assert pools["warehouse/yellow_tripdata"] == pools["models/fact_trips"] == "duckdb_warehouse"
    assert pools["lake/raw_green_trips"] == pools["postgres/fhv_taxi_trips"] == "duckdb_warehouse"
    assert pools["warehouse/taxi_zone_lookup"] == "duckdb_warehouse"
    assert pools["postgres/taxi_zone_lookup"] == "postgres_copy"
    assert raw.automation_condition is None  # the source drives the raw files
    assert graph.get(YELLOW.warehouse).automation_condition.get_label() == "follows its upstream"




def test_a_month_published_a_day_ago_and_not_loaded_fails_freshness_once_alerted_then_passes(
    cdn, instance, tmp_path, monkeypatch
):
    """2026-09 is the newest month the CDN has, published 2026-10-20; the check asks it."""
    monkeypatch.setenv("TAXI_DATA_DIR", str(tmp_path / "data"))
    receiver = AlertReceiver()
    resources = {**resources_for_environment("local"), "source": cdn.source,
                 "alerts": AlertWebhookResource(url=receiver.url)}
    checks = Definitions.merge(pipeline(SOURCES["tlc"]), freshness_definitions(),
                               Definitions(resources=resources))
    job = checks.resolve_job_def("freshness_job")

    def check(now) -> dict:
        monkeypatch.setattr(freshness, "_now", lambda: now)
        result = job.execute_in_process(instance=instance)
        evaluations = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}
        assert len(evaluations) == len(SERVICES)
        return evaluations["yellow_tripdata"]

    cdn.asked.clear()
    late = check(NOW)  # 13 days after publication, not loaded
    # newest first: 2026-11 and 2026-10 answer 403; one HEAD gives 2026-09's version and date
    assert [m for m in cdn.asked if m.startswith("yellow")] == [
        f"yellow_tripdata_{m}.parquet" for m in ("2026-11", "2026-10", "2026-09")]
    assert not late.passed and late.severity.value == "ERROR"
    assert late.metadata["newest_published_month"].value == "2026-09"
    assert late.metadata["hours_since_publication"].value == 13 * 24 + 6
    def alerts() -> list[str]:
        return [post["text"] for post in receiver.posts if "yellow 2026-09" in post["text"]]

    yellow_alerts = alerts()
    assert len(yellow_alerts) == 1 and "not in the warehouse" in yellow_alerts[0]
    assert not check(NOW + timedelta(hours=1)).passed
    assert len(alerts()) == 1  # alerted once per late month

    _loaded(instance, YELLOW.raw, "2026-09", cdn.version("yellow", "2026-09"))
    _loaded(instance, YELLOW.warehouse, "2026-09")
    assert check(NOW).passed

    cdn.reupload("yellow", "2026-09", when=NOW - timedelta(hours=2))  # not late yet
    assert check(NOW).passed
    reloaded_late = check(NOW + timedelta(hours=23))
    assert not reloaded_late.passed and "re-uploaded" in reloaded_late.description


@pytest.mark.slow  # a `dagster job execute` child process on the embedded Postgres
def test_a_months_step_waits_for_the_duckdb_pool(tmp_path, http_mirror, embedded_postgres_dir):
    """The DuckDB file's writers are serialized by the `duckdb_warehouse` pool, not by luck:
    with its one slot held (as another run's month would), a month's run starts and waits
    before its step, sleeping (not spinning a core), and finishes once the slot is free."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from dagster import DagsterEventType

    from .conftest import REPO, _create_database

    home = tmp_path / "home"
    home.mkdir()
    home.joinpath("dagster.yaml").write_text(
        (REPO / "dagster.yaml").read_text().replace("taxi_data/dagster", str(tmp_path / "dagster"))
    )
    database = f"pools_{os.urandom(4).hex()}"
    _create_database(embedded_postgres_dir, database)
    env = {**os.environ, "DAGSTER_HOME": str(home), "TAXI_DATA_DIR": str(tmp_path / "data"),
           "TAXI_SOURCE": "course", "TAXI_SOURCE_URL": http_mirror.url,
           "TAXI_PG_HOST": str(embedded_postgres_dir), "TAXI_PG_DB": database}
    with DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        storage.set_concurrency_slots("duckdb_warehouse", 1)
        storage.claim_concurrency_slot("duckdb_warehouse", "another-run", "green_month")
        command = [str(Path(sys.executable).with_name("dagster")), "job", "execute", "-m",
                   "taxi_pipeline.definitions", "-j", "yellow_taxi_job"]
        run = subprocess.Popen(
            [*command, "--tags", '{"dagster/partition": "2021-01"}'],
            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            def events():
                runs = instance.get_run_records()
                if not runs:
                    return set()
                kinds = {DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_START,
                         DagsterEventType.RUN_START}
                events = instance.all_logs(runs[0].dagster_run.run_id, of_type=kinds)
                return {(e.dagster_event_type, e.step_key) for e in events}

            deadline = time.monotonic() + 120
            while (DagsterEventType.RUN_START, None) not in events():
                assert run.poll() is None and time.monotonic() < deadline, events()
                time.sleep(0.5)
            waited = _cpu_seconds(run.pid)
            time.sleep(5)  # the month's step would have started by now without the pool
            waited = _cpu_seconds(run.pid) - waited
            assert run.poll() is None
            assert (DagsterEventType.STEP_START, "yellow_month") not in events()
            # It sleeps between its claims (`pool_waits`): Dagster's own loop spins a core.
            assert waited < 1.0, f"the waiting run used {waited:.1f} s of CPU in 5 s"

            storage.free_concurrency_slot_for_step("another-run", "green_month")
            assert run.wait(120) == 0
            assert (DagsterEventType.STEP_SUCCESS, "yellow_month") in events()
        finally:
            run.kill()


def _cpu_seconds(pid: int) -> float:
    """The user and system CPU time a process has used so far."""
    import os
    from pathlib import Path

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
