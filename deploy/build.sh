#!/usr/bin/env bash
# `sam build` as the Deploy workflows run it, from the repository root: installs the pinned
# build tools on first use, then builds every function for arm64 (rust-cargolambda, a beta
# build method). Needs rustup and Python 3 with venv; the versions are in deploy/tools.sh.
#
# Honours CARGO_TARGET_DIR (best outside the repository: SAM hashes the source directory).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=deploy/tools.sh
source "$REPO_ROOT/deploy/tools.sh"
VENV="$DEPLOY_TOOLS"

log() { printf '[deploy/build.sh] %s\n' "$*" >&2; }

log "Rust $RUST_VERSION with the aarch64-unknown-linux-gnu target"
rustup toolchain install "$RUST_VERSION" --profile minimal --target aarch64-unknown-linux-gnu >&2
if [[ ! -x "$VENV/bin/sam" || ! -x "$VENV/bin/cargo-lambda" ]]; then
    log "installing aws-sam-cli $SAM_VERSION and cargo-lambda $CARGO_LAMBDA_VERSION into $VENV"
    mkdir -p "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        "aws-sam-cli==$SAM_VERSION" "cargo-lambda==$CARGO_LAMBDA_VERSION" >&2
fi

cd "$REPO_ROOT"
log "sam build --beta-features"
sam build --beta-features
