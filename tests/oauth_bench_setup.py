#!/usr/bin/env python3
"""Prepares a running Buddo for the OAuth and points load tests: a verified owner (an admin
through BUDDO_ADMIN_EMAILS) registers and approves an app (its points:spend request too), a
user authorizes it N times with PKCE and the codes are exchanged, and S more users, each given
a billion points, authorize it once. Prints JSON: client_id, client_secret, access_token,
refresh_tokens, spender_tokens.

Usage: oauth_bench_setup.py BASE_URL MAIL_DIR OWNER_EMAIL N [S]
MAIL_DIR is where the local server saves mail (<data dir>/mail).
"""
import base64
import hashlib
import json
import os
import re
import secrets
import sys
import time
import urllib.parse
import urllib.request


def call(method, url, body=None, token=None, form=False):
    data, headers = None, {}
    if body is not None:
        if form:
            data = urllib.parse.urlencode(body).encode()
            headers["content-type"] = "application/x-www-form-urlencoded"
        else:
            data = json.dumps(body).encode()
            headers["content-type"] = "application/json"
    if token:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    with urllib.request.urlopen(req, timeout=30) as resp:
        raw = resp.read()
        return json.loads(raw) if raw else None


def verification_token(mail_dir, email):
    for _ in range(100):
        for name in sorted(os.listdir(mail_dir)) if os.path.isdir(mail_dir) else []:
            text = open(os.path.join(mail_dir, name)).read()
            if f"To: {email}" in text:
                found = re.search(r"verify-email\?token=([A-Za-z0-9_-]+)", text)
                if found:
                    return found.group(1)
        time.sleep(0.1)
    raise SystemExit(f"no verification mail for {email} in {mail_dir}")


def main():
    base, mail_dir, owner, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    spenders = int(sys.argv[5]) if len(sys.argv) > 5 else 0
    password = "correct horse battery staple"
    call("POST", f"{base}/api/auth/register", {"email": owner, "username": "bench_owner", "password": password})
    call("POST", f"{base}/api/auth/verify-email", {"token": verification_token(mail_dir, owner)})
    owner_jwt = call("POST", f"{base}/api/auth/login", {"email": owner, "password": password})["token"]
    redirect = "https://bench.example/callback"
    app = call("POST", f"{base}/api/oauth/apps", {
        "app_name": "Bench", "redirect_uris": [redirect],
        "allowed_scopes": ["profile:read", "points:read", "points:spend"],
    }, owner_jwt)["app"]
    call("POST", f"{base}/api/admin/apps/{app['id']}/approve", token=owner_jwt)
    for request in call("GET", f"{base}/api/oauth/my-apps/{app['id']}/scope-requests", token=owner_jwt):
        if request["status"] == "pending":
            call("POST", f"{base}/api/admin/scope-requests/{request['id']}/approve", token=owner_jwt)

    def tokens_for(user_jwt):
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        query = urllib.parse.urlencode({
            "client_id": app["client_id"], "response_type": "code", "redirect_uri": redirect,
            "scope": "profile:read points:read points:spend", "code_challenge": challenge,
            "code_challenge_method": "S256",
        })
        code = call("GET", f"{base}/api/oauth/authorize?{query}", token=user_jwt)["code"]
        return call("POST", f"{base}/api/oauth/token", {
            "grant_type": "authorization_code", "client_id": app["client_id"], "client_secret": app["client_secret"],
            "code": code, "redirect_uri": redirect, "code_verifier": verifier,
        }, form=True)

    def new_user(i):
        email = f"bench-user-{i}@buddo.test"
        user = call("POST", f"{base}/api/auth/register", {"email": email, "username": f"bench_user_{i}", "password": password})["user"]
        call("POST", f"{base}/api/admin/users/{user['id']}/points", {"amount": 1_000_000_000, "reason": "bench"}, owner_jwt)
        return call("POST", f"{base}/api/auth/login", {"email": email, "password": password})["token"]

    user_jwt = new_user(0)
    access, refresh = None, []
    for _ in range(n):
        tokens = tokens_for(user_jwt)
        access = access or tokens["access_token"]
        refresh.append(tokens["refresh_token"])
    spender_tokens = [tokens_for(new_user(i))["access_token"] for i in range(1, spenders + 1)]
    print(json.dumps({
        "client_id": app["client_id"], "client_secret": app["client_secret"],
        "access_token": access, "refresh_tokens": refresh, "spender_tokens": spender_tokens,
    }))


if __name__ == "__main__":
    main()
