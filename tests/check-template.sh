#!/usr/bin/env bash
# Lints the SAM template: `sam validate --lint` (cfn-lint included), offline. Then proves that
# every Rust function in the template builds the way `sam build` will ask for it, with only what
# its function runs, and that no function crate has a binary the template forgets:
#
#   * SAM's rust-cargolambda builder runs, for each function, in its CodeUri directory:
#         cargo lambda build --release --arm64 --bin <Metadata.BuildProperties.Binary>
#     (no -p: cargo builds the package of that directory, or the workspace's default members at
#     the root). Here the same selection runs as `cargo check --locked --bin <Binary>` in the
#     same directory, so it fails exactly when `sam build` would fail to find the binary, and
#     it compiles the binary with the features that build unifies, without a release/cross build.
#   * Lean binaries: `cargo tree` of that same selection (normal dependencies, arm64) must not
#     contain a crate the function may not link: redb (the embedded store) in none, rsa (RSA key
#     generation; webauthn-rs verifies RS256 passkeys with it) outside the auth and oauth
#     functions, aws-sdk-ses outside the mailer, oauth2 (the sign-in providers'
#     client) and aws-sdk-secretsmanager outside the
#     auth and oauth functions, aws-sdk-s3 and image (profile images) outside the user function,
#     webauthn-rs (passkeys) outside the auth and oauth functions. Cargo unifies the features of every package it selects, so a
#     CodeUri of `.` (every default member, the `buddo` binary's full features included) fails
#     here; so would a function crate that turns on more of buddo-shared than it runs.
#   * samconfig.toml must not turn on `sam build --cached`: SAM reuses a function's last build
#     while its CodeUri directory is unchanged, but a function's code also lives in shared/.
#   * Every [[bin]] of a workspace member under functions/ must be some function's Binary,
#     and every functions/*/Cargo.toml must be a workspace member.
#
# Installs aws-sam-cli into a venv under ${BUDDO_TOOLS_DIR:-~/.cache/buddo-tools} on first use
# (its PyYAML reads the template). Honours CARGO_TARGET_DIR.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="${BUDDO_TOOLS_DIR:-${HOME:-/tmp}/.cache/buddo-tools}"
SAM_VERSION="${BUDDO_SAM_VERSION:-1.170.0}"
SAM_DIR="$TOOLS_DIR/sam-$SAM_VERSION"

log() { printf '[tests/check-template.sh] %s\n' "$*" >&2; }

if [[ ! -x "$SAM_DIR/venv/bin/sam" ]]; then
    log "installing aws-sam-cli $SAM_VERSION into $SAM_DIR"
    mkdir -p "$SAM_DIR"
    python3 -m venv "$SAM_DIR/venv"
    "$SAM_DIR/venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
        "aws-sam-cli==$SAM_VERSION" >&2
fi

cd "$REPO_ROOT"
# Validation is local; the region only has to be set. No credentials are used.
AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 SAM_CLI_TELEMETRY=0 \
    "$SAM_DIR/venv/bin/sam" validate --lint --template template.yaml

log "checking that every rust-cargolambda Binary resolves as sam build selects it"
"$SAM_DIR/venv/bin/python" - "$REPO_ROOT" template.yaml <<'PY'
import json
import os
import re
import subprocess
import sys

import yaml

repo_root, template_path = sys.argv[1], sys.argv[2]
template_dir = os.path.dirname(os.path.join(repo_root, template_path))


def log(msg):
    print(f"[tests/check-template.sh] {msg}", file=sys.stderr, flush=True)


class TolerantLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short-form tags (!Ref, !GetAtt, !Sub ...) as plain data."""


def _any_tag(loader, _suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_mapping(node, deep=True)


TolerantLoader.add_multi_constructor("!", _any_tag)

with open(os.path.join(repo_root, template_path), encoding="utf-8") as f:
    template = yaml.load(f, Loader=TolerantLoader)

global_code_uri = ((template.get("Globals") or {}).get("Function") or {}).get("CodeUri")
problems = []
functions = []  # (logical id, CodeUri directory, Binary)
for logical_id, resource in (template.get("Resources") or {}).items():
    if not isinstance(resource, dict):
        continue
    if resource.get("Type") not in ("AWS::Serverless::Function", "AWS::Lambda::Function"):
        continue
    metadata = resource.get("Metadata") or {}
    build_props = metadata.get("BuildProperties") or {}
    if metadata.get("BuildMethod") != "rust-cargolambda" and "Binary" not in build_props:
        continue
    binary = build_props.get("Binary")
    if not isinstance(binary, str) or not binary:
        problems.append(
            f"{logical_id}: BuildMethod rust-cargolambda needs Metadata.BuildProperties.Binary "
            "(without it SAM builds every default binary and guesses which one to ship)"
        )
        continue
    code_uri = (resource.get("Properties") or {}).get("CodeUri", global_code_uri)
    if not isinstance(code_uri, str):
        problems.append(f"{logical_id}: CodeUri must be a local directory for a rust-cargolambda build, got {code_uri!r}")
        continue
    # No --base-dir: SAM resolves CodeUri against the template's directory.
    code_dir = os.path.normpath(os.path.join(template_dir, code_uri))
    if not os.path.isdir(code_dir):
        problems.append(f"{logical_id}: CodeUri {code_uri!r} is not a directory")
        continue
    functions.append((logical_id, code_dir, binary))

if not functions and not problems:
    problems.append("no rust-cargolambda function with Metadata.BuildProperties.Binary found in the template")

cargo_env = dict(os.environ, CARGO_TERM_COLOR=os.environ.get("CARGO_TERM_COLOR", "never"))

# Same package/bin selection as the builder's `cargo lambda build --release --arm64 --bin <Binary>`
# in the CodeUri directory, minus release and cross-compilation.
for logical_id, code_dir, binary in functions:
    rel = os.path.relpath(code_dir, repo_root)
    cmd = ["cargo", "check", "--locked", "--quiet", "--bin", binary]
    log(f"{logical_id}: (cd {rel} && {' '.join(cmd)})")
    result = subprocess.run(cmd, cwd=code_dir, env=cargo_env, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        problems.append(
            f"{logical_id}: `cargo check --bin {binary}` in CodeUri {rel!r} failed, so `sam build` "
            f"(`cargo lambda build --release --arm64 --bin {binary}` there) fails too. If cargo says "
            "'no bin target named ... in default-run packages', the package is missing from "
            "[workspace] default-members in Cargo.toml."
        )

# Lean binaries: the crates only some functions may link, and which.
ONLY_IN = {
    "redb": set(),
    # rsa: generating ID-token keys is the `buddo` binary's alone; webauthn-rs (passkeys) links a
    # 0.10 release candidate to verify RS256 passkey signatures, public-key operations only.
    "rsa": {"buddo-auth", "buddo-oauth"},
    "aws-sdk-ses": {"buddo-mailer"},
    "aws-sdk-secretsmanager": {"buddo-auth", "buddo-oauth"},
    "oauth2": {"buddo-auth", "buddo-oauth"},
    "aws-sdk-s3": {"buddo-user"},
    "image": {"buddo-user"},
    "webauthn-rs": {"buddo-auth", "buddo-oauth"},
}
for logical_id, code_dir, binary in functions:
    rel = os.path.relpath(code_dir, repo_root)
    cmd = ["cargo", "tree", "--locked", "--edges", "normal", "--target", "aarch64-unknown-linux-gnu",
           "--prefix", "none", "--format", "{p}"]
    result = subprocess.run(cmd, cwd=code_dir, env=cargo_env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, text=True)
    if result.returncode != 0:
        problems.append(f"{logical_id}: `cargo tree` in CodeUri {rel!r} failed")
        continue
    linked = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    extra = sorted(name for name, allowed in ONLY_IN.items() if name in linked and binary not in allowed)
    if extra:
        problems.append(
            f"{logical_id}: `sam build` of {binary} (in CodeUri {rel!r}) links {', '.join(extra)}, "
            "which this function does not run. A CodeUri of '.' builds with the features of every "
            "default member (the `buddo` binary's included): point CodeUri at the function's crate "
            "directory; otherwise check the buddo-shared features its Cargo.toml turns on."
        )
    else:
        log(f"{logical_id}: lean ({len(linked)} crates, none of {', '.join(n for n in ONLY_IN if binary not in ONLY_IN[n])})")

with open(os.path.join(repo_root, "samconfig.toml"), encoding="utf-8") as f:
    for number, line in enumerate(f, 1):
        if re.match(r"\s*cached\s*=\s*true\b", line):
            problems.append(
                f"samconfig.toml:{number}: `cached = true` makes `sam build` reuse a function's "
                "build while its CodeUri directory is unchanged, even when shared/ changed"
            )

# Every binary of a function crate must be deployed, and every function crate must be a member.
meta = subprocess.run(
    ["cargo", "metadata", "--no-deps", "--format-version", "1"],
    cwd=repo_root, env=cargo_env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, check=True,
)
metadata = json.loads(meta.stdout)
workspace_root = os.path.realpath(metadata["workspace_root"])
members = set(metadata["workspace_members"])
template_binaries = {binary for _, _, binary in functions}
bin_owners = {}
member_manifests = set()
for package in metadata["packages"]:
    if package["id"] not in members:
        continue
    manifest = os.path.realpath(package["manifest_path"])
    member_manifests.add(manifest)
    bins = [t["name"] for t in package["targets"] if "bin" in t["kind"]]
    for name in bins:
        bin_owners.setdefault(name, []).append(package["name"])
    if os.path.relpath(manifest, workspace_root).split(os.sep)[0] != "functions":
        continue
    for name in bins:
        if name not in template_binaries:
            problems.append(
                f"package {package['name']} ({os.path.relpath(manifest, workspace_root)}) has bin "
                f"{name!r} but no function in {template_path} builds it (Metadata.BuildProperties.Binary)"
            )

for name in sorted(template_binaries):
    owners = bin_owners.get(name, [])
    if len(owners) > 1:
        problems.append(
            f"bin {name!r} is defined by several workspace packages ({', '.join(sorted(owners))}); "
            "they overwrite each other in target/lambda/"
        )

functions_dir = os.path.join(workspace_root, "functions")
if os.path.isdir(functions_dir):
    for entry in sorted(os.listdir(functions_dir)):
        manifest = os.path.realpath(os.path.join(functions_dir, entry, "Cargo.toml"))
        if os.path.isfile(manifest) and manifest not in member_manifests:
            problems.append(f"functions/{entry} is not a workspace member (add it to [workspace] members and default-members)")

if problems:
    for problem in problems:
        log(f"FAIL: {problem}")
    sys.exit(1)
log(f"ok: {', '.join(f'{lid} -> {b}' for lid, _, b in functions)}")
PY
