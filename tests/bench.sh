#!/usr/bin/env bash
# Buddo benchmarks for the budgets in the README. Figures to read, never timed assertions.
#
#   1. `cargo bench --bench auth` (benches/auth.rs): Argon2id hash/verify with the production
#      parameters, and POST /api/auth/login and GET /api/auth/me in-process through
#      `buddo::app` on the in-memory embedded store.
#   2. HTTP load tests: the release `buddo` server on a free 127.0.0.1 port over the memory
#      store with the limits lifted; `wrk` drives GET /api/auth/me with a bearer token, and
#      POST /api/auth/login at one connection and at BENCH_LOGIN_CONNECTIONS; then the C
#      reference Argon2id (PyPI argon2-cffi, tests/argon2_reference.py) with the same
#      parameters, one process per core: the most logins per second any server could reach.
#      OAuth: introspection and the token endpoint (refresh chains), then the same load on
#      node-oidc-provider (npm `oidc-provider`, tests/oidc_peer.mjs) in the same run.
#   3. benches/latency.rs: each hot endpoint in-process over a store that delays every call
#      (BENCH_STORE_DELAY_MS, default 5): p50/p99 per endpoint; then, without the delay, the
#      CPU time per request per endpoint, written to tests/cost/cpu.json. Built with the
#      release profile (fat LTO), as the Lambda binaries are.
#   4. Start-to-ready of each Lambda binary against a stand-in runtime API
#      (tests/lambda_start.py).
#   5. A short summary.
#
# Usage: tests/bench.sh [args for `cargo bench --bench auth`]
#   With no arguments criterion runs with `-- --warm-up-time 1 --measurement-time 3`.
#   e.g. tests/bench.sh                 # shorter criterion times (the default)
#        tests/bench.sh -- in_process   # only the in-process group, criterion's own times
#
# Environment:
#   BENCH_WRK_DURATION     wrk duration (default 10s)
#   BENCH_WRK_THREADS      wrk threads (default 2)
#   BENCH_WRK_CONNECTIONS  wrk connections (default 64)
#   BENCH_LOGIN_DURATION   each login load test (default 15s)
#   BENCH_LOGIN_CONNECTIONS connections of the login throughput test (default 8)
#   BENCH_TOKEN_THREADS    wrk threads (one connection each) of the token endpoint tests (default 8)
#   BENCH_SKIP_CRITERION=1 only the HTTP load test
#   BENCH_SKIP_HTTP=1      no HTTP load test
#   BENCH_SKIP_START=1     no Lambda start-to-ready measurement
#   BENCH_SKIP_POINTS=1    no spend load tests
#   BENCH_SKIP_LATENCY=1   no per-endpoint latency and CPU benchmark (benches/latency.rs)
#   BENCH_STORE_DELAY_MS   the delay of each store call in the latency benchmark (default 5)
#   BENCH_LATENCY_REQUESTS requests per endpoint with the delay (default 50)
#   BENCH_CPU_REQUESTS     requests per endpoint for the CPU time (default 200)
#   BENCH_OPT_LEVEL=s      build with this release opt-level instead (into target/opt-s)
#
# Needs curl and python3; installs wrk with apt-get when it is missing (as root).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
# BENCH_OPT_LEVEL=s (or 2, z, ...): the same benchmarks with another release opt-level, built
# into a target dir of its own, to compare profiles by what a login costs.
CARGO_PROFILE_ARGS=()
OPT_LEVEL="3 (release profile)"
if [[ -n "${BENCH_OPT_LEVEL:-}" ]]; then
    CARGO_PROFILE_ARGS=(--config "profile.release.opt-level=$(
        [[ "$BENCH_OPT_LEVEL" =~ ^[0-9]$ ]] && echo "$BENCH_OPT_LEVEL" || echo "\"$BENCH_OPT_LEVEL\"")")
    TARGET_DIR="$REPO_ROOT/target/opt-$BENCH_OPT_LEVEL"
    export CARGO_TARGET_DIR="$TARGET_DIR"
    OPT_LEVEL="$BENCH_OPT_LEVEL"
fi
WRK_DURATION="${BENCH_WRK_DURATION:-10s}"
WRK_THREADS="${BENCH_WRK_THREADS:-2}"
WRK_CONNECTIONS="${BENCH_WRK_CONNECTIONS:-64}"
LOGIN_DURATION="${BENCH_LOGIN_DURATION:-15s}"
LOGIN_CONNECTIONS="${BENCH_LOGIN_CONNECTIONS:-8}"
TOKEN_THREADS="${BENCH_TOKEN_THREADS:-8}"
OIDC_PROVIDER_VERSION="${BENCH_OIDC_PROVIDER_VERSION:-9.13.3}"

log() { printf '[tests/bench.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

command -v curl >/dev/null || die "curl is required"
command -v python3 >/dev/null || die "python3 is required"

WORK_DIR="$(mktemp -d "${TMPDIR:-/tmp}/buddo-bench.XXXXXX")"
SERVER_PID=""
cleanup() {
    local i
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

START_TS="$(date +%s)"
BENCH_LOG="$WORK_DIR/criterion.log"
: >"$BENCH_LOG"

# ------------------------------------------------------------- criterion --
if [[ "${BENCH_SKIP_CRITERION:-0}" != 1 ]]; then
    if (($# == 0)); then
        set -- -- --warm-up-time 1 --measurement-time 3
    fi
    log "cargo bench --bench auth $*"
    cargo bench "${CARGO_PROFILE_ARGS[@]}" --bench auth "$@" 2>&1 | tee "$BENCH_LOG"
fi

# ------------------------------------------------------------- HTTP load --
RPS="n/a"
WRK_LATENCY="n/a"
LOGIN_SERIAL="n/a"
LOGIN_RPS="n/a"
LOGIN_LATENCY="n/a"
REF_MS="n/a"
REF_RATE="n/a"
LOGIN_SHARE="n/a"
INTROSPECT_RPS="n/a"
REFRESH_RPS="n/a"
PEER_INTROSPECT_RPS="n/a"
PEER_TOKEN_RPS="n/a"
INTROSPECT_RATIO="n/a"
TOKEN_RATIO="n/a"
rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
latency() {
    awk '/^ +Latency / && !avg {avg = $2}
        /^ +50% / {p50 = $2} /^ +90% / {p90 = $2} /^ +99% / {p99 = $2}
        END {printf "avg %s, p50 %s, p90 %s, p99 %s", avg, p50, p90, p99}' "$1"
}
if [[ "${BENCH_SKIP_HTTP:-0}" != 1 ]]; then
    if ! command -v wrk >/dev/null; then
        [[ "$(id -u)" == 0 ]] || die "wrk is missing: install it (apt-get install -y wrk) or run as root"
        log "installing wrk"
        if ! DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >"$WORK_DIR/apt.log" 2>&1; then
            DEBIAN_FRONTEND=noninteractive apt-get update >>"$WORK_DIR/apt.log" 2>&1 || true
            DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >>"$WORK_DIR/apt.log" 2>&1 ||
                { cat "$WORK_DIR/apt.log" >&2; die "could not install wrk"; }
        fi
    fi

    log "cargo build --release --bin buddo"
    cargo build "${CARGO_PROFILE_ARGS[@]}" --release --bin buddo
    BIN="$TARGET_DIR/release/buddo"
    [[ -x "$BIN" ]] || die "no binary at $BIN"

    PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
    BASE="http://127.0.0.1:$PORT"
    DATA_DIR="$WORK_DIR/data"
    mkdir -p "$DATA_DIR"

    # The memory store, and every limit a load test would reach lifted.
    log "starting $BIN on $BASE (memory store)"
    env -u TABLE_NAME \
        RUST_LOG=warn \
        BUDDO_STORE=memory \
        BUDDO_DATA_DIR="$DATA_DIR" \
        PORT="$PORT" \
        RATE_LIMIT_REGISTER=100000/60 \
        RATE_LIMIT_LOGIN=1000000/60 \
        RATE_LIMIT_FAILED_PASSWORD_PER_IP=1000000/60 \
        RATE_LIMIT_FAILED_PASSWORD=1000000/60 \
        RATE_LIMIT_TOKEN=1000000000/60 \
        BUDDO_ADMIN_EMAILS=bench-owner@buddo.test \
        OAUTH_MAX_FAMILIES_PER_GRANT=100 \
        "$BIN" serve --port "$PORT" --data-dir "$DATA_DIR" >"$WORK_DIR/server.log" 2>&1 &
    SERVER_PID=$!

    ready=0
    for ((i = 0; i < 300; i++)); do
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK_DIR/server.log" >&2; die "server exited"; }
        if curl -s -o /dev/null --max-time 1 "$BASE/api/auth/me"; then
            ready=1
            break
        fi
        sleep 0.1
    done
    ((ready)) || { cat "$WORK_DIR/server.log" >&2; die "server not ready after 30 s"; }

    # post <path> <json> -> prints the body; fails unless the status is 2xx.
    post() {
        local out status
        out="$(curl -sS --max-time 30 -w '\n%{http_code}' -H 'content-type: application/json' \
            -X POST --data "$2" "$BASE$1")"
        status="${out##*$'\n'}"
        [[ "$status" == 2?? ]] || die "POST $1 answered $status: ${out%$'\n'*}"
        printf '%s' "${out%$'\n'*}"
    }
    EMAIL="bench@buddo.test"
    PASSWORD="correct horse battery staple"
    post /api/auth/register \
        "{\"email\":\"$EMAIL\",\"username\":\"bench_user\",\"password\":\"$PASSWORD\"}" >/dev/null
    TOKEN="$(post /api/auth/login "{\"email\":\"$EMAIL\",\"password\":\"$PASSWORD\"}" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["token"])')"
    [[ -n "$TOKEN" ]] || die "no token from login"
    status="$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $TOKEN" "$BASE/api/auth/me")"
    [[ "$status" == 200 ]] || die "GET /api/auth/me answered $status"

    log "wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION GET $BASE/api/auth/me"
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WRK_DURATION" --latency \
        -H "Authorization: Bearer $TOKEN" "$BASE/api/auth/me" | tee "$WORK_DIR/wrk.log"
    if grep -q 'Non-2xx or 3xx responses' "$WORK_DIR/wrk.log"; then
        log "warning: some responses were not 2xx (see above)"
    fi
    RPS="$(rps "$WORK_DIR/wrk.log")"
    WRK_LATENCY="$(latency "$WORK_DIR/wrk.log")"

    # Logins: Argon2-bound. One connection shows the time of one login; LOGIN_CONNECTIONS
    # (more than the cores) show the most logins per second the server reaches.
    cat >"$WORK_DIR/login.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"email":"$EMAIL","password":"$PASSWORD"}'
LUA
    for conns in 1 "$LOGIN_CONNECTIONS"; do
        log "wrk -t1 -c$conns -d$LOGIN_DURATION POST $BASE/api/auth/login"
        wrk -t1 -c"$conns" -d"$LOGIN_DURATION" --latency -s "$WORK_DIR/login.lua" \
            "$BASE/api/auth/login" | tee "$WORK_DIR/login-$conns.log"
        ! grep -q 'Non-2xx or 3xx responses' "$WORK_DIR/login-$conns.log" ||
            die "some logins failed (see above)"
    done
    LOGIN_SERIAL="$(rps "$WORK_DIR/login-1.log") logins/s, $(latency "$WORK_DIR/login-1.log")"
    LOGIN_RPS="$(rps "$WORK_DIR/login-$LOGIN_CONNECTIONS.log")"
    LOGIN_LATENCY="$(latency "$WORK_DIR/login-$LOGIN_CONNECTIONS.log")"

    # OAuth: an approved app, a user's tokens (one refresh chain per wrk thread).
    log "preparing OAuth tokens (tests/oauth_bench_setup.py)"
    python3 tests/oauth_bench_setup.py "$BASE" "$DATA_DIR/mail" bench-owner@buddo.test "$TOKEN_THREADS" \
        >"$WORK_DIR/oauth.json" || die "OAuth set-up failed"
    python3 - "$WORK_DIR/oauth.json" "$WORK_DIR" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
out = sys.argv[2]
open(f"{out}/introspect.lua", "w").write(f"""wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "token={d['access_token']}"
""")
tokens = ",".join(f'"{t}"' for t in d["refresh_tokens"])
open(f"{out}/refresh.lua", "w").write(f"""-- One refresh-token chain per thread (one connection each): each answer's new refresh token
-- is the next request's.
local tokens = {{{tokens}}}
local next_index = 1
function setup(thread)
  thread:set("rt", tokens[next_index])
  next_index = next_index + 1
end
function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
function request()
  return wrk.format(nil, nil, nil, "grant_type=refresh_token&client_id={d['client_id']}&client_secret={d['client_secret']}&refresh_token=" .. rt)
end
function response(status, headers, body)
  local token = body:match('"refresh_token":"([^"]+)"')
  if token then rt = token end
end
""")
PY
    log "wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION POST $BASE/api/oauth/token/verify"
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WRK_DURATION" --latency -s "$WORK_DIR/introspect.lua" \
        "$BASE/api/oauth/token/verify" | tee "$WORK_DIR/introspect.log"
    log "wrk -t$TOKEN_THREADS -c$TOKEN_THREADS -d$WRK_DURATION POST $BASE/api/oauth/token (refresh chains)"
    wrk -t"$TOKEN_THREADS" -c"$TOKEN_THREADS" -d"$WRK_DURATION" --latency -s "$WORK_DIR/refresh.lua" \
        "$BASE/api/oauth/token" | tee "$WORK_DIR/refresh.log"
    for f in introspect refresh; do
        ! grep -q 'Non-2xx or 3xx responses' "$WORK_DIR/$f.log" || die "some $f requests failed (see above)"
    done
    INTROSPECT_RPS="$(rps "$WORK_DIR/introspect.log")"
    REFRESH_RPS="$(rps "$WORK_DIR/refresh.log")"
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""

    # The reference: the C Argon2id (PyPI argon2-cffi) with the same parameters, one process
    # per core, on this machine now.
    ARGON2_VENV="${BUDDO_TOOLS_DIR:-${HOME:-/tmp}/.cache/buddo-tools}/argon2-cffi-venv"
    if [[ ! -x "$ARGON2_VENV/bin/python" ]] || ! "$ARGON2_VENV/bin/python" -c 'import argon2' 2>/dev/null; then
        log "installing argon2-cffi into $ARGON2_VENV"
        python3 -m venv "$ARGON2_VENV" >&2
        "$ARGON2_VENV/bin/python" -m pip install --quiet --disable-pip-version-check argon2-cffi >&2
    fi
    "$ARGON2_VENV/bin/python" tests/argon2_reference.py 10 | tee "$WORK_DIR/argon2.log"
    REF_MS="$(awk '/^hash_ms_median/ {print $2}' "$WORK_DIR/argon2.log")"
    REF_RATE="$(awk '/^parallel_hashes_per_s/ {print $2}' "$WORK_DIR/argon2.log")"
    LOGIN_SHARE="$(python3 -c 'import sys; print(f"{100 * float(sys.argv[1]) / float(sys.argv[2]):.0f} %")' "$LOGIN_RPS" "$REF_RATE")"

    # The peer, under the same wrk settings: node-oidc-provider (npm), in-memory adapter, one
    # client that gets tokens by client credentials and introspects them.
    PEER_DIR="${BUDDO_TOOLS_DIR:-${HOME:-/tmp}/.cache/buddo-tools}/oidc-provider-$OIDC_PROVIDER_VERSION"
    if [[ ! -f "$PEER_DIR/.installed" ]]; then
        log "installing oidc-provider@$OIDC_PROVIDER_VERSION into $PEER_DIR"
        mkdir -p "$PEER_DIR"
        npm install --prefix "$PEER_DIR" --no-audit --no-fund --no-save --loglevel=error \
            "oidc-provider@$OIDC_PROVIDER_VERSION" >&2 || die "npm install oidc-provider failed"
        touch "$PEER_DIR/.installed"
    fi
    cp tests/oidc_peer.mjs "$PEER_DIR/oidc_peer.mjs"
    PEER_PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
    PEER="http://127.0.0.1:$PEER_PORT"
    (cd "$PEER_DIR" && exec node oidc_peer.mjs "$PEER_PORT") >"$WORK_DIR/peer.log" 2>&1 &
    SERVER_PID=$!
    for ((i = 0; i < 100; i++)); do
        curl -s -o /dev/null --max-time 1 "$PEER/.well-known/openid-configuration" && break
        sleep 0.1
    done
    PEER_AUTH="$(printf 'bench:bench-secret-that-is-long-enough-for-hs256' | base64 -w0)"
    PEER_TOKEN="$(curl -sS -X POST "$PEER/token" -H "authorization: Basic $PEER_AUTH" \
        -d grant_type=client_credentials -d scope=api:read |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')" ||
        { cat "$WORK_DIR/peer.log" >&2; die "no token from oidc-provider"; }
    # peer_script NAME BODY: a wrk script posting BODY as a form with the peer's client.
    peer_script() {
        printf '%s\n' 'wrk.method = "POST"' \
            'wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"' \
            "wrk.headers[\"Authorization\"] = \"Basic $PEER_AUTH\"" \
            "wrk.body = \"$2\"" >"$WORK_DIR/$1.lua"
    }
    peer_script peer-introspect "token=$PEER_TOKEN"
    peer_script peer-token "grant_type=client_credentials&scope=api:read"
    log "wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION POST $PEER/token/introspection (oidc-provider)"
    wrk -t"$WRK_THREADS" -c"$WRK_CONNECTIONS" -d"$WRK_DURATION" -s "$WORK_DIR/peer-introspect.lua" \
        "$PEER/token/introspection" | tee "$WORK_DIR/peer-introspect.log"
    log "wrk -t$TOKEN_THREADS -c$TOKEN_THREADS -d$WRK_DURATION POST $PEER/token (oidc-provider, client credentials)"
    wrk -t"$TOKEN_THREADS" -c"$TOKEN_THREADS" -d"$WRK_DURATION" -s "$WORK_DIR/peer-token.lua" \
        "$PEER/token" | tee "$WORK_DIR/peer-token.log"
    PEER_INTROSPECT_RPS="$(rps "$WORK_DIR/peer-introspect.log")"
    PEER_TOKEN_RPS="$(rps "$WORK_DIR/peer-token.log")"
    ratio() { python3 -c 'import sys; print(f"{float(sys.argv[1]) / float(sys.argv[2]):.1f}x")' "$1" "$2"; }
    INTROSPECT_RATIO="$(ratio "$INTROSPECT_RPS" "$PEER_INTROSPECT_RPS")"
    TOKEN_RATIO="$(ratio "$REFRESH_RPS" "$PEER_TOKEN_RPS")"
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
fi

# ----------------------------------------------------------------- points --
# Spends per second through the whole API: 32 connections spending 1 point each, from one
# user (contention on one balance) and from many users into one app (its sharded balance), on
# the memory store and on DynamoDB Local.
SPEND_MEM_ONE="n/a"; SPEND_MEM_MANY="n/a"; SPEND_DDB_ONE="n/a"; SPEND_DDB_MANY="n/a"
if [[ "${BENCH_SKIP_HTTP:-0}" != 1 && "${BENCH_SKIP_POINTS:-0}" != 1 ]]; then
    # spend_load STORE -> sets SPEND_ONE and SPEND_MANY
    spend_load() {
        local store=$1 port data extra=()
        port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
        data="$WORK_DIR/points-$store"
        mkdir -p "$data"
        if [[ "$store" == dynamodb ]]; then
            extra=(BUDDO_STORE=dynamodb TABLE_NAME="bench-$RANDOM" AWS_ENDPOINT_URL_DYNAMODB="$DDB_ENDPOINT"
                AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench)
        else
            extra=(BUDDO_STORE=memory)
        fi
        env "${extra[@]}" RUST_LOG=warn BUDDO_DATA_DIR="$data" BUDDO_ADMIN_EMAILS=bench-owner@buddo.test \
            RATE_LIMIT_REGISTER=100000/60 RATE_LIMIT_LOGIN=1000000/60 \
            "$BIN" serve --port "$port" --data-dir "$data" $([[ "$store" == dynamodb ]] && echo --dynamodb) \
            >"$WORK_DIR/points-$store.log" 2>&1 &
        SERVER_PID=$!
        for ((i = 0; i < 300; i++)); do
            curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/api/auth/me" && break
            kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK_DIR/points-$store.log" >&2; die "server exited"; }
            sleep 0.1
        done
        python3 tests/oauth_bench_setup.py "http://127.0.0.1:$port" "$data/mail" bench-owner@buddo.test 1 16 \
            >"$WORK_DIR/points-$store.json" || die "points set-up failed"
        python3 - "$WORK_DIR/points-$store.json" "$WORK_DIR/spend-$store" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
body = 'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\nwrk.body = \'{"amount":1}\'\n'
open(f"{sys.argv[2]}-one.lua", "w").write(body + f'wrk.headers["Authorization"] = "Bearer {d["access_token"]}"\n')
tokens = ",".join(f'"{t}"' for t in d["spender_tokens"])
open(f"{sys.argv[2]}-many.lua", "w").write(body + f"""local tokens = {{{tokens}}}
local i = 0
function request()
  i = i + 1
  wrk.headers["Authorization"] = "Bearer " .. tokens[(i % #tokens) + 1]
  return wrk.format()
end
""")
PY
        local kind
        for kind in one many; do
            log "wrk -t2 -c32 -d$WRK_DURATION spends ($kind, $store)"
            wrk -t2 -c32 -d"$WRK_DURATION" -s "$WORK_DIR/spend-$store-$kind.lua" \
                "http://127.0.0.1:$port/api/external/points/spend" | tee "$WORK_DIR/spend-$store-$kind.log"
            ! grep -q 'Non-2xx or 3xx responses' "$WORK_DIR/spend-$store-$kind.log" ||
                log "warning: some spends failed ($kind, $store)"
        done
        SPEND_ONE="$(rps "$WORK_DIR/spend-$store-one.log")"
        SPEND_MANY="$(rps "$WORK_DIR/spend-$store-many.log")"
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    }
    spend_load memory
    SPEND_MEM_ONE=$SPEND_ONE; SPEND_MEM_MANY=$SPEND_MANY
    LOG_PREFIX=tests/bench.sh
    # shellcheck source=tests/lib/services.sh
    source tests/lib/services.sh
    LOG_DIR="$WORK_DIR"
    start_dynamodb
    DDB_ENDPOINT="$BUDDO_TEST_DYNAMODB_ENDPOINT"
    spend_load dynamodb
    SPEND_DDB_ONE=$SPEND_ONE; SPEND_DDB_MANY=$SPEND_MANY
    stop_services
fi

# ---------------------------------------------------------------- latency --
if [[ "${BENCH_SKIP_LATENCY:-0}" != 1 ]]; then
    # The release profile of the Lambda binaries (fat LTO, one codegen unit): the CPU times go
    # into the cost model, and a build without LTO runs Argon2 slower.
    log "cargo bench --bench latency (release profile; store calls delayed ${BENCH_STORE_DELAY_MS:-5} ms)"
    BENCH_BUILD="release profile (fat LTO, as the Lambda binaries)" \
        cargo bench "${CARGO_PROFILE_ARGS[@]}" --locked --bench latency \
        2>&1 | tee "$WORK_DIR/latency.log"
fi

# --------------------------------------------------------- start-to-ready --
# Each Lambda binary against a stand-in runtime API (tests/lambda_start.py): exec until the
# first "next invocation" request. Configured as on Lambda (DynamoDB store, SES mail) but with
# the signing key inline: the Secrets Manager round trip of a real cold start is not included.
AUTH_START="n/a"
MAILER_START="n/a"
if [[ "${BENCH_SKIP_START:-0}" != 1 ]]; then
    log "cargo build --release -p buddo-auth -p buddo-mailer"
    cargo build "${CARGO_PROFILE_ARGS[@]}" --release -p buddo-auth -p buddo-mailer
    KEY="$("$TARGET_DIR/release/buddo" keygen | sed -n 2p)"
    lambda_env=(env -i PATH="$PATH" HOME="${HOME:-/tmp}" BUDDO_STORE=dynamodb TABLE_NAME=buddo
        AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench
        BUDDO_DATA_DIR="$WORK_DIR/lambda" RUST_LOG=info)
    AUTH_START="$("${lambda_env[@]}" JWT_SIGNING_KEY="$KEY" python3 tests/lambda_start.py "$TARGET_DIR/release/buddo-auth" 10)"
    MAILER_START="$("${lambda_env[@]}" MAIL_BACKEND=ses python3 tests/lambda_start.py "$TARGET_DIR/release/buddo-mailer" 10)"
fi

# --------------------------------------------------------------- summary --
criterion_figure() { # <group/bench> -> "median X (mean Y)" from this run's estimates.json
    python3 - "$TARGET_DIR/criterion/$1/new/estimates.json" "$START_TS" <<'EOF'
import json, os, sys
path, start = sys.argv[1], int(sys.argv[2])
def fmt(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3f} {unit}"
    return f"{ns:.1f} ns"
if not os.path.exists(path) or os.path.getmtime(path) < start:
    print("n/a (not run)")
else:
    e = json.load(open(path))
    print(f"median {fmt(e['median']['point_estimate'])} (mean {fmt(e['mean']['point_estimate'])})")
EOF
}
per_request() { # <name> -> the per-request percentiles line the bench printed
    sed -n "s|^$1: per-request latency over ||p" "$BENCH_LOG" | tail -n 1
}

echo
echo "========================= Buddo benchmark summary ========================="
echo "Release opt-level: $OPT_LEVEL"
echo "Argon2id m=19 MiB t=2 p=1"
echo "  password/hash        $(criterion_figure password/hash)"
echo "  password/verify      $(criterion_figure password/verify)"
echo "  password/verify_async $(criterion_figure password/verify_async)  (blocking pool, as login)"
echo "In-process (buddo::app, in-memory embedded store)"
echo "  in_process/login     $(criterion_figure in_process/login)"
echo "                       per request: $(per_request in_process/login)"
echo "  in_process/me        $(criterion_figure in_process/me)   [budget: p50 < 1 ms]"
echo "                       per request: $(per_request in_process/me)"
echo "  store/rate_limit_hit $(criterion_figure store/rate_limit_hit)  (one write transaction)"
echo "HTTP (release buddo on 127.0.0.1, memory store, wrk on the same host)"
echo "  GET /api/auth/me     $RPS req/s (wrk -t$WRK_THREADS -c$WRK_CONNECTIONS -d$WRK_DURATION)   [budget: >= 20000 req/s on 2 cores]"
echo "                       latency: $WRK_LATENCY"
echo "  POST /api/auth/login one connection: $LOGIN_SERIAL"
echo "  POST /api/auth/login $LOGIN_RPS logins/s (wrk -t1 -c$LOGIN_CONNECTIONS -d$LOGIN_DURATION), latency: $LOGIN_LATENCY"
echo "OAuth, side by side with node-oidc-provider $OIDC_PROVIDER_VERSION (in-memory adapter), same wrk settings"
echo "  introspection        Buddo $INTROSPECT_RPS req/s, oidc-provider $PEER_INTROSPECT_RPS req/s: $INTROSPECT_RATIO   [target: >= 5x]"
echo "  token endpoint       Buddo $REFRESH_RPS refreshes/s (rotation, reuse detection), oidc-provider $PEER_TOKEN_RPS client-credentials grants/s: $TOKEN_RATIO"
echo "Points: spends/s through the API, wrk -t2 -c32 (1 point each)"
echo "  memory store         one user: $SPEND_MEM_ONE   16 users into one app: $SPEND_MEM_MANY"
echo "  DynamoDB Local       one user: $SPEND_DDB_ONE   16 users into one app: $SPEND_DDB_MANY"
echo "Reference Argon2id (C, argon2-cffi, m=19 MiB t=2 p=1, one process per core)"
echo "  one hash             $REF_MS ms"
echo "  hashes/s, all cores  $REF_RATE   logins reach $LOGIN_SHARE of it   [target: >= 85 %]"
echo "Lambda start-to-ready (exec until the first invocation request, x86_64 release)"
echo "  buddo-auth           $AUTH_START   [budget: <= 50 ms]"
echo "  buddo-mailer         $MAILER_START"
echo "================================================================================="
