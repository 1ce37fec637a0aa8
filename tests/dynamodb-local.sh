#!/usr/bin/env bash
# DynamoDB Local for running several Buddo processes at once on one machine: `cargo lambda
# watch` (which may start more than one instance of a function), the auth function beside the
# mailer, the local server beside either. One embedded store file serves only one process;
# DynamoDB Local serves them all.
#
# Usage: bash tests/dynamodb-local.sh
#   Installs DynamoDB Local on first use (as tests/run.sh does), starts it on port 8000,
#   creates the table, prints the environment the processes need, and runs until Ctrl-C.
#
# Environment:
#   BUDDO_DYNAMODB_PORT      port (default 8000)
#   BUDDO_DYNAMODB_DATA_DIR  keep the data in this directory (default: in memory, gone at exit)
#   TABLE_NAME               table to create (default buddo)
#   BUDDO_TOOLS_DIR          install cache (default ~/.cache/buddo-tools)
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOG_PREFIX=tests/dynamodb-local.sh
# shellcheck source=tests/lib/services.sh
source "$REPO_ROOT/tests/lib/services.sh"

PORT="${BUDDO_DYNAMODB_PORT:-8000}"
TABLE="${TABLE_NAME:-buddo}"
LOG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/buddo-dynamodb-local.XXXXXX")"
stop_services_at_exit

need python3 "install Python 3"
need setsid "install util-linux"
storage=(-inMemory)
if [[ -n "${BUDDO_DYNAMODB_DATA_DIR:-}" ]]; then
    mkdir -p "$BUDDO_DYNAMODB_DATA_DIR"
    storage=(-sharedDb -dbPath "$BUDDO_DYNAMODB_DATA_DIR")
fi
python3 -c 'import socket, sys; s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1])))' "$PORT" 2>/dev/null ||
    die "port $PORT is in use (is DynamoDB Local already running?); set BUDDO_DYNAMODB_PORT"
start_dynamodb "$PORT" "${storage[@]}"

settings=(BUDDO_STORE=dynamodb "TABLE_NAME=$TABLE" "AWS_ENDPOINT_URL_DYNAMODB=http://127.0.0.1:$PORT"
    AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local)
log "creating the table $TABLE"
# create-table writes nothing locally; its data dir is a temporary one all the same, so that
# nothing it runs can land in the checkout.
(cd "$REPO_ROOT" && env "${settings[@]}" cargo run -q --bin buddo -- admin create-table --dynamodb \
    --data-dir "$LOG_DIR/data" >&2) ||
    die "could not create the table"

cat <<INFO

DynamoDB Local is running on http://127.0.0.1:$PORT with the table $TABLE.
Give every process these settings (e.g. in a shell: export ...):

    export ${settings[*]}

Then, for example:
    cargo run -- --dynamodb                  # the local server
    cargo lambda watch -p buddo-auth         # the auth function (several instances are fine)
Ctrl-C stops DynamoDB Local$( [[ -z "${BUDDO_DYNAMODB_DATA_DIR:-}" ]] && printf ' and its data is gone' ).
INFO
wait "${SERVICE_PIDS[0]}"
