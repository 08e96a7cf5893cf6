#!/usr/bin/env bash
# `make deploy-check`: every deployment artefact rendered and checked by its own tool.
# Runs each check even when an earlier one fails, then prints one summary line and exits
# non-zero if any failed. Tools come from .venv-deploy and Debian (scripts/deploy/install-tools.sh).
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
export DEPLOY_BIN="$ROOT/.venv-deploy/bin"
export PATH="$DEPLOY_BIN:$PATH"
export OUT="${DEPLOY_CHECK_OUT:-$ROOT/build/deploy-check}"
rm -rf "$OUT" && mkdir -p "$OUT"

only=${1:-}
passed=0
failed=()
step() {
  local name=$1
  shift
  if [ -n "$only" ] && [ "$only" != "$name" ]; then return 0; fi
  echo "== $name: $*"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed+=("$name")
    echo "!! $name FAILED" >&2
  fi
}

step hadolint hadolint --failure-threshold style deploy/docker/Dockerfile
step compose bash scripts/deploy/check-compose.sh
step kubernetes bash scripts/deploy/check-kubernetes.sh
step aws bash scripts/deploy/check-aws.sh
step actionlint actionlint -color=false
step promtool-check promtool check rules deploy/monitoring/rules.yml
step promtool-test promtool test rules deploy/monitoring/tests/*.yml
step deploy-lint bash -c ".venv/bin/ruff check deploy && .venv/bin/ruff format --check deploy"
step deploy-tests "$DEPLOY_BIN/pytest" -q -c deploy/tests/pytest.ini deploy/tests

echo "deploy-check: ${passed} passed, ${#failed[@]} failed${failed:+ (${failed[*]})}"
[ "${#failed[@]}" -eq 0 ]
