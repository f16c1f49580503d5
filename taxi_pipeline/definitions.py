"""The code location: the definitions in `defs/` and the executor every job runs on.

`dagster dev -m taxi_pipeline.definitions`, `dg dev`, the image's gRPC server and
`dagster job execute` all load `defs`, which Dagster calls when it loads the location;
importing this module builds nothing.
"""

from __future__ import annotations

from pathlib import Path

from dagster import Definitions, definitions, load_from_defs_folder

from taxi_pipeline.jobs import RUN_EXECUTOR


@definitions
def defs() -> Definitions:
    return Definitions.merge(
        load_from_defs_folder(path_within_project=Path(__file__).parent),
        Definitions(executor=RUN_EXECUTOR),  # why: jobs.py
    )
