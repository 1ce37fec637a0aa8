#!/usr/bin/env bash
# Smoke test of a running Buddo API, local or deployed: the main flows end to end. Exits 0 when
# every step answered as expected, else non-zero with a line naming the step that failed.
#
# Usage: tests/smoke.sh <api-url>        e.g. tests/smoke.sh http://127.0.0.1:3000
#
#   1. health;
#   2. a new user registers with an address of SES's mailbox simulator
#      (success+<random>@simulator.amazonses.com: a deployment sends its verification mail
#      there, to nobody), signs in, reads its account and refreshes its login session;
#   3. OAuth: an app owner (below) finds, or else registers, the public app "Buddo smoke test"
#      (redirect URI https://smoke.buddo.invalid/callback, scope profile:read). An app nobody
#      approved can still be authorized by its owner, so no admin is needed. The owner
#      authorizes it with PKCE (S256); the code is exchanged for tokens, the access token
#      introspected and used (GET /api/external/user), the refresh token used and then
#      revoked, and a revoked refresh token must be refused;
#   4. the new user deletes its account, and can no longer sign in.
#
# Registering an app needs a verified address, and nobody reads the simulator's mail, so the
# owner in step 3 comes from one of:
#   SMOKE_MAIL_DIR   the directory where the server saves its mail (a local server:
#                    <data dir>/mail): the new user verifies its own address with the mailed
#                    code and is the owner (its app goes with its account);
#   SMOKE_EMAIL, SMOKE_PASSWORD
#                    an existing account with a verified address and without two-factor
#                    authentication (a deployment): it keeps the app and reuses it next time.
# Other settings: SMOKE_TIMEOUT (seconds per request, default 30).
#
# Needs bash, curl and python3 (JSON and PKCE).
set -euo pipefail

log() { printf 'smoke: %s\n' "$*" >&2; }
fail() {
    printf 'smoke: FAIL: %s\n' "$*" >&2
    exit 1
}

if (($# != 1)) || [[ ! "$1" =~ ^https?://[^[:space:]]+$ ]]; then
    echo "usage: $0 <api-url>   (e.g. http://127.0.0.1:3000)" >&2
    exit 2
fi
API="${1%/}"
TIMEOUT="${SMOKE_TIMEOUT:-30}"
for tool in curl python3; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed"
done
if [[ -z "${SMOKE_MAIL_DIR:-}" ]] && [[ -z "${SMOKE_EMAIL:-}" || -z "${SMOKE_PASSWORD:-}" ]]; then
    fail "the OAuth steps need an app owner with a verified address: set SMOKE_EMAIL and SMOKE_PASSWORD (an account of the deployment), or SMOKE_MAIL_DIR (the mail directory of a local server)"
fi

WORK="$(mktemp -d "${TMPDIR:-/tmp}/buddo-smoke.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

STEP=""
STATUS=""
BODY=""

# call STEP EXPECTED_STATUS CURL_ARGS... : one request; sets STATUS and BODY, fails the run on
# no answer or another status.
call() {
    STEP=$1
    local expected=$2
    shift 2
    local err=0
    STATUS=$(curl --silent --show-error --max-time "$TIMEOUT" --output "$WORK/body" \
        --write-out '%{http_code}' "$@" 2>"$WORK/curl-error") || err=$?
    BODY=$(cat "$WORK/body" 2>/dev/null || true)
    rm -f "$WORK/body"
    if ((err != 0)); then
        fail "$STEP: no answer from $API (curl exit $err: $(tr '\n' ' ' <"$WORK/curl-error"))"
    fi
    if [[ "$STATUS" != "$expected" ]]; then
        fail "$STEP: HTTP $STATUS, expected $expected: ${BODY:0:500}"
    fi
}

# field PATH... : the value at PATH (keys, or indices of lists) of the JSON in BODY.
field() {
    local value
    value=$(python3 -c '
import json, sys
value = json.loads(sys.stdin.read())
for key in sys.argv[1:]:
    value = value[int(key)] if isinstance(value, list) else value[key]
print(json.dumps(value) if isinstance(value, (bool, dict, list)) or value is None else value)
' "$@" <<<"$BODY" 2>/dev/null) || fail "$STEP: the answer has no ${*// /.}: ${BODY:0:500}"
    printf '%s' "$value"
}

# expect PATH... VALUE : the value at PATH must be VALUE.
expect() {
    local want=${*: -1} path=("${@:1:$#-1}") got
    got=$(field "${path[@]}")
    [[ "$got" == "$want" ]] || fail "$STEP: ${path[*]// /.} is $got, expected $want"
}

random() { python3 -c 'import secrets; print(secrets.token_hex(8))'; }

json_body() { python3 -c 'import json, sys; print(json.dumps(dict(zip(sys.argv[1::2], sys.argv[2::2]))))' "$@"; }

# ------------------------------------------------------------------ health --
log "testing $API"
call "GET /api/health" 200 "$API/api/health"
expect status ok
log "health: ok (version $(field version))"

# ------------------------------------------------------------- a new user --
SUFFIX=$(random)
EMAIL="success+$SUFFIX@simulator.amazonses.com"
USERNAME="smoke_$SUFFIX"
PASSWORD="smoke-$(random)-$(random)"

call "POST /api/auth/register" 201 "$API/api/auth/register" -H 'content-type: application/json' \
    -d "$(json_body email "$EMAIL" username "$USERNAME" password "$PASSWORD")"
expect user email "$EMAIL"
log "registered $USERNAME <$EMAIL>"

call "POST /api/auth/login" 200 "$API/api/auth/login" -H 'content-type: application/json' \
    -d "$(json_body email "$EMAIL" password "$PASSWORD")"
TOKEN=$(field token)
REFRESH=$(field refresh_token)

call "GET /api/auth/me" 200 "$API/api/auth/me" -H "authorization: Bearer $TOKEN"
expect user username "$USERNAME"

call "POST /api/auth/refresh" 200 "$API/api/auth/refresh" -H 'content-type: application/json' \
    -d "$(json_body refresh_token "$REFRESH")"
TOKEN=$(field token)
ROTATED=$(field refresh_token)
[[ "$ROTATED" != "$REFRESH" ]] || fail "$STEP: the refresh token did not rotate"
call "GET /api/auth/me (refreshed token)" 200 "$API/api/auth/me" -H "authorization: Bearer $TOKEN"
log "signed in, refreshed"

# ------------------------------------------------------------ the app owner --
if [[ -n "${SMOKE_MAIL_DIR:-}" ]]; then
    STEP="the verification mail in $SMOKE_MAIL_DIR"
    MAIL_TOKEN=$(python3 - "$SMOKE_MAIL_DIR" "$EMAIL" <<'EOF'
import glob, os, re, sys, time
mail_dir, address = sys.argv[1], sys.argv[2]
for _ in range(150):
    for path in glob.glob(os.path.join(mail_dir, '*.txt')):
        text = open(path, encoding='utf-8').read()
        if f'\nTo: {address}\n' in text:
            found = re.search(r'/verify-email\?token=([^\s&]+)', text)
            if found:
                print(found.group(1))
                raise SystemExit
    time.sleep(0.1)
raise SystemExit(1)
EOF
) || fail "$STEP: no verification mail to $EMAIL within 15 s"
    call "POST /api/auth/verify-email" 200 "$API/api/auth/verify-email" -H 'content-type: application/json' \
        -d "$(json_body token "$MAIL_TOKEN")"
    OWNER_TOKEN=$TOKEN
    log "verified $EMAIL with the mailed code; $USERNAME owns the app"
else
    call "POST /api/auth/login (SMOKE_EMAIL)" 200 "$API/api/auth/login" -H 'content-type: application/json' \
        -d "$(json_body email "$SMOKE_EMAIL" password "$SMOKE_PASSWORD")"
    OWNER_TOKEN=$(field token)
    log "signed in as $SMOKE_EMAIL, the app's owner"
fi

# -------------------------------------------------------------------- OAuth --
APP_NAME="Buddo smoke test"
REDIRECT_URI="https://smoke.buddo.invalid/callback"
call "GET /api/oauth/my-apps" 200 "$API/api/oauth/my-apps" -H "authorization: Bearer $OWNER_TOKEN"
CLIENT_ID=$(python3 -c '
import json, sys
for app in json.loads(sys.stdin.read()):
    if (app["app_name"] == sys.argv[1] and sys.argv[2] in app["redirect_uris"]
            and app.get("token_endpoint_auth_method") == "none" and "profile:read" in app["allowed_scopes"]):
        print(app["client_id"])
        break
' "$APP_NAME" "$REDIRECT_URI" <<<"$BODY") || fail "$STEP: not a list of apps: ${BODY:0:500}"
if [[ -n "$CLIENT_ID" ]]; then
    log "reusing the app $CLIENT_ID"
else
    call "POST /api/oauth/apps" 201 "$API/api/oauth/apps" -H "authorization: Bearer $OWNER_TOKEN" \
        -H 'content-type: application/json' -d "{\"app_name\":\"$APP_NAME\",\"redirect_uris\":[\"$REDIRECT_URI\"],\"allowed_scopes\":[\"profile:read\"],\"token_endpoint_auth_method\":\"none\"}"
    CLIENT_ID=$(field app client_id)
    log "registered the app $CLIENT_ID"
fi

VERIFIER=$(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')
CHALLENGE=$(python3 -c 'import base64, hashlib, sys; print(base64.urlsafe_b64encode(hashlib.sha256(sys.argv[1].encode()).digest()).rstrip(b"=").decode())' "$VERIFIER")
STATE=$(random)
call "GET /api/oauth/authorize" 200 --get "$API/api/oauth/authorize" -H "authorization: Bearer $OWNER_TOKEN" \
    --data-urlencode "client_id=$CLIENT_ID" --data-urlencode response_type=code \
    --data-urlencode "redirect_uri=$REDIRECT_URI" --data-urlencode scope=profile:read \
    --data-urlencode "state=$STATE" --data-urlencode "code_challenge=$CHALLENGE" \
    --data-urlencode code_challenge_method=S256
expect state "$STATE"
CODE=$(field code)

call "POST /api/oauth/token (authorization_code)" 200 "$API/api/oauth/token" \
    --data-urlencode grant_type=authorization_code --data-urlencode "client_id=$CLIENT_ID" \
    --data-urlencode "code=$CODE" --data-urlencode "redirect_uri=$REDIRECT_URI" \
    --data-urlencode "code_verifier=$VERIFIER"
expect token_type Bearer
expect scope profile:read
ACCESS_TOKEN=$(field access_token)
OAUTH_REFRESH=$(field refresh_token)
log "authorized with PKCE, exchanged the code"

call "POST /api/oauth/token/verify" 200 "$API/api/oauth/token/verify" -H 'content-type: application/json' \
    -d "$(json_body token "$ACCESS_TOKEN")"
expect active true
expect client_id "$CLIENT_ID"
expect scope profile:read
call "GET /api/external/user" 200 "$API/api/external/user" -H "authorization: Bearer $ACCESS_TOKEN"
log "introspected the access token, acted with it"

call "POST /api/oauth/token (refresh_token)" 200 "$API/api/oauth/token" \
    --data-urlencode grant_type=refresh_token --data-urlencode "client_id=$CLIENT_ID" \
    --data-urlencode "refresh_token=$OAUTH_REFRESH"
NEW_ACCESS_TOKEN=$(field access_token)
OAUTH_REFRESH=$(field refresh_token)
call "POST /api/oauth/token/verify (refreshed)" 200 "$API/api/oauth/token/verify" -H 'content-type: application/json' \
    -d "$(json_body token "$NEW_ACCESS_TOKEN")"
expect active true

call "POST /api/oauth/revoke" 200 "$API/api/oauth/revoke" \
    --data-urlencode "client_id=$CLIENT_ID" --data-urlencode "token=$OAUTH_REFRESH"
call "POST /api/oauth/token (revoked refresh_token)" 400 "$API/api/oauth/token" \
    --data-urlencode grant_type=refresh_token --data-urlencode "client_id=$CLIENT_ID" \
    --data-urlencode "refresh_token=$OAUTH_REFRESH"
expect error invalid_grant
log "refreshed, revoked; the revoked token is refused"

# ------------------------------------------------------------------ cleanup --
call "DELETE /api/user/me" 200 -X DELETE "$API/api/user/me" -H "authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' -d "$(json_body password "$PASSWORD")"
call "POST /api/auth/login (deleted account)" 401 "$API/api/auth/login" -H 'content-type: application/json' \
    -d "$(json_body email "$EMAIL" password "$PASSWORD")"
log "deleted $USERNAME"

log "passed"
