"""Where failure alerts go: a Slack incoming webhook or any URL taking Slack's JSON."""

import json
import urllib.request

from dagster import ConfigurableResource, get_dagster_logger
from pydantic import Field


class AlertWebhookResource(ConfigurableResource):
    """`TAXI_ALERT_WEBHOOK_URL` receives `{"text": ...}` posts; unset means log only."""

    url: str | None = Field(default=None, description="TAXI_ALERT_WEBHOOK_URL")
    ui_url: str = Field(default="http://localhost:3000", description="TAXI_UI_URL, for run links")

    def run_link(self, run_id: str) -> str:
        return f"{self.ui_url.rstrip('/')}/runs/{run_id}"

    def send(self, text: str) -> bool:
        """Post `text`; True if a webhook took it, False if none is configured."""
        log = get_dagster_logger()
        if not self.url:
            log.info(f"No TAXI_ALERT_WEBHOOK_URL set; alert not sent:\n{text}")
            return False
        request = urllib.request.Request(
            self.url,
            data=json.dumps({"text": text}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):
            pass
        log.info("Failure alert posted to the webhook")
        return True
