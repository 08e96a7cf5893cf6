#!/usr/bin/env bash
# Renders every overlay with kubectl kustomize, validates the built-in kinds with
# kubernetes-validate --strict (custom resources excepted by API group, see split_crds.py)
# and scans everything with checkov. Waivers are annotations on the resources
# (checkov.io/skipN: CHECK=reason); none are passed on the command line.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${DEPLOY_BIN:-.venv-deploy/bin}
OUT=${OUT:-build/deploy-check}/kubernetes
mkdir -p "$OUT"
K8S_VERSION=${K8S_VERSION:-1.33.0}
for env in dev staging production; do
  "$BIN/kubectl" kustomize "deploy/kubernetes/overlays/$env" > "$OUT/$env.yaml"
  "$BIN/python" scripts/deploy/split_crds.py "$OUT/$env.yaml" "$OUT/$env.builtin.yaml" "$OUT/$env.custom.yaml"
  "$BIN/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "$OUT/$env.builtin.yaml"
  "$BIN/checkov" --quiet --compact --framework kubernetes -f "$OUT/$env.yaml" \
    --output cli --skip-download
  echo "kubernetes: $env rendered, validated and scanned"
done
