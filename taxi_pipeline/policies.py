"""Retry, backfill and concurrency policies shared by the assets, chosen on purpose.

- Retries: transient failures (a dropped connection, HTTP 5xx, a database or warehouse
  hiccup) are retried with exponential backoff and jitter. Permanent ones (a 404, a
  corrupt file, bad data) raise `Failure(allow_retries=False)` and fail at once.
- Backfills: one run per month (`multi_run(1)`). Every IO manager replaces exactly one
  month, a month is the unit a learner re-runs, and a failed month must not hold back
  the others. The price: `dg launch --partition-range` (which needs single-run assets)
  is not available; backfill ranges from the UI, GraphQL or `dagster job backfill`.
- Concurrency: downloads share the `tlc_downloads` pool, limited in dagster.yaml, so a
  31-month, 3-service backfill opens a few connections to the source, not 93.
"""

import warnings

from dagster import BackfillPolicy, Backoff, BetaWarning, Failure, Jitter, RetryPolicy

# `backfill_policy` on @asset is beta in Dagster 1.13; we depend on it knowingly.
warnings.filterwarnings("ignore", category=BetaWarning, message="Parameter `backfill_policy`")

TRANSIENT_RETRY = RetryPolicy(max_retries=4, delay=1, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)
ONE_MONTH_PER_RUN = BackfillPolicy.multi_run(max_partitions_per_run=1)
DOWNLOAD_POOL = "tlc_downloads"


def permanent(error: Exception) -> Failure:
    """A failure that retrying cannot fix: fail the step now, with the error's message."""
    return Failure(description=str(error), allow_retries=False)
