"""The course's dbt models as assets downstream of the warehouse tables (dagster-dbt).

`fact_trips` is partitioned by month like the trip tables (from yellow's first month,
2009-01): a month's run passes its time window to dbt (`start_month`, `end_month`) and
the incremental model replaces exactly that month (a backfill passes its whole range in
one dbt run). The staging views, `dim_zones` and the marts are unpartitioned: a view is
built once, a mart is an aggregate over the whole fact table. dbt's tests are the assets'
checks. The sources map onto the pipeline's assets through their `meta.dagster.asset_key`
(models/staging/sources.yml), so the lineage runs from the raw file to the mart. Each table
model's materialization carries its row count (and the fact's, its months' rows).
"""

import json
from collections.abc import Iterable, Iterator

from dagster import (
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AssetSpec,
    BackfillPolicy,
    Definitions,
    Output,
    TimeWindowPartitionMapping,
    define_asset_job,
)
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtProject, dbt_assets

from taxi_pipeline.automation import OWNERS, aggregates_upstream, built_when_missing, follows_upstream
from taxi_pipeline.io_managers.dagster_internals import TableMetadataSet
from taxi_pipeline.partitions import monthly_partitions
from taxi_pipeline.policies import DUCKDB_POOL
from taxi_pipeline.resources.dbt import DBT_PROJECT_DIR, TaxiDbtResource, dbt_on_path
from taxi_pipeline.resources.warehouse import WarehouseResource
from taxi_pipeline.services import SERVICES

GROUP = "models"
MONTHLY_MODELS = "fact_trips"
"""The incremental models: replaced a month (or a backfill's range of months) at a time."""
FACT_INPUTS = ("stg_yellow_tripdata", "stg_green_tripdata", "dim_zones")
"""What fact_trips reads: its month's job builds them first (a view is cheap to replace)."""
BUILD_FLAGS = ["--indirect-selection", "buildable"]
"""A test runs with the models it tests once they all exist: fact_trips' relationship to
dim_zones with fact_trips, not when dim_zones alone is built (dbt's default would run it
against a fact table that may not exist yet)."""


class TaxiDbtTranslator(DagsterDbtTranslator):
    """Models are `models/<name>` in the `models` group; sources keep the pipeline's keys
    from their meta (warehouse/yellow_tripdata, ...). Views are built when missing; a table
    model follows its upstream, and depends also on the trip tables its views read, month
    by month: a view is not rebuilt when a month loads, so without that edge nothing would
    tell automation that fact_trips' month (or the for-hire mart) changed. Unpartitioned
    tables (dim_zones, the marts) are rebuilt when an input changes."""

    def get_asset_key(self, dbt_resource_props) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return AssetKey([GROUP, dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props) -> str:
        return GROUP

    def get_owners(self, dbt_resource_props):
        return OWNERS

    def get_tags(self, dbt_resource_props):
        return {**super().get_tags(dbt_resource_props), "layer": GROUP}

    def get_automation_condition(self, dbt_resource_props):
        if dbt_resource_props["resource_type"] != "model":
            return None
        if _is_view(dbt_resource_props):
            return built_when_missing()
        return follows_upstream() if dbt_resource_props["name"] == MONTHLY_MODELS else aggregates_upstream()

    def get_asset_spec(self, manifest, unique_id, project) -> AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = self.get_resource_props(manifest, unique_id)
        if props["resource_type"] != "model" or _is_view(props):
            return spec
        present = {dep.asset_key for dep in spec.deps}
        through_views = [
            AssetDep(self.get_asset_key(self.get_resource_props(manifest, source)),
                     partition_mapping=_same_month() if props["name"] == MONTHLY_MODELS else None)
            for source in _sources_behind_views(manifest, props)
        ]
        return spec.replace_attributes(
            deps=[*spec.deps, *(dep for dep in through_views if dep.asset_key not in present)]
        )


def _is_view(props) -> bool:
    return props.get("config", {}).get("materialized") == "view"


def _sources_behind_views(manifest, props) -> list[str]:
    """The sources a model reads through its parent views (recursively), in order."""
    found = []
    for parent in props.get("depends_on", {}).get("nodes", []):
        node = manifest["nodes"].get(parent)
        if node is not None and node["resource_type"] == "model" and _is_view(node):
            for upstream in node["depends_on"]["nodes"]:
                if upstream.startswith("source."):
                    found.append(upstream)
            found.extend(_sources_behind_views(manifest, node))
    return list(dict.fromkeys(found))


def _same_month() -> TimeWindowPartitionMapping:
    """fact_trips' month reads the same month of each trip table; green's months start in
    2013-08, so an earlier fact month has no green partition to wait for."""
    return TimeWindowPartitionMapping(allow_nonexistent_upstream_partitions=True)


def dbt_project() -> DbtProject:
    """The shipped project; its manifest is made (`dbt deps` + `dbt parse`, no network) when
    it is missing or older than a project file (an edited model), so a change shows at the
    next load. dagster-dbt's prepare_if_dev re-parses at every load under `dg dev`,
    run workers included (8-10 s each here). The image makes it when it is built."""
    project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
    if _manifest_is_stale(project):
        with dbt_on_path():
            project.preparer.prepare(project)
    return project


def _manifest_is_stale(project: DbtProject) -> bool:
    if not project.manifest_path.exists():
        return True
    made = project.manifest_path.stat().st_mtime
    settings = [p for p in DBT_PROJECT_DIR.glob("*.yml") if not p.name.startswith((".", "package-lock"))]
    folders = ("models", "macros", "local_packages")
    code = [p for folder in folders for p in (DBT_PROJECT_DIR / folder).rglob("*")]
    return any(path.stat().st_mtime > made for path in [*settings, *code] if path.is_file())


def _table_models(project: DbtProject) -> dict[str, str]:
    """unique_id -> table name of the models dbt materializes as tables (views are not
    counted: a count would run the view's query)."""
    nodes = json.loads(project.manifest_path.read_text())["nodes"].values()
    return {node["unique_id"]: node["alias"] for node in nodes
            if node["resource_type"] == "model" and node["config"]["materialized"] != "view"}


def _with_row_counts(events: Iterable, *, tables: dict[str, str], dbt: TaxiDbtResource,
                     warehouse: WarehouseResource, months=None) -> Iterator:
    """dbt's events, each table model's Output with its rows (`dagster/row_count`; with
    `months`, also `dagster/partition_row_count`: the months' rows). Counted once dbt has
    exited, which holds DuckDB's file while it runs, so the events are held until then
    (dbt's log streams meanwhile). When dbt fails (a model's error, a failing test), what it
    reported is passed on uncounted and the failure raised after it, so the checks that ran
    still show."""
    held = []
    try:
        held.extend(events)
    except Exception:
        yield from held
        raise
    for event in held:
        unique_id = event.metadata.get("unique_id") if isinstance(event, Output) else None
        table = tables.get(getattr(unique_id, "value", unique_id))
        if table is None:
            yield event
            continue
        counts = {**TableMetadataSet(row_count=warehouse.table_rows(dbt.models_schema, table))}
        if months is not None:
            # Dagster's per-partition row count (the partition grid shows it): the rows of
            # the month the run replaced; a range's run reports the rows of all its months.
            counts.update(TableMetadataSet(
                partition_row_count=warehouse.table_rows(dbt.models_schema, table, months)))
        yield event.with_metadata({**event.metadata, **counts})


def model_definitions(project: DbtProject, warehouse_kind: str = "duckdb") -> Definitions:
    """The models' assets and jobs; on DuckDB their steps share the warehouse file's pool
    (one writer per file) with the warehouse loads."""
    months = monthly_partitions(SERVICES["yellow"])
    pool = DUCKDB_POOL if warehouse_kind == "duckdb" else None
    # Each model links to its SQL file (the UI's "Code"); descriptions and typed columns come
    # from the project's schema.yml, the columns' words from models/docs/columns.md.
    translator = TaxiDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_code_references=True))
    tables = _table_models(project)

    @dbt_assets(
        manifest=project.manifest_path,
        select=MONTHLY_MODELS,
        name="monthly_models",
        partitions_def=months,
        backfill_policy=BackfillPolicy.single_run(),
        dagster_dbt_translator=translator,
        project=project,
        pool=pool,
    )
    def monthly_models(context: AssetExecutionContext, dbt: TaxiDbtResource, warehouse: WarehouseResource):
        window = context.partition_time_window
        month_vars = {"start_month": f"{window.start:%Y-%m-%d}", "end_month": f"{window.end:%Y-%m-%d}"}
        context.log.info(f"dbt: months {month_vars['start_month']} up to {month_vars['end_month']}")
        events = dbt.stream(["build", *BUILD_FLAGS, "--vars", json.dumps(month_vars)], context=context)
        months = (window.start.replace(tzinfo=None), window.end.replace(tzinfo=None))
        yield from _with_row_counts(events, tables=tables, dbt=dbt, warehouse=warehouse, months=months)

    @dbt_assets(
        manifest=project.manifest_path,
        exclude=MONTHLY_MODELS,
        name="models",
        dagster_dbt_translator=translator,
        project=project,
        pool=pool,
    )
    def models(context: AssetExecutionContext, dbt: TaxiDbtResource, warehouse: WarehouseResource):
        events = dbt.stream(["build", *BUILD_FLAGS], context=context)
        yield from _with_row_counts(events, tables=tables, dbt=dbt, warehouse=warehouse)

    return Definitions(
        assets=[monthly_models, models],
        jobs=[
            define_asset_job(
                "trip_models_job",
                selection=AssetSelection.assets(monthly_models) | _models(*FACT_INPUTS),
                partitions_def=months,
                description="One month (or a range) of fact_trips, with the views and dim_zones it "
                "reads (unpartitioned: built once per run); dbt replaces exactly those months.",
            ),
            define_asset_job(
                "models_job",
                selection=_models(*FACT_INPUTS, "dm_monthly_zone_revenue"),
                description="The course's revenue mart over fact_trips (and the views and dims it needs).",
            ),
            define_asset_job(
                "fhv_models_job",
                selection=_models(
                    "stg_fhv_tripdata", "stg_fhvhv_tripdata", "dim_zones", "dm_monthly_fhv_zone_trips"
                ),
                description="The for-hire services' staging views and monthly zone mart.",
            ),
        ],
    )


def _models(*names: str) -> AssetSelection:
    return AssetSelection.assets(*(AssetKey([GROUP, name]) for name in names))
