# The pinned deployment tools, sourced by deploy/build.sh and deploy/deploy-stack.sh: the Rust
# toolchain (rustup) and a venv with aws-sam-cli and cargo-lambda (whose PyPI package brings
# zig, the arm64 cross linker) under ${BUDDO_TOOLS_DIR:-~/.cache/buddo-tools}.
# shellcheck shell=bash
RUST_VERSION="${BUDDO_RUST_VERSION:-1.95.0}"
SAM_VERSION="${BUDDO_SAM_VERSION:-1.170.0}"
CARGO_LAMBDA_VERSION="${BUDDO_CARGO_LAMBDA_VERSION:-1.9.2}"
DEPLOY_TOOLS="${BUDDO_TOOLS_DIR:-${HOME:-/tmp}/.cache/buddo-tools}/deploy-sam-$SAM_VERSION-cargo-lambda-$CARGO_LAMBDA_VERSION"
export PATH="$DEPLOY_TOOLS/bin:$PATH" RUSTUP_TOOLCHAIN="$RUST_VERSION" SAM_CLI_TELEMETRY=0
