"""The code location: the definitions in `defs/` and the executor every job runs on.

`dagster dev -m taxi_pipeline.definitions`, `dg dev`, the image's gRPC server and
`dagster job execute` all load `defs`, which Dagster calls when it loads the location;
importing this module builds nothing.
"""

from __future__ import annotations

import atexit
import gc
from pathlib import Path

from dagster import Definitions, definitions, load_from_defs_folder

from taxi_pipeline.jobs import RUN_EXECUTOR

# Interpreter shutdown runs a last garbage collection over every object still alive: with
# Dagster, dbt and the Google clients loaded that took 1.5 s of a tiny month's 6.2 s run
# (py-spy: `gc_collect_main` after the CLI returned). Frozen objects are skipped by it;
# the process is exiting, so nothing is lost (files and connections are closed by then,
# memory goes back with the process).
atexit.register(gc.freeze)


@definitions
def defs() -> Definitions:
    return Definitions.merge(
        load_from_defs_folder(path_within_project=Path(__file__).parent),
        Definitions(executor=RUN_EXECUTOR),  # why: jobs.py
    )
