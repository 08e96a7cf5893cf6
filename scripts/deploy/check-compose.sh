#!/usr/bin/env bash
# Validates the compose stack with Debian's docker-compose (v1: only keys it understands)
# and writes the resolved file for deploy/tests/test_compose.py.
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-build/deploy-check}
mkdir -p "$OUT"
docker-compose -f deploy/docker/compose.yaml config > "$OUT/compose.resolved.yaml"
echo "compose: $(grep -c '^  [a-z-]*:$' "$OUT/compose.resolved.yaml") top-level entries resolved"
