"""GCP credentials in one resource, used by both the GCS lake and BigQuery.

`GCP_CREDENTIALS` holds a service-account key: a path to the key file, or the key JSON
itself. Unset means application-default credentials (`gcloud auth application-default
login`, `GOOGLE_APPLICATION_CREDENTIALS`, or the metadata server). The emulators are
plain configuration: `STORAGE_EMULATOR_HOST` and `BIGQUERY_EMULATOR_HOST` are read by
the client libraries themselves. The key's contents never reach a log or metadata.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr


class GcpCredentialsError(Exception):
    """GCP_CREDENTIALS cannot be used; raised before any data moves."""


class GcpCredentialsResource(ConfigurableResource):
    """Service-account key (path or JSON) or application-default credentials."""

    credentials: str | None = Field(
        default=None, description="GCP_CREDENTIALS: key file path or key JSON; None for ADC."
    )
    project: str | None = Field(default=None, description="GCP_PROJECT")

    _loaded: Any = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._loaded = load_credentials(self.credentials)

    def google_credentials(self):
        """A google.auth credentials object, or None for application-default credentials."""
        if self._loaded is None and self.credentials:
            self._loaded = load_credentials(self.credentials)
        return self._loaded

    def describe(self) -> str:
        if not self.credentials:
            return "application-default credentials"
        if self.credentials.lstrip().startswith("{"):
            return "a service-account key given inline"
        return f"the service-account key file {self.credentials}"

    def storage_client(self):
        from google.cloud import storage

        return storage.Client(project=self.project, credentials=self.google_credentials())

    def bigquery_client(self, location: str | None = None):
        from google.cloud import bigquery

        credentials = self.google_credentials()
        if credentials is None and os.environ.get("BIGQUERY_EMULATOR_HOST"):
            # As google-cloud-storage does for STORAGE_EMULATOR_HOST: an emulator takes
            # anonymous requests (ADC would try to refresh a token from Google first).
            from google.auth.credentials import AnonymousCredentials

            credentials = AnonymousCredentials()
        return bigquery.Client(project=self.project, credentials=credentials, location=location)


def load_credentials(value: str | None):
    """Parse GCP_CREDENTIALS; errors say what is wrong without echoing the key."""
    if not value:
        return None
    from google.oauth2 import service_account

    scopes = ["https://www.googleapis.com/auth/cloud-platform"]
    if value.lstrip().startswith("{"):
        try:
            info = json.loads(value)
            return service_account.Credentials.from_service_account_info(info, scopes=scopes)
        except (ValueError, KeyError) as err:
            raise GcpCredentialsError(
                f"GCP_CREDENTIALS holds JSON that is not a service-account key ({type(err).__name__})."
            ) from None
    path = Path(value).expanduser()
    if not path.is_file():
        raise GcpCredentialsError(
            f"GCP_CREDENTIALS points at {path}, which is not a file. Set it to a service-account "
            "key file (or the key JSON), or unset it to use application-default credentials."
        )
    try:
        return service_account.Credentials.from_service_account_file(str(path), scopes=scopes)
    except (ValueError, KeyError) as err:
        raise GcpCredentialsError(
            f"GCP_CREDENTIALS file {path} is not a service-account key ({type(err).__name__})."
        ) from None
