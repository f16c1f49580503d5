"""Scratch files that an asset fills and hands to the lake IO manager."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def scratch_file(suffix: str) -> Iterator[Path]:
    """A fresh temp file; removed if the step fails, moved into the lake if it succeeds."""
    fd, name = tempfile.mkstemp(prefix="taxi_pipeline_", suffix=suffix)
    os.close(fd)
    path = Path(name)
    try:
        yield path
    except BaseException:
        path.unlink(missing_ok=True)
        raise


PREPARED_DIR = Path(tempfile.gettempdir()) / "taxi_pipeline_prepared"
PREPARED_MAX_AGE_S = 24 * 3600


def fingerprint(path: Path) -> str:
    """The file's size and its first and last MiB, hashed: tells one file from another at
    no cost (a Parquet footer holds every page's offsets and statistics, a gzip trailer
    the CRC32 of all the data), where a full hash of a 500 MB month takes seconds."""
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        digest.update(f.read(1 << 20))
        f.seek(max(0, size - (1 << 20)))
        digest.update(f.read())
    return digest.hexdigest()[:32]


class PreparedClean:
    """The clean parquet the raw step wrote while validating its file, for the clean step of
    the same run: a month is parsed once, not twice (the raw step must read it all to keep
    bad input out of the lake). Keyed by run and by the raw file's fingerprint, so another
    run, or a raw file that changed, finds nothing and the clean step parses as before."""

    def __init__(self, name: str, run_id: str):
        self.name, self.run_id = name, run_id

    def _paths(self, raw: Path) -> tuple[Path, Path]:
        stem = f"{self.name}.{self.run_id}.{fingerprint(raw)}"
        return PREPARED_DIR / f"{stem}.parquet", PREPARED_DIR / f"{stem}.json"

    @contextlib.contextmanager
    def writing(self, raw: Path, keep: bool = True) -> Iterator[tuple[Path, Path]]:
        """(parquet, json) to fill; removed unless the block succeeds (or when not `keep`:
        no clean step in this run to take them). Older ones of this name (other runs) and
        any a day old go first."""
        PREPARED_DIR.mkdir(exist_ok=True)
        now = time.time()
        for old in PREPARED_DIR.iterdir():
            with contextlib.suppress(FileNotFoundError):  # another run's step got there first
                if old.name.startswith(f"{self.name}.") or now - old.stat().st_mtime > PREPARED_MAX_AGE_S:
                    old.unlink()
        paths = self._paths(raw)
        try:
            yield paths
        finally:
            if not keep or sys.exc_info()[0] is not None:
                for path in paths:
                    path.unlink(missing_ok=True)

    def take(self, raw: Path, dest: Path) -> dict | None:
        """Move the prepared parquet of `raw` to `dest` and return its summary, if there is one."""
        parquet, summary = self._paths(raw)
        try:
            result = json.loads(summary.read_text())
            shutil.move(parquet, dest)
        except FileNotFoundError:  # none, or a later run of the month cleared it: parse
            return None
        summary.unlink(missing_ok=True)
        return result
