"""The next month's file of a range, downloading while this month loads.

In a run of several months (`month_range.py`) the months load one after another, and a
month's download (seconds to minutes for a large official file over the network) would
otherwise wait for the month before it to commit. One thread fetches month i+1 into a
scratch file while month i is read and loaded; `month_step` takes that file instead of
downloading. A prefetch that fails is forgotten: the month downloads again in its own
step, so its error (a month not published, a dropped connection and its retry) is raised
and reported where a run of that month alone would raise it.
"""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from dagster import AssetExecutionContext

from taxi_pipeline.assets.scratch import scratch_path
from taxi_pipeline.resources.source import Download
from taxi_pipeline.services import TaxiService


@dataclass(frozen=True)
class Prefetched:
    path: Path
    download: Download
    started: float  # epoch seconds, for the step's timeline


class NextMonthDownload(contextlib.AbstractContextManager):
    def __init__(self, context: AssetExecutionContext, service: TaxiService):
        self._context, self._service = context, service
        self._source = context.resources.source
        self._threads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prefetch")
        self._pending: dict[str, tuple[Path, float, Future]] = {}

    def start(self, month: str) -> None:
        path = scratch_path(self._source.layout.suffix)
        future = self._threads.submit(self._source.download_month, self._service, month, path, False)
        self._pending[month] = (path, time.time(), future)

    def take(self, month: str) -> Prefetched | None:
        """The month's downloaded file (now the caller's), or None: download it yourself."""
        if month not in self._pending:
            return None
        path, started, future = self._pending.pop(month)
        try:
            return Prefetched(path, future.result(), started)
        except Exception as err:  # noqa: BLE001 - the month's own download raises it again
            path.unlink(missing_ok=True)
            self._context.log.warning(f"{self._service.name} {month}: the early download failed "
                                      f"({type(err).__name__}); the month downloads it again")
            return None

    def __exit__(self, *exc) -> None:
        for month in list(self._pending):
            path, _, future = self._pending.pop(month)
            future.cancel()
            with contextlib.suppress(Exception):
                future.result()
            path.unlink(missing_ok=True)
        self._threads.shutdown(wait=True)
