"""The data lake: files at documented paths under a root, replaced atomically.

Assets hand over a finished local file; the IO manager puts it at the path template in
the asset's `lake_path` metadata (`{month}` is the partition key). A failed step never
reaches `handle_output`, so a target only ever holds a complete file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dagster import ConfigurableIOManager, InputContext, MetadataValue, OutputContext
from pydantic import Field

LAKE_PATH_KEY = "lake_path"


def lake_path(template: str, context: InputContext | OutputContext) -> str:
    month = context.asset_partition_key if context.has_asset_partitions else None
    return template.format(month=month)


class LocalLakeIOManager(ConfigurableIOManager):
    """The lake on a local folder (the default environment)."""

    root: str = Field(description="Folder that holds the raw/ and clean/ zones.")

    def _target(self, context: InputContext | OutputContext, metadata) -> Path:
        return Path(self.root).resolve() / lake_path(metadata[LAKE_PATH_KEY], context)

    def handle_output(self, context: OutputContext, obj: Path) -> None:
        target = self._target(context, context.definition_metadata)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_name(f".{target.name}.{os.getpid()}.partial")
        shutil.move(obj, staging)
        os.replace(staging, target)
        context.add_output_metadata(
            {
                "path": MetadataValue.path(str(target)),
                "bytes": target.stat().st_size,
            }
        )

    def load_input(self, context: InputContext) -> Path:
        target = self._target(context, context.upstream_output.definition_metadata)
        if not target.exists():
            raise FileNotFoundError(f"{target} is not in the lake: materialize its asset first.")
        return target
