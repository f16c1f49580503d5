"""The source sensor, retries and failure alerts, each against real parts:
a local HTTP source (steady, flaky or changing), an alert receiver, a real instance."""

import functools
import gzip

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    Definitions,
    build_run_status_sensor_context,
    build_sensor_context,
    materialize,
)

from taxi_pipeline.assets.keys import trip_asset_keys
from taxi_pipeline.automation import LoadWindow
from taxi_pipeline.defs.sensors import failure_alert_sensor, source_sensor
from taxi_pipeline.resources.alerts import AlertWebhookResource
from taxi_pipeline.resources.source import TaxiSourceResource
from taxi_pipeline.services import SERVICES
from taxi_pipeline_tests.definitions import assets_for, pipeline

from .conftest import AlertReceiver, _QuietHandler, serve_http

# A window over all history: these tests are about what changed, not the window (test_automation).
tlc_source_sensor = source_sensor(LoadWindow(since="2009-01"))
alert_on_run_failure = failure_alert_sensor()



@pytest.fixture
def instance(tmp_path):
    """A real instance on disk (schedule contexts need its ref); sensors and schedules read
    materializations from it. (`instance_for_test` leaves global state that breaks later
    `materialize` calls in the same session.)"""
    (tmp_path / "dagster_home").mkdir()
    test_instance = DagsterInstance.local_temp(str(tmp_path / "dagster_home"))
    yield test_instance
    test_instance.dispose()


def _requested(taxi_env, instance, cursor=None) -> tuple[set[tuple[str, str]], str]:
    with build_sensor_context(instance=instance, cursor=cursor,
                              resources={"source": taxi_env.resources["source"]}) as context:
        result = tlc_source_sensor(context)
    # The months only: the zone lookup's request (never loaded here) is test_automation's.
    months = {(r.job_name.removesuffix("_taxi_job"), r.partition_key) for r in result.run_requests
              if r.job_name != "taxi_zones_job"}
    return months, result.cursor


def _load_raw(taxi_env, instance, service: str, month: str) -> None:
    result = materialize(assets_for(taxi_env.source), selection=[trip_asset_keys(SERVICES[service]).raw],
                         partition_key=month, resources=taxi_env.resources, instance=instance)
    assert result.success


@pytest.mark.slow  # materializes months between ticks
def test_the_source_sensor_requests_exactly_new_and_changed_months(taxi_env, instance):
    mirror = taxi_env.mirror
    kept = {mirror.path("yellow", "2020-01"), mirror.path("yellow", "2021-01")}
    green = mirror.path("green", "2019-01").read_bytes()
    for path in mirror.root.glob("*/*.csv.gz"):
        if path not in kept:
            path.unlink()

    assert _requested(taxi_env, instance)[0] == {("yellow", "2020-01"), ("yellow", "2021-01")}
    for month in ("2020-01", "2021-01"):
        _load_raw(taxi_env, instance, "yellow", month)
    assert _requested(taxi_env, instance)[0] == set()  # nothing changed: nothing to download

    mirror.put("green", "2019-01", green)  # a new month appears
    text = gzip.decompress(mirror.path("yellow", "2020-01").read_bytes())
    mirror.put(
        "yellow", "2020-01", gzip.compress(text + text.splitlines(keepends=True)[-1])
    )  # a changed file
    assert _requested(taxi_env, instance)[0] == {("green", "2019-01"), ("yellow", "2020-01")}


class _Refusing:
    """A source that answers `method` requests with `status` the first `refusals` times,
    then serves files (a busy CDN, a flaky link, or a CDN that denies everything)."""

    def __init__(self, root, method: str, status: int, refusals: int):
        self.method, self.status, self.refusals, self.requests = method, status, refusals, 0
        outer = self

        class Handler(_QuietHandler):
            def do_GET(self):
                self._refuse_or("GET", super().do_GET)

            def do_HEAD(self):
                self._refuse_or("HEAD", super().do_HEAD)

            def _refuse_or(self, method, serve):
                if method == outer.method:
                    outer.requests += 1
                    if outer.requests <= outer.refusals:
                        self.send_error(outer.status, "refused")
                        return
                serve()
        self.server = serve_http(functools.partial(Handler, directory=root))
        self.url = f"http://127.0.0.1:{self.server.server_port}"


def test_a_busy_cdn_is_asked_again_with_backoff_and_a_missing_month_is_403(tlc_env):
    from taxi_pipeline.resources.source import TransientSourceError

    busy = _Refusing(tlc_env.mirror.root, "HEAD", 429, refusals=2)
    try:
        source = TaxiSourceResource(source="tlc", base_url=busy.url, backoff_seconds=0.01)
        assert source.month_version(SERVICES["fhvhv"], "2025-01").startswith("tlc:")
        assert busy.requests == 3
        busy.refusals, busy.requests = 100, 0
        with pytest.raises(TransientSourceError, match="stayed busy .HTTP 429. after 4 attempts"):
            source.version("trip-data/fhvhv_tripdata_2025-01.parquet")
        busy.status, busy.requests = 403, 0  # how the CDN answers for a month it has not published
        assert source.month_version(SERVICES["fhvhv"], "2025-01") is None
        assert busy.requests == 1  # "not published" is an answer: asked once, no backoff
    finally:
        busy.server.shutdown()


def _retries(result) -> int:
    return sum(1 for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY)


@pytest.mark.slow  # waits out the retry backoff
def test_a_transient_failure_succeeds_through_retries(taxi_env):
    flaky = _Refusing(taxi_env.mirror.root, "GET", 503, refusals=2)
    taxi_env.resources["source"] = TaxiSourceResource(source="course", base_url=flaky.url)
    try:
        result = taxi_env.materialize("yellow", "2021-01")
    finally:
        flaky.server.shutdown()

    assert result.success
    assert _retries(result) == 2
    assert taxi_env.pg_month("yellow", "2021-01") == (22792,)


def test_a_missing_month_fails_without_retries(taxi_env):
    result = taxi_env.materialize("green", "2021-07", raise_on_error=False)

    assert not result.success
    assert _retries(result) == 0
    assert "HTTP 404" in taxi_env.failure_text(result)


def test_a_failed_run_alert_reaches_the_webhook_with_job_and_partition(taxi_env, instance):
    defs = Definitions.merge(pipeline(taxi_env.source), Definitions(resources=taxi_env.resources))
    failed = defs.resolve_job_def("green_taxi_job").execute_in_process(
        partition_key="2021-07", instance=instance, raise_on_error=False
    )
    assert not failed.success
    receiver = AlertReceiver()
    alerts = AlertWebhookResource(url=receiver.url, ui_url="http://dagster.example:3000")
    context = build_run_status_sensor_context(
        sensor_name=alert_on_run_failure.name,
        dagster_instance=instance,
        dagster_run=failed.dagster_run,
        dagster_event=failed.get_run_failure_event(),
        resources={"alerts": alerts},
    ).for_run_failure()
    try:
        alert_on_run_failure(context)
    finally:
        receiver.server.shutdown()

    [post] = receiver.posts
    assert "job: green_taxi_job" in post["text"]
    assert "partition: 2021-07" in post["text"]
    assert "green 2021-07 is not published in the course's csv.gz mirror" in post["text"]
    assert "green_tripdata_2021-07.csv.gz (HTTP 404)" in post["text"]
    assert f"run: http://dagster.example:3000/runs/{failed.run_id}" in post["text"]
