#!/usr/bin/env bash
# Install, then run one month of every color (and the zone lookup) end to end on the
# embedded default against the bundled sample mirror; print the rows in each target.
#   bash scripts/demo.sh [MONTH] [JOB]       defaults: 2021-01 yellow_taxi_job
set -euo pipefail
cd "$(dirname "$0")/.."
MONTH=${1:-2021-01}
JOB=${2:-yellow_taxi_job}
bash scripts/install.sh
export DAGSTER_HOME="$PWD"
export TAXI_SOURCE_URL="${TAXI_SOURCE_URL:-file://$PWD/taxi_pipeline/sample_mirror}"
.venv/bin/dagster job execute -m taxi_pipeline -j taxi_zones_job
.venv/bin/dagster job execute -m taxi_pipeline -j "$JOB" --tags "{\"dagster/partition\": \"$MONTH\"}"
.venv/bin/python -m taxi_pipeline.report --month "$MONTH" --job "$JOB" --check
