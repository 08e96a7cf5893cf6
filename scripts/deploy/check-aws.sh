#!/usr/bin/env bash
# Synthesizes every environment's CDK stack offline (no credentials, no lookups) and checks
# the CloudFormation templates with cfn-lint and checkov. Waivers live in the templates
# (Metadata: cfn-lint ignore_checks with reasons; Metadata.checkov.skip with comments).
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${DEPLOY_BIN:-.venv-deploy/bin}
OUT=${OUT:-build/deploy-check}/cdk.out
command -v node >/dev/null || { echo "aws: node is missing (scripts/deploy/install-tools.sh)" >&2; exit 1; }
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20 JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION=1
# No credentials may be needed: make sure none are picked up.
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN -u AWS_PROFILE \
  AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null CDK_OUTDIR="$OUT" \
  "$BIN/python" deploy/aws/app.py
templates=("$OUT"/wardbook-dev.template.json "$OUT"/wardbook-staging.template.json "$OUT"/wardbook-production.template.json)
"$BIN/cfn-lint" "${templates[@]}"
for template in "${templates[@]}"; do
  "$BIN/checkov" --quiet --compact --framework cloudformation -f "$template" --skip-download
done
echo "aws: ${#templates[@]} stacks synthesized, cfn-lint and checkov clean"
