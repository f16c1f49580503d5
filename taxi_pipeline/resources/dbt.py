"""dbt on the pipeline's own warehouse, through dagster-dbt's DbtCliResource.

The dbt profile (`taxi_pipeline/dbt_project/profiles.yml`) reads only TAXI_DBT_*
variables; this resource sets them from the pipeline's settings for the dbt process
alone, so the models build where the trip tables are without a hand-edited profile:
DuckDB's file and schema locally, the project, dataset and location on BigQuery.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
DBT_EXECUTABLE = shutil.which("dbt") or str(Path(sys.executable).with_name("dbt"))
"""dbt on PATH, else the one installed beside this Python (a venv used without activating it)."""


@contextlib.contextmanager
def dbt_on_path() -> Iterator[None]:
    """For dagster-dbt code that looks dbt up on PATH itself (its project preparer)."""
    with _environ({"PATH": os.pathsep.join([str(Path(DBT_EXECUTABLE).parent), os.environ.get("PATH", "")])}):
        yield


def _subprocess_dbt(**fields):
    """dagster-dbt's DbtCliResource, running dbt in its own process only. It also loads the
    target's adapter in this process (for its row-count helper, unused here: the assets count
    rows themselves once dbt has exited); dbt-bigquery is not installed beside the pipeline,
    so that failed with a traceback in every gcp run's log. Overrides a private method of
    dagster-dbt 0.29.27. Imported here, when a model runs: dagster-dbt imports dbt-core
    (1.1 s, 81 MB), which the pipeline's location (this resource is one of its resources)
    never needs."""
    from dagster_dbt import DbtCliResource

    class SubprocessDbt(DbtCliResource):
        def _initialize_dbt_core_adapter(self, args):
            return None

    return SubprocessDbt(**fields)


class TaxiDbtResource(ConfigurableResource):
    """Runs `dbt` in the shipped project against `target` (duckdb or bigquery)."""

    target: str = Field(default="duckdb", description="duckdb (local) or bigquery (gcp)")
    database: str = Field(default="", description="DuckDB: the warehouse file; BigQuery: the project")
    source_database: str = Field(description="the trip tables' catalog: DuckDB file's stem, or the project")
    source_schema: str = Field(description="the trip tables' schema (TAXI_WAREHOUSE_SCHEMA, BQ_DATASET)")
    models_schema: str = Field(default="taxi_models", description="TAXI_MODELS_SCHEMA")
    location: str | None = Field(default=None, description="BigQuery location (BQ_LOCATION)")
    credentials: str | None = Field(default=None, description="GCP_CREDENTIALS: a key file or its JSON")
    executable: str = Field(
        default=DBT_EXECUTABLE,
        description="TAXI_DBT_EXECUTABLE: the dbt to run, e.g. one in its own venv with dbt-bigquery",
    )
    project_dir: str = str(DBT_PROJECT_DIR)

    def stream(self, args: Sequence[str], *, context) -> Iterator:
        """`dbt <args>` for an asset's step, its results streamed as Dagster events; the
        profile's variables are set for the dbt process only."""
        dbt = _subprocess_dbt(
            project_dir=self.project_dir, profiles_dir=self.project_dir, target=self.target,
            dbt_executable=self.executable,
        )
        # dbt's artifacts (run results, logs, a manifest copy) of this call only, removed after
        # it: one folder per run under the package would grow without end.
        with (
            self.profile_environment() as variables,
            tempfile.TemporaryDirectory(prefix="taxi_dbt_") as artifacts,
        ):
            with _environ(variables):  # DbtCliResource starts dbt in cli(), with a copy of os.environ
                invocation = dbt.cli(
                    list(args), context=context, target_path=Path(artifacts)
                )
            yield from invocation.stream()

    @contextlib.contextmanager
    def profile_environment(self) -> Iterator[dict[str, str]]:
        """The TAXI_DBT_* variables profiles.yml reads, valid for the length of the block."""
        variables = {
            "TAXI_DBT_TARGET": self.target,
            "TAXI_DBT_SCHEMA": self.models_schema,
            "TAXI_DBT_SOURCE_DATABASE": self.source_database,
            "TAXI_DBT_SOURCE_SCHEMA": self.source_schema,
        }
        if self.target == "duckdb":
            variables["TAXI_DBT_DUCKDB_PATH"] = self.database
            yield variables
            return
        variables.update(TAXI_DBT_DATABASE=self.database, TAXI_DBT_BQ_LOCATION=self.location or "US")
        if not self.credentials and os.environ.get("BIGQUERY_EMULATOR_HOST"):
            # dbt's BigQuery client goes to the emulator by itself; ADC would first try to
            # fetch a token from Google, so it is given a placeholder one.
            yield {**variables, "TAXI_DBT_BQ_METHOD": "oauth-secrets", "TAXI_DBT_BQ_TOKEN": "emulator"}
            return
        if not self.credentials:  # application-default credentials
            yield {**variables, "TAXI_DBT_BQ_METHOD": "oauth"}
            return
        if not self.credentials.lstrip().startswith("{"):
            keyfile = self.credentials
            yield {**variables, "TAXI_DBT_BQ_METHOD": "service-account", "TAXI_DBT_BQ_KEYFILE": keyfile}
            return
        # The key's JSON itself: a private file for the length of the dbt call, never logged.
        with tempfile.TemporaryDirectory(prefix="taxi_dbt_key_") as folder:
            keyfile = Path(folder) / "key.json"
            keyfile.touch(mode=0o600)
            keyfile.write_text(self.credentials)
            yield {**variables, "TAXI_DBT_BQ_METHOD": "service-account", "TAXI_DBT_BQ_KEYFILE": str(keyfile)}


@contextlib.contextmanager
def _environ(variables: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
