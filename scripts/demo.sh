#!/usr/bin/env bash
# Install, then run months end to end on the embedded default against the bundled sample
# mirror (no network), from both sources, and print the rows in each target:
#   the zone lookup; MONTH of JOB from the course's csv.gz mirror (TAXI_SOURCE=course);
#   fhvhv 2025-01 from the official-layout Parquet files (TAXI_SOURCE=tlc).
#   bash scripts/demo.sh [MONTH] [JOB]       defaults: 2021-01 yellow_taxi_job
set -euo pipefail
cd "$(dirname "$0")/.."
MONTH=${1:-2021-01}
JOB=${2:-yellow_taxi_job}
bash scripts/install.sh
export DAGSTER_HOME="$PWD"
MIRROR="file://$PWD/taxi_pipeline/sample_mirror"
export TAXI_SOURCE_URL="${TAXI_SOURCE_URL:-$MIRROR}" TAXI_TLC_URL="${TAXI_TLC_URL:-$MIRROR}"

export TAXI_SOURCE=course
.venv/bin/dagster job execute -m taxi_pipeline.definitions -j taxi_zones_job
.venv/bin/dagster job execute -m taxi_pipeline.definitions -j "$JOB" --tags "{\"dagster/partition\": \"$MONTH\"}"
.venv/bin/python -m taxi_pipeline.report --month "$MONTH" --job "$JOB" --check

export TAXI_SOURCE=tlc
.venv/bin/dagster job execute -m taxi_pipeline.definitions -j fhvhv_taxi_job --tags '{"dagster/partition": "2025-01"}'
.venv/bin/python -m taxi_pipeline.report --month 2025-01 --job fhvhv_taxi_job --check
