#!/usr/bin/env bash
# The image's whole install recipe, in one script that the Dockerfile's build stage runs and
# tests/deploy/test_image_recipe.py runs too (so the recipe is exercised without a container
# engine). Usage:  deploy/docker/install.sh PREFIX [SOURCE_DIR]
#
#   1. a venv at PREFIX without pip (nothing in the final image can install packages);
#   2. the runtime dependencies only (no dev extra), pinned and hash-checked by requirements/lock.txt;
#   3. Wardbook itself as a regular (non-editable) install built from SOURCE_DIR;
#   4. bytecode compiled ahead of time, so a read-only root filesystem never needs to write
#      __pycache__;
#   5. a check that the packaged static assets load fingerprinted and precompressed
#      (gzip + brotli, wardbook.web.assets);
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
# Runtime dependencies only (no dev extra), at the versions AND hashes of requirements/lock.txt:
# resolve pyproject's runtime closure constrained to the lock, then copy those entries, hashes
# included, out of the lock.
"$UV" pip compile -q "$SOURCE/pyproject.toml" -c "$SOURCE/requirements/lock.txt" \
  --python-version 3.11 --no-header --no-annotate -o "$WORK/runtime.in"
"$PYTHON" - "$SOURCE/requirements/lock.txt" "$WORK/runtime.in" "$WORK/runtime.txt" <<'PY'
import re, sys
lock, wanted, out = sys.argv[1:4]
blocks, current = {}, None
for line in open(lock):
    match = re.match(r"^([A-Za-z0-9_.\-]+)==(\S+)", line)
    if match:
        current = (match[1].lower().replace("_", "-"), match[2])
        blocks[current] = [line]
    elif current and line.startswith("    --hash"):
        blocks[current].append(line)
    else:
        current = None
names = [tuple(l.strip().split("==")) for l in open(wanted) if "==" in l]
missing = [n for n in names if (n[0].lower().replace("_", "-"), n[1]) not in blocks]
if missing:
    sys.exit(f"install.sh: not in requirements/lock.txt at the same version: {missing}")
with open(out, "w") as handle:
    for name, version in names:
        handle.write("".join(blocks[(name.lower().replace("_", "-"), version)]).rstrip(" \\\n") + "\n")
print(f"install.sh: {len(names)} runtime packages from requirements/lock.txt")
PY
"$UV" pip sync --python "$PREFIX/bin/python" --require-hashes --compile-bytecode -q "$WORK/runtime.txt"
# Build from a clean copy so no .venv, caches or local databases end up in the wheel.
mkdir "$WORK/src"
(cd "$SOURCE" && tar -cf - pyproject.toml README.md src) | tar -xf - -C "$WORK/src"
find "$WORK/src" -name '__pycache__' -prune -exec rm -rf {} +
"$UV" pip install --python "$PREFIX/bin/python" --no-deps --compile-bytecode -q "$WORK/src"

SITE=$("$PREFIX/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$PREFIX/bin/python" -m compileall -q -j 0 "$SITE/wardbook" >/dev/null

# Static assets are fingerprinted and precompressed (gzip and brotli) by wardbook.web.assets
# from the packaged files (CSS is rewritten first, so on-disk .gz copies would be stale):
# check that the installed package carries them and produces both encodings.
"$PREFIX/bin/python" - <<'PY'
from wardbook.web.assets import default_assets
assets = default_assets()
compressed = [a for a in assets._by_url.values() if a.gzip is not None and a.brotli is not None]
assert compressed, "no precompressed static assets in the installed package"
print(f"install.sh: {len(assets._by_url)} static assets, {len(compressed)} precompressed (gzip + br)")
PY
"$PREFIX/bin/wardbook" --help >/dev/null
echo "install.sh: Wardbook installed in $PREFIX"
