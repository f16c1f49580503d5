"""Scratch files that an asset fills and hands to the lake IO manager."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


def scratch_path(suffix: str) -> Path:
    """A fresh, empty temp file of ours."""
    fd, name = tempfile.mkstemp(prefix="taxi_pipeline_", suffix=suffix)
    os.close(fd)
    return Path(name)


@contextlib.contextmanager
def scratch_file(suffix: str, existing: Path | None = None) -> Iterator[Path]:
    """A fresh temp file (or `existing`, one filled before: a prefetched download);
    removed if the step fails, moved into the lake if it succeeds."""
    path = existing or scratch_path(suffix)
    try:
        yield path
    except BaseException:
        path.unlink(missing_ok=True)
        raise
