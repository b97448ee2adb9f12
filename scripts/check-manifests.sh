#!/usr/bin/env bash
# Validates deploy/kubernetes/*.yaml against the Kubernetes API schemas, without a cluster:
# kubernetes-validate (PyPI) in a temporary virtual environment, strict (unknown fields are
# errors), for each Kubernetes version from 1.29 (the first where the Job fields the manifest
# uses, backoffLimitPerIndex and podFailurePolicy's FailIndex, are on by default) to 1.37.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(mktemp -d)"
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==1.37.0"
for version in 1.29.0 1.30.0 1.31.0 1.32.0 1.33.0 1.34.0 1.35.0 1.36.0 1.37.0; do
    "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" deploy/kubernetes/*.yaml
done
echo "check-manifests: deploy/kubernetes/*.yaml valid for Kubernetes 1.29 to 1.37" >&2
