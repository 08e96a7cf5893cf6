#!/usr/bin/env bash
# The image's whole install recipe, in one script that the Dockerfile's build stage runs and
# tests/deploy/test_image_recipe.py runs too (so the recipe is exercised without a container
# engine). Usage:  deploy/docker/install.sh PREFIX [SOURCE_DIR]
#
#   1. a venv at PREFIX without pip (nothing in the final image can install packages);
#   2. the runtime dependencies only, from requirements/runtime.txt, every hash checked;
#   3. Wardbook itself as a regular (non-editable) install built from SOURCE_DIR;
#   4. bytecode compiled ahead of time, so a read-only root filesystem never needs to write
#      __pycache__;
#   5. static assets precompressed (.gz beside each text asset, gzip -9 -n: reproducible);
#   6. a smoke check: the installed `wardbook` command answers --help.
set -euo pipefail
PREFIX=${1:?usage: install.sh PREFIX [SOURCE_DIR]}
SOURCE=$(cd "${2:-$(dirname "$0")/../..}" && pwd)
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), "Wardbook needs Python 3.11"'
UV_VERSION=0.13.9

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# uv lives in a throwaway venv: it is a build tool and never reaches PREFIX.
"$PYTHON" -m venv "$WORK/tools"
"$WORK/tools/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION"
UV="$WORK/tools/bin/uv"
export UV_CACHE_DIR=${UV_CACHE_DIR:-$WORK/uv-cache}

"$PYTHON" -m venv --without-pip "$PREFIX"
"$UV" pip sync --python "$PREFIX/bin/python" --require-hashes --compile-bytecode -q \
  "$SOURCE/requirements/runtime.txt"
# Build from a clean copy so no .venv, caches or local databases end up in the wheel.
mkdir "$WORK/src"
(cd "$SOURCE" && tar -cf - pyproject.toml README.md src) | tar -xf - -C "$WORK/src"
find "$WORK/src" -name '__pycache__' -prune -exec rm -rf {} +
"$UV" pip install --python "$PREFIX/bin/python" --no-deps --compile-bytecode -q "$WORK/src"

SITE=$("$PREFIX/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
STATIC="$SITE/wardbook/web/static"
if [ -d "$STATIC" ]; then
  find "$STATIC" -type f \( -name '*.css' -o -name '*.js' -o -name '*.mjs' -o -name '*.svg' \
    -o -name '*.html' -o -name '*.json' -o -name '*.txt' -o -name '*.map' -o -name '*.xml' \) \
    -exec gzip -9 -n -k -f {} +
fi
"$PREFIX/bin/python" -m compileall -q -j 0 "$SITE/wardbook" >/dev/null

"$PREFIX/bin/wardbook" --help >/dev/null
echo "install.sh: Wardbook installed in $PREFIX"
