"""Schedules, the source sensor, retries and failure alerts, each against real parts:
a local HTTP source (steady, flaky or changing), an alert receiver, a real instance."""

import functools
import gzip
import json
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from dagster import (
    DagsterEventType,
    DagsterInstance,
    Definitions,
    SkipReason,
    build_run_status_sensor_context,
    build_schedule_context,
    build_sensor_context,
    materialize,
)

from taxi_pipeline.assets import all_assets
from taxi_pipeline.assets.trips import trip_asset_keys
from taxi_pipeline.checks import all_checks
from taxi_pipeline.colors import COLORS
from taxi_pipeline.jobs import all_jobs
from taxi_pipeline.resources.alerts import AlertWebhookResource
from taxi_pipeline.resources.source import TaxiSourceResource
from taxi_pipeline.schedules import color_schedules
from taxi_pipeline.sensors import alert_on_run_failure, tlc_source_sensor

from .conftest import _QuietHandler


@pytest.mark.parametrize("schedule", color_schedules, ids=[s.name for s in color_schedules])
def test_a_monthly_schedule_requests_the_month_that_just_ended(schedule):
    color = COLORS[schedule.name.split("_")[0]]
    assert schedule.cron_schedule == f"0 {color.schedule_hour} 1 * *"
    tick = datetime(2021, 3, 1, color.schedule_hour, 0, tzinfo=timezone.utc)

    result = schedule.evaluate_tick(build_schedule_context(scheduled_execution_time=tick))

    [request] = result.run_requests
    assert request.partition_key == "2021-02"
    assert schedule.job_name == f"{color.name}_taxi_job"


def _requested(taxi_env, instance) -> set[tuple[str, str]]:
    context = build_sensor_context(instance=instance, resources={"source": taxi_env.resources["source"]})
    result = tlc_source_sensor(context)
    if isinstance(result, SkipReason):
        return set()
    return {(r.job_name.removesuffix("_taxi_job"), r.partition_key) for r in result}


def _load_raw(taxi_env, instance, color: str, month: str) -> None:
    result = materialize(all_assets, selection=[trip_asset_keys(COLORS[color]).raw],
                         partition_key=month, resources=taxi_env.resources, instance=instance)
    assert result.success


def test_the_source_sensor_requests_exactly_new_and_changed_months(taxi_env):
    mirror = taxi_env.mirror
    kept = {mirror.path("yellow", "2020-01"), mirror.path("yellow", "2021-01")}
    green = mirror.path("green", "2019-01").read_bytes()
    for path in mirror.root.glob("*/*.csv.gz"):
        if path not in kept:
            path.unlink()
    instance = DagsterInstance.ephemeral()

    assert _requested(taxi_env, instance) == {("yellow", "2020-01"), ("yellow", "2021-01")}
    for month in ("2020-01", "2021-01"):
        _load_raw(taxi_env, instance, "yellow", month)
    assert _requested(taxi_env, instance) == set()  # nothing changed: nothing to download

    mirror.put("green", "2019-01", green)  # a new month appears
    text = gzip.decompress(mirror.path("yellow", "2020-01").read_bytes())
    mirror.put("yellow", "2020-01", gzip.compress(text + text.splitlines(keepends=True)[-1]))  # a changed file
    assert _requested(taxi_env, instance) == {("green", "2019-01"), ("yellow", "2020-01")}


class _Flaky:
    """A source that answers 503 to the first `failures` GETs, then serves files."""

    def __init__(self, root, failures: int):
        self.failures = failures
        self.gets = 0
        flaky = self

        class Handler(_QuietHandler):
            def do_GET(self):
                flaky.gets += 1
                if flaky.gets <= flaky.failures:
                    self.send_error(503, "try again")
                    return
                super().do_GET()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=root))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"


def _retries(result) -> int:
    return sum(1 for e in result.all_events if e.event_type == DagsterEventType.STEP_UP_FOR_RETRY)


def test_a_transient_failure_succeeds_through_retries(taxi_env):
    flaky = _Flaky(taxi_env.mirror.root, failures=2)
    taxi_env.resources["source"] = TaxiSourceResource(base_url=flaky.url)
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


class _Receiver:
    """A local HTTP endpoint that records what is posted to it."""

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

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"


def test_a_failed_run_alert_reaches_the_webhook_with_job_and_partition(taxi_env):
    instance = DagsterInstance.ephemeral()
    defs = Definitions(assets=all_assets, asset_checks=all_checks, jobs=all_jobs, resources=taxi_env.resources)
    failed = defs.resolve_job_def("green_taxi_job").execute_in_process(
        partition_key="2021-07", instance=instance, raise_on_error=False
    )
    assert not failed.success
    receiver = _Receiver()
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
    assert "green_tripdata_2021-07.csv.gz (HTTP 404)" in post["text"]
    assert f"run: http://dagster.example:3000/runs/{failed.run_id}" in post["text"]
