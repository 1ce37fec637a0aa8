# What tests/api/readme.rs puts before the README's walk-through blocks: what the reader's
# other shell, mailbox and authenticator do, as shell functions the blocks call unchanged.
# From the test: README_BIN (the buddo binary), README_STORE_ARGS ("" or "--dynamodb"), PORT;
# the working directory is a fresh one, so the server's data dir is ./.buddo as for a reader.
set -euo pipefail

# Every request must succeed: a 4xx or 5xx stops the walk-through, its body shown.
curl() { command curl --silent --show-error --fail-with-body --write-out '\n' "$@"; }

readme_server_pid=

# `cargo run` is the server, in the background (the reader's other shell), once it answers;
# `cargo run -- <args>` is the CLI, run once the server is stopped (the reader's Ctrl-C).
cargo() {
    if [[ "${1-}" != run ]]; then
        echo "the walk-through runs only cargo run: cargo $*" >&2
        return 1
    fi
    shift
    if (($# == 0)); then
        readme_start
        return
    fi
    [[ "$1" != -- ]] || shift
    readme_stop
    # shellcheck disable=SC2086  # README_STORE_ARGS is zero or one word
    "$README_BIN" "$@" $README_STORE_ARGS
}

readme_start() {
    # shellcheck disable=SC2086
    "$README_BIN" $README_STORE_ARGS >>server.log 2>&1 &
    readme_server_pid=$!
    local _
    for _ in $(seq 300); do
        if command curl --silent --fail "127.0.0.1:$PORT/api/health" >/dev/null; then
            return
        fi
        if ! kill -0 "$readme_server_pid" 2>/dev/null; then
            echo "the server stopped; its log:" >&2
            cat server.log >&2
            return 1
        fi
        sleep 0.1
    done
    echo "the server did not answer within 30 s" >&2
    return 1
}

readme_stop() {
    if [[ -n "$readme_server_pid" ]]; then
        kill -INT "$readme_server_pid" 2>/dev/null || true
        wait "$readme_server_pid" || true
        readme_server_pid=
    fi
}
trap readme_stop EXIT

# The code of the newest verification mail not handed out before (the server delivers mail
# within a second or so).
readme_mail_token() {
    python3 - <<'EOF'
import glob, os, re, time
used_file = '.mail-tokens-used'
used = set(open(used_file).read().split()) if os.path.exists(used_file) else set()
for _ in range(100):
    for path in sorted(glob.glob('.buddo/mail/*.txt'), reverse=True):
        found = re.search(r'/verify-email\?token=(\S+)', open(path).read())
        if found and found.group(1) not in used:
            open(used_file, 'a').write(found.group(1) + '\n')
            print(found.group(1))
            raise SystemExit
    time.sleep(0.1)
raise SystemExit('no new verification mail in .buddo/mail')
EOF
}

# A TOTP code for $SECRET (RFC 6238: SHA-1, 6 digits, 30 s) that the server has not seen: it
# accepts each step once, and one step of drift either way, so codes go from the previous
# step upwards, waiting only when a step is about to be out of reach.
readme_totp_code() {
    python3 - "$SECRET" <<'EOF'
import base64, hashlib, hmac, os, struct, sys, time
secret = sys.argv[1]
key = base64.b32decode(secret + '=' * (-len(secret) % 8))
last_file = '.totp-last-step'
last = int(open(last_file).read()) if os.path.exists(last_file) else 0
while True:
    now = time.time()
    current, left = int(now) // 30, 30 - now % 30
    step = max(last + 1, current - 1)
    if step - 1 <= current and not (step + 1 == current and left < 5):
        break
    time.sleep(0.5)
open(last_file, 'w').write(str(step))
mac = hmac.new(key, struct.pack('>Q', step), hashlib.sha1).digest()
offset = mac[-1] & 15
print('%06d' % ((struct.unpack('>I', mac[offset:offset + 4])[0] & 0x7fffffff) % 1000000))
EOF
}

# The README's blocks follow.
