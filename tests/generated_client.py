"""Uses a client that openapi-python-client generated from /api/openapi.json (package
`buddo_client`, on PYTHONPATH) the way an app developer would: a user registers, signs in,
fills in a profile and settings and finds someone by name; then an operator app takes the user
through authorization code + PKCE and reads their profile and points with its access token.

Usage: generated_client.py BASE_URL CLIENT_ID CLIENT_SECRET REDIRECT_URI FRIEND_USERNAME
Prints one JSON line of what it saw; exits non-zero on any surprise.
"""

import base64
import hashlib
import json
import secrets
import sys

from buddo_client import AuthenticatedClient, Client
from buddo_client.api.account import get_settings, update_profile, update_settings
from buddo_client.api.auth import login, me, register
from buddo_client.api.oauth import authorize, token
from buddo_client.api.operator import points, user
from buddo_client.api.users import search_users, user_by_name
from buddo_client.models import (
    AuthorizeCodeChallengeMethod,
    AuthorizeResponseType,
    LoginBody,
    ProfileBody,
    RegistrationBody,
    SettingsBody,
    ThemeView,
    TokenForm,
    TokenFormGrantType,
)


def expect(condition, what):
    if not condition:
        raise SystemExit(f"unexpected: {what}")


def main():
    base, client_id, client_secret, redirect_uri, friend = sys.argv[1:6]
    anonymous = Client(base_url=base)
    name = "gina_" + secrets.token_hex(4)
    password = "generated client secret " + secrets.token_hex(4)

    registered = register.sync_detailed(
        client=anonymous,
        body=RegistrationBody(email=f"{name}@example.com", username=name, password=password),
    )
    expect(registered.status_code == 201, registered.content)
    signed_in = login.sync(client=anonymous, body=LoginBody(email=f"{name}@example.com", password=password))
    expect(signed_in is not None and signed_in.user.username == name, signed_in)
    gina = AuthenticatedClient(base_url=base, token=signed_in.token)

    profile = update_profile.sync(client=gina, body=ProfileBody(display_name="Generated Gina", bio="Made by a generator"))
    expect(profile.display_name == "Generated Gina", profile)
    changed = update_settings.sync(client=gina, body=SettingsBody(theme=ThemeView.DARK, timezone="Europe/Lisbon"))
    expect(changed.timezone == "Europe/Lisbon", changed)
    settings = get_settings.sync(client=gina)
    me_now = me.sync(client=gina)
    expect(me_now.user.id == profile.id, me_now)

    found = search_users.sync(client=anonymous, q=friend[:4].upper())
    names = [u.username for u in found.users]
    public = user_by_name.sync(client=anonymous, username=friend)

    # An operator app: PKCE, a code for Gina, the exchange (client by HTTP Basic), the API.
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    granted = authorize.sync(
        client=gina,
        client_id=client_id,
        response_type=AuthorizeResponseType.CODE,
        redirect_uri=redirect_uri,
        scope="profile:read points:read",
        state="generated",
        code_challenge=challenge,
        code_challenge_method=AuthorizeCodeChallengeMethod.S256,
    )
    expect(granted.state == "generated", granted)
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    app = AuthenticatedClient(base_url=base, token=basic, prefix="Basic")
    tokens = token.sync(
        client=app,
        body=TokenForm(
            grant_type=TokenFormGrantType.AUTHORIZATION_CODE,
            code=granted.code,
            redirect_uri=redirect_uri,
            code_verifier=verifier,
        ),
    )
    expect(tokens is not None and tokens.access_token.startswith("bat_"), tokens)
    operator = AuthenticatedClient(base_url=base, token=tokens.access_token)
    seen = user.sync(client=operator)
    balance = points.sync(client=operator)

    print(json.dumps({
        "display_name": profile.display_name,
        "settings_theme": settings.theme.value,
        "search_found": friend in names,
        "public_username": public.username,
        "operator_user_id": seen.user.id,
        "user_id": profile.id,
        "points": balance.points,
        "scope": tokens.scope,
    }))


if __name__ == "__main__":
    main()
