#!/usr/bin/env bash
# Set up a fresh virtual environment, then encode and decode an image with every profile and both ciphers.
# Usage: bash tools/demo.sh [IMAGE]   (default: ../shared/images/paper/peppers.png, else a generated image)
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e .
exec .venv/bin/python tools/demo.py "$@"
