"""Scratch files that an asset fills and hands to the lake IO manager."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def scratch_file(suffix: str, existing: Path | None = None) -> Iterator[Path]:
    """A fresh temp file (or `existing`, one filled before: a prefetched download);
    removed if the step fails, moved into the lake if it succeeds."""
    if existing is None:
        fd, name = tempfile.mkstemp(prefix="taxi_pipeline_", suffix=suffix)
        os.close(fd)
    path = existing or Path(name)
    try:
        yield path
    except BaseException:
        path.unlink(missing_ok=True)
        raise
