#!/usr/bin/env bash
# dbt in its own venv (.venv-dbt): the course's dbt versions pin libraries Dagster also
# uses, so they do not share one. dbt-core < 1.11 (2.x downloads a parser at install
# time); DuckDB pinned to the pipeline's own version so both read and write one file
# format. Idempotent. The dbt test (taxi_pipeline_tests/test_dbt.py) runs .venv-dbt/bin/dbt.
set -euo pipefail
cd "$(dirname "$0")/.."
duckdb=$(.venv/bin/python -c "import duckdb; print(duckdb.__version__)")
wanted="dbt-core<1.11 dbt-duckdb dbt-postgres dbt-bigquery duckdb==$duckdb"
stamp=.venv-dbt/.installed
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    [ -x .venv-dbt/bin/python ] || python3 -m venv .venv-dbt
    # shellcheck disable=SC2086
    .venv-dbt/bin/python -m pip install -q --disable-pip-version-check $wanted 2>&1 \
        | grep -vE "^WARNING: Location" || true
    .venv-dbt/bin/dbt --version > /dev/null
    echo "$wanted" > "$stamp"
fi
