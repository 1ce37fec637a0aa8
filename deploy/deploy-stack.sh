#!/usr/bin/env bash
# `sam deploy` of one stage, without questions, its parameters from the environment: what the
# Deploy workflow (.github/workflows/deploy.yml) runs after `sam build`, with the variables of
# its GitHub environment. Needs AWS credentials, the aws CLI, and sam as deploy/build.sh
# installs it.
#
#   STAGE                     staging or prod: the samconfig.toml environment (stack
#                             buddo-staging or buddo-prod) and the template's Stage
#   MAIL_FROM                 MailFrom, an SES-verified address
#   SIGNING_KEY_SECRET_ARN    SigningKeySecretArn
#   ID_TOKEN_KEYS_SECRET_ARN  IdTokenKeysSecretArn
#   JWT_PUBLIC_KEYS           JwtPublicKeys, the JWKS line of `buddo keygen`
#   PUBLIC_API_URL            PublicApiUrl; when empty, the stack's own ApiUrl without the
#                             trailing slash (a stack deployed for the first time is deployed
#                             twice: once to learn its ApiUrl, then with it)
#   PUBLIC_WEB_URL            PublicWebUrl; when empty, the PublicApiUrl (mail links then open
#                             the stack's own pages)
#   ALARM_TOPIC_ARN           AlarmTopicArn, passed only when set
#   RELEASE                   Release, a new label on every deploy (default: the commit and
#                             the time), so that Lambda publishes new versions even when
#                             only parameters changed
#
# Writes api-url=<the ApiUrl output> to $GITHUB_OUTPUT when that is set, and prints it.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=deploy/tools.sh
source "$REPO_ROOT/deploy/tools.sh"
cd "$REPO_ROOT"

log() { printf '[deploy/deploy-stack.sh] %s\n' "$*" >&2; }
die() {
    log "FAIL: $*"
    exit 1
}

case "${STAGE:-}" in
    staging | prod) ;;
    *) die "STAGE must be staging or prod, not '${STAGE:-}'" ;;
esac
STACK="buddo-$STAGE" # samconfig.toml's stack_name of the environment
for name in MAIL_FROM SIGNING_KEY_SECRET_ARN ID_TOKEN_KEYS_SECRET_ARN JWT_PUBLIC_KEYS; do
    [[ -n "${!name:-}" ]] || die "$name is not set (a variable of the GitHub environment)"
done
# SAM reads a value with double quotes (JSON) only inside single quotes.
[[ "$JWT_PUBLIC_KEYS" != *"'"* ]] || die "JWT_PUBLIC_KEYS must not contain a single quote"
RELEASE=${RELEASE:-$(git rev-parse --short HEAD 2>/dev/null || echo local)-$(date -u +%Y%m%dT%H%M%SZ)}

api_url() {
    aws cloudformation describe-stacks --stack-name "$STACK" \
        --query "Stacks[0].Outputs[?OutputKey=='ApiUrl'].OutputValue" --output text 2>/dev/null || true
}

deploy() {
    local api=$1 web=${PUBLIC_WEB_URL:-$1}
    local overrides=(
        "Stage=$STAGE"
        "MailFrom=$MAIL_FROM"
        "PublicWebUrl=$web"
        "PublicApiUrl=$api"
        "SigningKeySecretArn=$SIGNING_KEY_SECRET_ARN"
        "IdTokenKeysSecretArn=$ID_TOKEN_KEYS_SECRET_ARN"
        "JwtPublicKeys='$JWT_PUBLIC_KEYS'"
        "Release=$RELEASE"
    )
    [[ -z "${ALARM_TOPIC_ARN:-}" ]] || overrides+=("AlarmTopicArn=$ALARM_TOPIC_ARN")
    log "sam deploy --config-env $STAGE (stack $STACK, PublicApiUrl $api, PublicWebUrl $web)"
    sam deploy --config-env "$STAGE" --no-confirm-changeset --no-fail-on-empty-changeset \
        --parameter-overrides "${overrides[@]}"
}

public_api=${PUBLIC_API_URL:-}
if [[ -z "$public_api" ]]; then
    existing=$(api_url)
    if [[ -z "$existing" || "$existing" == None ]]; then
        log "no stack $STACK yet: a first deployment to learn its ApiUrl"
        deploy https://placeholder.invalid
        existing=$(api_url)
        [[ -n "$existing" && "$existing" != None ]] || die "the stack $STACK has no ApiUrl output"
    fi
    public_api=${existing%/}
fi
deploy "$public_api"

url=$(api_url)
[[ -n "$url" && "$url" != None ]] || die "the stack $STACK has no ApiUrl output"
log "ApiUrl: $url"
if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
    echo "api-url=$url" >>"$GITHUB_OUTPUT"
fi
echo "$url"
