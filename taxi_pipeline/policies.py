"""Retry, backfill and concurrency policies shared by the assets, chosen on purpose.

- Retries: transient failures (a dropped connection, HTTP 5xx, a database or warehouse
  hiccup) are retried with exponential backoff and jitter. Permanent ones (a 404, a
  corrupt file, bad data) raise `Failure(allow_retries=False)` and fail at once.
- Backfills: several months per run (`backfill_policy`), as many of the service's recent
  months as make about `ROWS_PER_RUN` rows, 1 to 12: a run's start-up (~4 s) is paid
  once for them, while each month is still loaded, committed, reported and failed on its
  own (`assets/month_range.py`). Sensors, schedules and automation request one month per
  run. Asset backfills follow the policy (the UI, GraphQL, `python -m
  taxi_pipeline.backfills`); `dagster job backfill` makes a job backfill, one run per
  month. `dg launch --partition-range` needs single-run assets and is not available.
- Concurrency: the steps that touch a shared system share a pool (POOL_LIMITS), so a
  backfill with 4 runs at once holds by construction, not by luck: the DuckDB file (one
  writer per file: DuckDB's own rule, so its pool is 1, the months' steps and dbt's
  models alike), Postgres COPY (one server: two COPYs keep it busy without thrashing),
  BigQuery load jobs (quotas are per table and project: 1,500 loads per table per day,
  and a month is one job). dagster.yaml's
  `default_limit` covers a pool nobody sized; `python -m taxi_pipeline.pools` writes
  these limits into the instance (the Dagster OSS way: `dagster instance concurrency set`).
"""

import warnings

from dagster import BackfillPolicy, Backoff, BetaWarning, Failure, Jitter, RetryPolicy

from taxi_pipeline import pool_waits
from taxi_pipeline.services import TaxiService

pool_waits.install()  # a run waiting for a pool slot sleeps, and notices a freed slot within 1 s

# `backfill_policy` on @asset is beta in Dagster 1.13; we depend on it knowingly.
warnings.filterwarnings("ignore", category=BetaWarning, message="Parameter `backfill_policy`")

TRANSIENT_RETRY = RetryPolicy(max_retries=4, delay=1, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS)
ROWS_PER_RUN = 48_000_000
"""About two large fhvhv months, two minutes of work here: a run's months add up to about
this many rows at their recent size, so a run of small months amortises its start-up
(4-5 s of CPU) and a large month waits behind one other at most (fhvhv: two per run)."""
MAX_MONTHS_PER_RUN = 12


def months_per_run(service: TaxiService) -> int:
    """yellow 12, green 12, fhv 12, fhvhv 2 (the registry's `recent_month_rows`)."""
    return max(1, min(MAX_MONTHS_PER_RUN, ROWS_PER_RUN // max(service.recent_month_rows, 1)))


def backfill_policy(service: TaxiService) -> BackfillPolicy:
    return BackfillPolicy.multi_run(max_partitions_per_run=months_per_run(service))

DUCKDB_POOL = "duckdb_warehouse"
POSTGRES_POOL = "postgres_copy"
BIGQUERY_POOL = "bigquery_loads"
WAREHOUSE_POOLS = {"duckdb": DUCKDB_POOL, "bigquery": BIGQUERY_POOL}
"""The pool of a step that writes the warehouse (the dbt models), by the warehouse's kind."""
MONTH_POOLS = {"duckdb": DUCKDB_POOL, "bigquery": POSTGRES_POOL}
"""The pool of a service-month's step (`assets/month_step.py`), which downloads, writes the
lake and loads both databases in one pass: a step has one pool, so it takes the scarcest
system it writes. Locally the DuckDB file (one writer), on GCP the one Postgres server
(BigQuery's load quotas allow more months at once than one server's COPYs)."""
POOL_LIMITS = {DUCKDB_POOL: 1, POSTGRES_POOL: 2, BIGQUERY_POOL: 4}


def permanent(error: Exception) -> Failure:
    """A failure that retrying cannot fix: fail the step now, with the error's message."""
    return Failure(description=str(error), allow_retries=False)
