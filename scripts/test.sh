#!/usr/bin/env bash
# Install the project and run the whole test suite (real Postgres, real HTTP mirror).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/python -m pytest "$@"
