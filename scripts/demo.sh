#!/usr/bin/env bash
# Install, then run the pipeline end to end on the embedded default against the bundled
# sample mirror (no network), from the file to the picture:
#   the zone lookup and shapes; yellow and green MONTH from the course's csv.gz mirror
#   (TAXI_SOURCE=course); fhvhv 2025-01 from the official-layout Parquet files
#   (TAXI_SOURCE=tlc); the dbt models over MONTH (fact_trips, the revenue mart); the
#   dashboards. Prints the rows in every target, the mart's top zones by revenue and
#   where the dashboard page is.
#   bash scripts/demo.sh [MONTH]       default: 2020-01 (the mirror has 2019-01..2020-06)
set -euo pipefail
cd "$(dirname "$0")/.."
MONTH=${1:-2020-01}
bash scripts/install.sh
export DAGSTER_HOME="$PWD"
MIRROR="file://$PWD/taxi_pipeline/sample_mirror"
export TAXI_SOURCE_URL="${TAXI_SOURCE_URL:-$MIRROR}" TAXI_TLC_URL="${TAXI_TLC_URL:-$MIRROR}"
PIPELINE=(.venv/bin/dagster job execute -m taxi_pipeline.definitions)
MODELS=(.venv/bin/dagster job execute -m taxi_pipeline.models.definitions)
month_tag="{\"dagster/partition\": \"$MONTH\"}"

export TAXI_SOURCE=course
"${PIPELINE[@]}" -j taxi_zones_job
for job in yellow_taxi_job green_taxi_job; do
    "${PIPELINE[@]}" -j "$job" --tags "$month_tag"
done
course_report=$(.venv/bin/python -m taxi_pipeline.report --month "$MONTH" --service yellow --service green --check)

export TAXI_SOURCE=tlc
"${PIPELINE[@]}" -j fhvhv_taxi_job --tags '{"dagster/partition": "2025-01"}'

# The models over the month, then the marts and the dashboards (the models' location).
"${MODELS[@]}" -j trip_models_job --tags "$month_tag"
"${MODELS[@]}" -j models_job
"${MODELS[@]}" -j dashboard_job

echo
echo "$course_report"
.venv/bin/python -m taxi_pipeline.report --month 2025-01 --job fhvhv_taxi_job --check --top-zones 5
