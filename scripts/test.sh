#!/usr/bin/env bash
# Install the project and the GCP emulators, then run the whole test suite (real
# Postgres, a real HTTP mirror, the GCS and BigQuery emulators).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
bash scripts/install_emulators.sh
bash scripts/install_dbt.sh
exec .venv/bin/python -m pytest "$@"
