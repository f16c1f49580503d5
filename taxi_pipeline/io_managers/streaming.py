"""A month's rows loaded into a target on a thread of its own, while the run still reads them.

The month's step validates and casts its file batch by batch; each target the month goes
to gets every batch through a `MonthLoad`: a bounded queue and a thread that streams the
batches into an open transaction (Postgres COPY, DuckDB's insert). The loads run beside
the validation pass and beside each other - on 2 cores the Postgres server ingests while
this process parses - and nothing is committed until the whole file validated and the
step hands the load to its IO manager, which commits it. A failed validation aborts the
loads (rolled back); a killed run drops its connections, so the server rolls back.

The queue holds a few batches: memory stays that of a batch or two whatever the month,
and a target slower than the parse holds the parse back rather than filling memory.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from taxi_pipeline.cpu import yield_cpu
from taxi_pipeline.policies import permanent

QUEUE_BATCHES = 4

_END = object()
_ABORT = object()


class LoadAborted(Exception):
    """The step stopped feeding the load (bad input, a failed check, another target's error)."""


class MonthLoad:
    """Batches in, one transaction out. Subclasses implement `_load` (stream the batches,
    leave the transaction open, return stats), `_commit` and `_rollback`."""

    target = "a target"
    permanent_errors: tuple[type[Exception], ...] = ()
    """Errors retrying cannot fix (bad data, a table in the way): they fail the step at once."""
    yields_cpu = False
    """The load's thread yields the CPU to the database server (`taxi_pipeline/cpu.py`)."""

    def __init__(self) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_BATCHES)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name=f"load into {self.target}", daemon=True)
        self._finished = False
        self._closed = False
        self.stats: Any = None
        self.stopping = threading.Event()
        """Set when the step aborts the load: a thread waiting (for a lock, say) gives up."""
        self.timeline: dict[str, float] = {}
        """When the load started, had every row in its transaction, and committed (epoch s)."""

    def start(self) -> MonthLoad:
        self.timeline["started"] = time.time()
        self._thread.start()
        return self

    def _work(self) -> None:
        if self.yields_cpu:
            yield_cpu()
        try:
            self.stats = self._load(self._batches())
            self.timeline["streamed"] = time.time()
        except self.permanent_errors as err:
            self._error = permanent(err)
        except BaseException as err:  # handed to the step at its next write or finish
            self._error = err

    def _batches(self) -> Iterator[pa.RecordBatch]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if item is _ABORT:
                raise LoadAborted(f"the load into {self.target} was stopped")
            yield item

    def _put(self, item) -> None:
        while True:
            self._raise_if_failed()
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, batch: pa.RecordBatch) -> None:
        """Hand a batch to the load; waits while the queue is full; raises the load's error."""
        self._put(batch)

    def finish(self):
        """No more batches: wait until they are all in the open transaction; its stats."""
        if not self._finished:
            self._put(_END)
            while self._thread.is_alive():
                self._thread.join(0.2)
            self._finished = True
        self._raise_if_failed()
        return self.stats

    def commit(self):
        """Finish and commit; the stats."""
        stats = self.finish()
        try:
            self._commit()
            self.timeline["committed"] = time.time()
        except BaseException:
            with contextlib.suppress(Exception):  # close what is left; the commit's error counts
                self._rollback()
            raise
        finally:
            self._closed = True
        return stats

    def abort(self) -> None:
        """Stop the load and roll back whatever it streamed. Safe to call more than once."""
        if self._closed:
            return
        self.stopping.set()
        waited = 0
        while self._thread.is_alive():
            if waited == 5:  # a statement still running (a lock wait, a long insert): cancel it
                self._interrupt()
            waited += 1
            try:  # make room, then tell the thread to stop at its next batch
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_ABORT)
            self._thread.join(0.2)
        self._closed = True
        with contextlib.suppress(Exception):  # the error that stopped the step is the one to see
            self._rollback()

    def _load(self, batches: Iterator[pa.RecordBatch]):
        raise NotImplementedError

    def _commit(self) -> None:
        raise NotImplementedError

    def _rollback(self) -> None:
        raise NotImplementedError

    def _interrupt(self) -> None:
        """Cancel the statement the thread is in, from another thread."""
