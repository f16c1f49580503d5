"""A run waiting for a pool slot sleeps until its next check, and checks every second.

Two defects of Dagster 1.13's op-level pools (`InstanceConcurrencyContext`), measured on a
backfill through the daemon with the repository's `dagster.yaml` (one DuckDB slot, a run
buffer of 3):

- `interval_to_next_pending_claim_check` returns `min(0, ...)`, never a positive number,
  so the run worker's `sleep_til_ready` never sleeps: a run blocked on a pool spins at a
  full core (py-spy: `get_steps_to_execute` → `sleep_interval` in a loop). Three waiting
  runs beside the one loading took about 60% of a core each on 2 cores, and the loading
  run's events took 0.1-0.2 s each instead of a few ms (upstream tried to fix it in
  dagster-io/dagster#20367; the `min(0, ...)` is still there).
- The claim back-off grows by 1.1x a try up to 15 s, so after a few minutes of waiting a
  freed slot stays free up to 15 s before the next run notices (7-8 s measured).

`install()` (called by `policies`, which every run imports with the definitions) replaces
the first with the intended interval and caps the back-off at `CLAIM_CHECK_SECONDS`: one
small query a second per waiting run, at most the run buffer's 3.
"""

from __future__ import annotations

import time

CLAIM_CHECK_SECONDS = 1.0


def _interval_to_next_pending_claim_check(self) -> float:
    """Seconds until the earliest pending claim is due again (0 when one is due now)."""
    if not self._pending_claims or not self._pending_timeouts:
        return 0.0
    return max(0.0, min(self._pending_timeouts.values()) - time.time())


def install() -> None:
    from dagster._core.execution.plan import instance_concurrency_context as module

    context = module.InstanceConcurrencyContext
    context.interval_to_next_pending_claim_check = _interval_to_next_pending_claim_check
    module.MAX_CONCURRENCY_CLAIM_BLOCKED_INTERVAL = min(
        module.MAX_CONCURRENCY_CLAIM_BLOCKED_INTERVAL, CLAIM_CHECK_SECONDS)
