#!/usr/bin/env bash
# A burst against a hung store: the release `buddo` server on DynamoDB Local behind a proxy
# that stops answering (tests/hung_proxy.py). While the store hangs, wrk drives
# GET /api/auth/me with many connections; the script samples the server's memory (RSS), its
# open file descriptors and its connections to the store every second, then lets the store
# answer again and times the server's recovery. Figures to read, never timed assertions.
#
# Usage: tests/bench-hung-store.sh
# Environment:
#   BENCH_HUNG_DURATION     wrk duration (default 20s)
#   BENCH_HUNG_CONNECTIONS  wrk connections (default 1000)
#   BENCH_HUNG_PROFILE      cargo profile of the server (default release)
#   MAX_IN_FLIGHT_REQUESTS, REQUEST_TIMEOUT_MS, STORE_CALL_TIMEOUT_MS ... as for the server
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"
LOG_PREFIX=tests/bench-hung-store.sh
LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/buddo-hung.XXXXXX")"
# shellcheck source=tests/lib/services.sh
source "$REPO_ROOT/tests/lib/services.sh"
DURATION="${BENCH_HUNG_DURATION:-20s}"
CONNECTIONS="${BENCH_HUNG_CONNECTIONS:-1000}"
PROFILE="${BENCH_HUNG_PROFILE:-release}"
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"

stop_services_at_exit

need python3 "install Python 3"
ulimit -n 65536 2>/dev/null || true
need curl "install curl"
if ! command -v wrk >/dev/null; then
    log "installing wrk"
    DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null 2>&1 ||
        { DEBIAN_FRONTEND=noninteractive apt-get update >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >/dev/null 2>&1; } ||
        die "could not install wrk"
fi

log "cargo build --profile $PROFILE --bin buddo"
cargo build --profile "$PROFILE" --bin buddo
BIN="$TARGET_DIR/$([[ "$PROFILE" == dev ]] && echo debug || echo "$PROFILE")/buddo"

start_dynamodb
PROXY_PORT="$(free_port)"
CONTROL="$LOG_DIR/hang"
start_service proxy "$LOG_DIR/proxy.log" python3 "$REPO_ROOT/tests/hung_proxy.py" "$PROXY_PORT" \
    "${BUDDO_TEST_DYNAMODB_ENDPOINT#http://}" "$CONTROL"
PORT="$(free_port)"
BASE="http://127.0.0.1:$PORT"
start_service server "$LOG_DIR/server.log" env BUDDO_STORE=dynamodb TABLE_NAME=bench \
    "AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$PROXY_PORT" AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local BUDDO_DATA_DIR="$LOG_DIR/data" \
    RUST_LOG=warn "$BIN" -p "$PORT"
SERVER_PID="$STARTED_PID"
http_ready "$BASE/api/health" GET 60 "$SERVER_PID" || { tail -20 "$LOG_DIR/server.log" >&2; die "the server did not start"; }

curl -sf "$BASE/api/auth/register" -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","username":"bench","password":"a long bench secret"}' >/dev/null
TOKEN="$(curl -sf "$BASE/api/auth/login" -H 'content-type: application/json' \
    -d '{"email":"bench@example.com","password":"a long bench secret"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"

# The server process (the env wrapper execs it, but be sure).
PID="$(pgrep -f -n -- "$BIN -p $PORT" || echo "$SERVER_PID")"
sample() { # <phase> -> "phase rss_kib fds store_connections"
    local rss fds conns
    rss="$(awk '/^VmRSS:/ {print $2}' "/proc/$PID/status")"
    fds="$(find "/proc/$PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)"
    conns="$(python3 - "$PROXY_PORT" <<'PY'
import sys
port = "%04X" % int(sys.argv[1])
n = 0
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        for line in open(table).read().splitlines()[1:]:
            f = line.split()
            if f[2].endswith(":" + port) and f[3] == "01":
                n += 1
    except FileNotFoundError:
        pass
print(n)
PY
)"
    printf '%s %s %s %s\n' "$1" "$rss" "$fds" "$conns"
}

SAMPLES="$LOG_DIR/samples"
: >"$SAMPLES"
sample before >>"$SAMPLES"
touch "$CONTROL"
log "the store hangs; wrk -t2 -c$CONNECTIONS -d$DURATION GET /api/auth/me"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --timeout 10s -H "authorization: Bearer $TOKEN" "$BASE/api/auth/me" >"$LOG_DIR/wrk.txt" &
WRK_PID=$!
while kill -0 "$WRK_PID" 2>/dev/null; do
    sample hung >>"$SAMPLES"
    sleep 1
done
wait "$WRK_PID" || true
sample after-burst >>"$SAMPLES"
rm -f "$CONTROL"
START=$(date +%s%N)
until [[ "$(curl -s -o /dev/null -w '%{http_code}' "$BASE/api/health")" == 200 ]]; do sleep 0.05; done
RECOVERY_MS=$(( ($(date +%s%N) - START) / 1000000 ))
sample recovered >>"$SAMPLES"

cat "$LOG_DIR/wrk.txt"
python3 - "$SAMPLES" "$RECOVERY_MS" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
def fig(phase, i):
    v = [int(r[i]) for r in rows if r[0] == phase]
    return f"min {min(v)} / median {int(statistics.median(v))} / max {max(v)}" if v else "n/a"
print()
print("| phase | RSS (KiB) | open fds | connections to the store |")
print("|---|---|---|---|")
for phase in ("before", "hung", "after-burst", "recovered"):
    print(f"| {phase} | {fig(phase, 1)} | {fig(phase, 2)} | {fig(phase, 3)} |")
print(f"\nfirst 200 from /api/health {sys.argv[2]} ms after the store answered again")
PY
