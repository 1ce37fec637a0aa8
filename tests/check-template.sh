#!/usr/bin/env bash
# Lints the SAM template: `sam validate --lint` (cfn-lint included), offline.
# Installs aws-sam-cli into a venv under ${BUDDO_TOOLS_DIR:-~/.cache/buddo-tools} on first use.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${BUDDO_TOOLS_DIR:-${HOME:-/tmp}/.cache/buddo-tools}"
SAM_VERSION="${BUDDO_SAM_VERSION:-1.170.0}"
SAM_DIR="$TOOLS_DIR/sam-$SAM_VERSION"

log() { printf '[tests/check-template.sh] %s\n' "$*" >&2; }

if [[ ! -x "$SAM_DIR/venv/bin/sam" ]]; then
    log "installing aws-sam-cli $SAM_VERSION into $SAM_DIR"
    mkdir -p "$SAM_DIR"
    python3 -m venv "$SAM_DIR/venv"
    "$SAM_DIR/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        "aws-sam-cli==$SAM_VERSION" >&2
fi

cd "$REPO_ROOT"
# Validation is local; the region only has to be set. No credentials are used.
AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 SAM_CLI_TELEMETRY=0 \
    "$SAM_DIR/venv/bin/sam" validate --lint --template template.yaml
