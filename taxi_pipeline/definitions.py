"""The pipeline's code location: the definitions in `defs/` and the executor every job
runs on. The dbt models are the second location (`taxi_pipeline.models.definitions`).

`dagster dev` (workspace.yaml: both locations), `dg dev`, the image's gRPC server and
`dagster job execute` all load `defs`, which Dagster calls when it loads the location;
importing this module builds nothing.
"""

from __future__ import annotations

import atexit
import gc
import warnings
from pathlib import Path

from dagster import (
    BetaWarning,
    ComponentTree,
    Definitions,
    PreviewWarning,
    definitions,
    with_source_code_references,
)

from taxi_pipeline.jobs import RUN_EXECUTOR

# Interpreter shutdown runs a last garbage collection over every object still alive: with
# Dagster, dbt and the Google clients loaded that took 1.5 s of a tiny month's 6.2 s run
# (py-spy: `gc_collect_main` after the CLI returned). Frozen objects are skipped by it;
# the process is exiting, so nothing is lost (files and connections are closed by then,
# memory goes back with the process).
atexit.register(gc.freeze)


@definitions
def defs() -> Definitions:
    folder = defs_folder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)  # code references: beta in Dagster 1.13
        assets = with_source_code_references(list(folder.assets or []))
    return Definitions(
        assets=assets,  # each with a link to the code that makes it (the UI's "Code")
        asset_checks=folder.asset_checks,
        jobs=folder.jobs,
        schedules=folder.schedules,
        sensors=folder.sensors,
        resources=folder.resources,
        executor=RUN_EXECUTOR,  # why: jobs.py
    )


def defs_folder() -> Definitions:
    """What `load_from_defs_folder` loads, without the component library's listing it adds:
    that listing imports every installed integration with components (dagster-dbt and so
    dbt-core, dagster-gcp and the Google clients: 1.4 s of a run's start-up here) for a
    catalogue only `dg`'s scaffolding uses; this project declares no YAML components."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PreviewWarning)  # Dagster's own loaders, inside the tree
        return ComponentTree.for_project(path_within_project=Path(__file__).parent).build_defs_at_path(".")
