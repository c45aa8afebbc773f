#!/usr/bin/env bash
# Set up a fresh virtual environment from the project's own files and run the whole test suite.
# Usage: bash tools/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test,zarr,dask,imageio]'
exec .venv/bin/python -m pytest -q "$@"
