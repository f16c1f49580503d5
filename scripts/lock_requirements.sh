#!/usr/bin/env bash
# Regenerate deploy/requirements.lock: resolve `.[deploy]` in a throwaway Python 3.11 venv
# and freeze it, so the image installs exactly what was tested.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(mktemp -d)/venv
trap 'rm -rf "$(dirname "$venv")"' EXIT
python3.11 -m venv "$venv"
"$venv/bin/pip" install -q '.[deploy]' 2>&1 | grep -v "WARNING: Location" || true
{
    echo "# Pinned runtime dependencies of the taxi_pipeline image (Python 3.11, linux x86_64)."
    echo "# Regenerate with: bash scripts/lock_requirements.sh"
    "$venv/bin/pip" freeze --exclude taxi_pipeline | grep -v '^-e'
    # The image builds the project without build isolation (no index needed for that layer).
    "$venv/bin/pip" install -q 'setuptools>=68' 2>&1 | grep -v "WARNING: Location" || true
    "$venv/bin/pip" freeze --all | grep '^setuptools=='
} > deploy/requirements.lock
echo "deploy/requirements.lock: $(grep -vc '^#' deploy/requirements.lock) pins"
