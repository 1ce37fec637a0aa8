#!/usr/bin/env python3
"""An operator app, written with an off-the-shelf OAuth client (Authlib, unmodified), against a
running Buddo: authorization code + PKCE, code exchange, refresh, introspection, revocation.

The "browser" step is the one Buddo-specific part: the user's agent calls the JSON authorize URL
Authlib built, with the user's access token, and lands on the redirect URI with the code.

Usage: oauth_client.py BASE_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI USER_JWT
Prints one JSON line of what it saw; exits non-zero on any failed expectation.
"""
import json
import sys
from urllib.parse import urlencode

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session


def main() -> None:
    base, client_id, client_secret, redirect_uri, user_jwt = sys.argv[1:6]
    meta = requests.get(f"{base}/.well-known/oauth-authorization-server", timeout=10).json()
    assert meta["code_challenge_methods_supported"] == ["S256"], meta

    client = OAuth2Session(
        client_id,
        client_secret,
        scope="profile:read points:read",
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method="client_secret_basic",
    )
    verifier = generate_token(64)
    # The JSON authorization endpoint (the metadata names the hosted page browsers use).
    assert meta["authorization_endpoint"] == f"{base}/oauth/authorize", meta
    url, state = client.create_authorization_url(f"{base}/api/oauth/authorize", code_verifier=verifier)

    # The user's agent: authorize with the user's token, then "land" on the redirect URI.
    granted = requests.get(url, headers={"Authorization": f"Bearer {user_jwt}"}, timeout=10)
    assert granted.status_code == 200, granted.text
    granted = granted.json()
    assert granted["state"] == state and granted["redirect_uri"] == redirect_uri, granted
    landing = f"{redirect_uri}?{urlencode({'code': granted['code'], 'state': state})}"

    token = client.fetch_token(meta["token_endpoint"], authorization_response=landing, code_verifier=verifier)
    assert token["token_type"] == "Bearer" and token["refresh_token"], token
    assert token.get("session_token"), token

    def introspect(access_token: str) -> dict:
        resp = client.introspect_token(meta["introspection_endpoint"], token=access_token)
        assert resp.status_code == 200, resp.text
        return resp.json()

    first = introspect(token["access_token"])
    assert first["active"] is True and first["client_id"] == client_id, first

    refreshed = client.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["access_token"] != token["access_token"], refreshed
    assert introspect(refreshed["access_token"])["active"] is True

    revoked = client.revoke_token(meta["revocation_endpoint"], token=refreshed["refresh_token"], token_type_hint="refresh_token")
    assert revoked.status_code == 200, revoked.text
    after = introspect(refreshed["access_token"])
    assert after == {"active": False, "reason": "revoked"}, after

    print(json.dumps({
        "scope": token.get("scope"),
        "user_id": first["user_id"],
        "revoked_access_token": refreshed["access_token"],
    }))


if __name__ == "__main__":
    main()
