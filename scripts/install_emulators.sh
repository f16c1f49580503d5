#!/usr/bin/env bash
# The GCS and BigQuery emulators for the gcp-mode tests, each in its own venv under
# .emulators/ (bqemulator pins its own duckdb; keep it and google-cloud-bigquery-storage
# out of the project's venv). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
quiet() {  # pip without the noise of this machine's index config; keeps pip's exit code
    local out rc=0
    out=$("$@" 2>&1) || rc=$?
    printf '%s\n' "$out" | grep -vE "^WARNING: Location|^\s*$" || true
    return $rc
}
venv() { [ -x ".emulators/$1/bin/python" ] || python3 -m venv ".emulators/$1"; }

venv gcs
[ -x .emulators/gcs/bin/gcp-storage-emulator ] || quiet .emulators/gcs/bin/pip install -q --disable-pip-version-check "gcp-storage-emulator==2026.7.19"

venv bigquery
if ! .emulators/bigquery/bin/python -c "import bqemulator" 2>/dev/null; then
    quiet .emulators/bigquery/bin/pip install -q --disable-pip-version-check \
        "bqemulator==1.4.0" "duckdb==1.5.5" duckdb-extensions \
        "duckdb-extension-spatial==1.5.5" "duckdb-extension-avro==1.5.5" numpy
    .emulators/bigquery/bin/python -c "from duckdb_extensions import import_extension; import_extension('spatial'); import_extension('avro')"
fi
