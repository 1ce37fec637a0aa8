#!/usr/bin/env python3
"""A relying party written with an off-the-shelf OpenID Connect client (Python Authlib,
unmodified) against a running Buddo: discovery, authorization code + PKCE with state and nonce
through the hosted sign-in and consent pages, the code exchange with ID token validation
(signature against the JWKS from discovery, iss, aud, nonce, at_hash, expiry), userinfo,
refresh, silent re-authorization and RP-initiated logout.

Authlib's OpenID Connect client is the one its web-framework integrations assemble (Flask's
`FlaskOAuth2App` is `OAuth2Mixin, OpenIDMixin, BaseApp` over `requests_client.OAuth2Session`
plus the framework's session store); here it is assembled without a framework, the script
keeping the state, nonce and verifier the framework would keep.

The browser is a tiny user agent (a `requests.Session` and its cookie jar): it follows redirects
itself, fills the pages' plain HTML forms (email, password, TOTP code; "allow" on the consent
page) and stops at the redirect to the redirect URI, whose URL it hands to Authlib.

Usage (BUDDO_TEST_OAUTH_CLIENT_PYTHON is the Python with Authlib that tests/run.sh installs):
  "$BUDDO_TEST_OAUTH_CLIENT_PYTHON" tests/rp/authlib_oidc.py \\
    ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI POST_LOGOUT_REDIRECT_URI EMAIL PASSWORD
or the same seven as environment variables of those names. Optional environment:
  SCOPE (default "openid"), TOTP_SECRET (base32, for an account with TOTP) or TOTP_CODE.
Prints one JSON line of what it saw; exits 1 with a message on any failed expectation.
"""

import base64
import hashlib
import hmac
import json
import os
import struct
import sys
import time
from html.parser import HTMLParser
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import BaseApp, OAuth2Mixin, OpenIDMixin
from authlib.integrations.requests_client import OAuth2Session
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import JWSRegistry

NAMES = [
    "ISSUER",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "REDIRECT_URI",
    "POST_LOGOUT_REDIRECT_URI",
    "EMAIL",
    "PASSWORD",
]
REDIRECTS = (301, 302, 303, 307, 308)


class Failure(Exception):
    pass


def expect(ok, message, detail=None):
    if not ok:
        raise Failure(message if detail is None else f"{message}: {json.dumps(detail, default=str)}")


def settings():
    args = sys.argv[1:]
    out = {name: (args[i] if i < len(args) else os.environ.get(name, "")) for i, name in enumerate(NAMES)}
    missing = [name for name in NAMES if not out[name]]
    if missing:
        raise Failure(f"missing {', '.join(missing)}: usage: authlib_oidc.py {' '.join(NAMES)} (or as environment variables)")
    out["SCOPE"] = os.environ.get("SCOPE") or "openid"
    out["TOTP_SECRET"] = os.environ.get("TOTP_SECRET", "")
    out["TOTP_CODE"] = os.environ.get("TOTP_CODE", "")
    return out


def totp(secret, now=None):
    """RFC 6238 with the common parameters (SHA-1, 6 digits, 30 s)."""
    key = base64.b32decode(secret.replace(" ", "").upper() + "=" * (-len(secret.replace(" ", "")) % 8))
    counter = struct.pack(">Q", int((now or time.time()) // 30))
    mac = hmac.new(key, counter, hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    return f"{(struct.unpack('>I', mac[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


# ------------------------------------------------------------ user agent --
class Forms(HTMLParser):
    """The page's forms (method, action, named fields incl. hidden ones, submit buttons) and the
    text of its role="alert" elements."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self.form = None
        self.alerts = []
        self._alert_depth = 0
        self._alert_tag = None
        self._alert_text = []
        self._textarea = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if self._alert_depth:
            if tag == self._alert_tag:
                self._alert_depth += 1
        elif a.get("role") == "alert":
            self._alert_tag, self._alert_depth, self._alert_text = tag, 1, []
        if tag == "form":
            self.form = {"method": a.get("method", "get").lower(), "action": a.get("action", ""), "fields": [], "buttons": []}
            self.forms.append(self.form)
        elif self.form is None:
            return
        elif tag == "input":
            kind = a.get("type", "text").lower()
            if kind in ("submit", "image"):
                self.form["buttons"].append({"id": a.get("id"), "name": a.get("name"), "value": a.get("value", "")})
            elif a.get("name") and "disabled" not in a and not (kind in ("checkbox", "radio") and "checked" not in a):
                self.form["fields"].append([a["name"], a.get("value", "")])
        elif tag == "button" and a.get("type", "submit").lower() == "submit":
            self.form["buttons"].append({"id": a.get("id"), "name": a.get("name"), "value": a.get("value", "")})
        elif tag == "textarea" and a.get("name"):
            self._textarea = [a["name"], ""]
            self.form["fields"].append(self._textarea)

    def handle_endtag(self, tag):
        if tag == "form":
            self.form = None
        elif tag == "textarea":
            self._textarea = None
        if self._alert_depth and tag == self._alert_tag:
            self._alert_depth -= 1
            if not self._alert_depth:
                text = " ".join("".join(self._alert_text).split())
                if text:
                    self.alerts.append(text)

    def handle_data(self, data):
        if self._alert_depth:
            self._alert_text.append(data)
        if self._textarea is not None:
            self._textarea[1] += data


def parse(html):
    forms = Forms()
    forms.feed(html)
    forms.close()
    return forms


class UserAgent:
    def __init__(self, base, email, password, totp_secret="", totp_code=""):
        self.origin = "{0.scheme}://{0.netloc}".format(urlsplit(base))
        self.secure = urlsplit(base).scheme == "https"
        self.login = {"email": email, "password": password, "totp_secret": totp_secret, "totp_code": totp_code}
        self.http = requests.Session()
        self.http.headers["Accept"] = "text/html,application/json;q=0.9,*/*;q=0.8"
        self.pages = []  # the kinds of form filled in: signin, totp, consent

    def request(self, method, url, data=None):
        headers = {"Origin": self.origin} if data is not None else {}
        resp = self.http.request(method, url, data=data, headers=headers, allow_redirects=False, timeout=20)
        if url.startswith(self.origin):
            self.check_cookies(resp)
        return resp

    def check_cookies(self, resp):
        for cookie in resp.cookies:
            line = f"{cookie.name} from {resp.url}"
            rest = {k.lower(): v for k, v in cookie._rest.items()}
            expect("httponly" in rest, f"cookie {line} is not HttpOnly")
            same_site = rest.get("samesite")
            expect((same_site or "").lower() == "lax", f"cookie {line} is not SameSite=Lax", same_site)
            if self.secure:
                expect(cookie.name.startswith("__Host-"), f"cookie {line} over https lacks the __Host- prefix")

    def fill(self, resp):
        page = parse(resp.text)
        forms = [f for f in page.forms if f["method"] == "post"]
        expect(forms, f"no <form method=\"post\"> at {resp.url} (status {resp.status_code})", resp.text[:400])
        form = next((f for f in forms if any(b["name"] == "decision" for b in f["buttons"])), forms[0])
        fields = form["fields"]
        names = {name for name, _ in fields}

        def put(name, value):
            for field in fields:
                if field[0] == name:
                    field[1] = value

        button = None
        if any(b["name"] == "decision" for b in form["buttons"]):
            kind = "consent"
            button = next((b for b in form["buttons"] if b["name"] == "decision" and b["value"] == "allow"), None)
            expect(button and button["id"] == "allow", f"the consent page at {resp.url} has no decision=allow button with id=\"allow\"", form["buttons"])
            expect(
                any(b["name"] == "decision" and b["value"] == "deny" and b["id"] == "deny" for b in form["buttons"]),
                f"the consent page at {resp.url} has no decision=deny button with id=\"deny\"",
                form["buttons"],
            )
        elif "code" in names:
            kind = "totp"
            code = self.login["totp_code"] or (totp(self.login["totp_secret"]) if self.login["totp_secret"] else "")
            expect(code, f"{resp.url} asks for a TOTP code: set TOTP_SECRET or TOTP_CODE")
            put("code", code)
        elif "email" in names and "password" in names:
            kind = "signin"
            put("email", self.login["email"])
            put("password", self.login["password"])
        else:
            raise Failure(f"an unexpected form at {resp.url}: fields {sorted(names)}")
        expect("csrf_token" in names, f"the {kind} form at {resp.url} has no csrf_token field", sorted(names))
        if button is None:
            button = next((b for b in form["buttons"] if b["id"] == "submit"), None)
            expect(button, f"the {kind} form at {resp.url} has no submit button with id=\"submit\"", form["buttons"])
        data = [tuple(f) for f in fields]
        if button.get("name"):
            data.append((button["name"], button["value"]))
        self.pages.append(kind)
        return kind, urljoin(resp.url, form["action"] or resp.url), data

    def walk(self, url, stop_at):
        """From `url` (the authorization URL) through the pages to the redirect to `stop_at`;
        returns that redirect's URL without following it."""
        resp = self.request("GET", url)
        posted = None  # the kind of form `resp` answers, when it answers a POST
        for _ in range(25):
            if resp.status_code in REDIRECTS:
                location = resp.headers.get("Location")
                expect(location, f"{resp.status_code} without Location from {resp.url}")
                nxt = urljoin(resp.url, location)
                if nxt.startswith(stop_at):
                    return nxt
                expect(nxt.startswith(self.origin + "/"), f"redirected off the issuer to {nxt}")
                expect(not posted or resp.status_code in (302, 303), f"the {posted} form was answered {resp.status_code}, not 303")
                posted = None
                resp = self.request("GET", nxt)
                continue
            # Every accepted form answers with a redirect: a page in answer to a POST is a refusal.
            expect(not posted, f"the {posted} form was refused at {resp.url} (status {resp.status_code})", " / ".join(parse(resp.text).alerts) or resp.text[:400])
            expect(resp.status_code == 200, f"{resp.url} answered {resp.status_code}", resp.text[:600])
            csp = resp.headers.get("Content-Security-Policy", "")
            expect("frame-ancestors 'none'" in csp, f"{resp.url} lacks Content-Security-Policy frame-ancestors 'none'", csp)
            posted, action, data = self.fill(resp)
            resp = self.request("POST", action, data=data)
        raise Failure(f"no redirect to {stop_at} after 25 steps: {' -> '.join(self.pages)}")


# ------------------------------------------------------------------ client --
class OpenIDClient(OAuth2Mixin, OpenIDMixin, BaseApp):
    """Authlib's OpenID Connect client without a web framework."""

    client_cls = OAuth2Session

    def _on_update_token(self, token, refresh_token=None, access_token=None):
        pass  # no framework session to store refreshed tokens in: the script keeps them


def query(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def main():
    s = settings()
    issuer = s["ISSUER"].rstrip("/")
    oidc = OpenIDClient(
        None,
        name="buddo",
        client_id=s["CLIENT_ID"],
        client_secret=s["CLIENT_SECRET"],
        server_metadata_url=f"{issuer}/.well-known/openid-configuration",
        client_kwargs={
            "scope": s["SCOPE"],
            "code_challenge_method": "S256",
            "token_endpoint_auth_method": "client_secret_basic",
        },
    )
    meta = oidc.load_server_metadata()
    expect(meta["issuer"] == issuer, "discovery names another issuer", meta["issuer"])
    for field, path in (
        ("authorization_endpoint", "/oauth/authorize"),
        ("token_endpoint", "/api/oauth/token"),
        ("userinfo_endpoint", "/oauth/userinfo"),
        ("end_session_endpoint", "/oauth/logout"),
    ):
        expect(meta.get(field) == issuer + path, field, meta.get(field))
    expect("S256" in meta.get("code_challenge_methods_supported", []), "S256 PKCE", meta.get("code_challenge_methods_supported"))
    expect(meta.get("authorization_response_iss_parameter_supported") is True, "authorization_response_iss_parameter_supported")

    ua = UserAgent(issuer, s["EMAIL"], s["PASSWORD"], s["TOTP_SECRET"], s["TOTP_CODE"])

    def authorize():
        # Authlib makes the PKCE verifier, state and nonce (scope includes openid).
        return oidc.create_authorization_url(redirect_uri=s["REDIRECT_URI"])

    # 1. Sign in and consent, then the code exchange and the ID token's validation.
    first = authorize()
    expect(first.get("nonce"), "Authlib made no nonce: is openid in SCOPE?", s["SCOPE"])
    landing = ua.walk(first["url"], s["REDIRECT_URI"])
    pages = list(ua.pages)
    expect("signin" in pages, "the browser was never shown the sign-in page", pages)
    params = query(landing)
    expect("error" not in params, "the authorization failed", params)
    expect(params.get("state") == first["state"], "state", params)
    expect(params.get("iss") == issuer, "the authorization response names the issuer (iss)", params)
    token = oidc.fetch_access_token(redirect_uri=s["REDIRECT_URI"], code=params["code"], code_verifier=first["code_verifier"])
    expect(token.get("token_type", "").lower() == "bearer", "token_type", token.get("token_type"))
    expect(token.get("access_token", "").startswith("bat_"), "the access token is a bat_ token", token.get("access_token", "")[:8])
    expect(token.get("refresh_token"), "no refresh token")
    expect(token.get("id_token"), "no id_token")
    # OpenIDMixin.parse_id_token: signature against the JWKS (jwks_uri), the algs the issuer
    # lists; CodeIDToken: iss, aud, exp, iat, nonce, at_hash.
    claims = dict(oidc.parse_id_token(token, nonce=first["nonce"]))
    expect(claims.get("iss") == issuer, "id_token iss", claims.get("iss"))
    aud = claims.get("aud")
    expect(s["CLIENT_ID"] in (aud if isinstance(aud, list) else [aud]), "id_token aud", aud)
    expect(claims.get("nonce") == first["nonce"], "id_token nonce", claims.get("nonce"))
    expect(isinstance(claims.get("sub"), str) and claims["sub"], "id_token sub", claims.get("sub"))

    # 2. Userinfo for the same subject.
    userinfo = dict(oidc.userinfo(token=token))
    expect(userinfo.get("sub") == claims["sub"], "userinfo sub", userinfo)

    # 3. Refresh: a new access token that works; a new ID token, if any, for the same user.
    with oidc._get_oauth_client(**meta) as session:
        refreshed = session.refresh_token(meta["token_endpoint"], refresh_token=token["refresh_token"])
    expect(refreshed.get("access_token") and refreshed["access_token"] != token["access_token"], "refresh gave no new access token")
    again = dict(oidc.userinfo(token=refreshed))
    expect(again.get("sub") == claims["sub"], "userinfo after refresh", again)
    refreshed_claims = None
    if refreshed.get("id_token"):
        keys = KeySet.import_key_set(oidc.fetch_jwk_set())
        decoded = jwt.decode(refreshed["id_token"], keys, registry=JWSRegistry(algorithms=meta.get("id_token_signing_alg_values_supported")))
        nonce = first["nonce"] if "nonce" in decoded.claims else None
        checked = CodeIDToken(
            decoded.claims,
            decoded.header,
            {"iss": {"values": [issuer]}},
            {"nonce": nonce, "client_id": s["CLIENT_ID"], "access_token": refreshed["access_token"]},
        )
        checked.validate(leeway=120)
        refreshed_claims = dict(checked)
        expect(refreshed_claims["sub"] == claims["sub"], "the refreshed id_token names another user", refreshed_claims)

    # 4. Signed in and consented: a new authorization goes straight back with a code.
    ua.pages = []
    second = authorize()
    silent = query(ua.walk(second["url"], s["REDIRECT_URI"]))
    expect(not ua.pages, "a second authorization showed pages again", ua.pages)
    expect(silent.get("state") == second["state"] and silent.get("code"), "second authorization", silent)

    # 5. RP-initiated logout ends the browser session.
    logout = oidc.create_logout_url(
        post_logout_redirect_uri=s["POST_LOGOUT_REDIRECT_URI"],
        id_token_hint=token["id_token"],
        state=generate_token(20),
    )
    out = ua.request("GET", logout["url"])
    expect(out.status_code == 303, f"the end-session endpoint answered {out.status_code}, not 303", out.text[:400])
    back = urljoin(logout["url"], out.headers.get("Location", ""))
    expect(back.startswith(s["POST_LOGOUT_REDIRECT_URI"]), "logout went elsewhere", back)
    expect(query(back).get("state") == logout["state"], "logout state", back)
    third = authorize()
    after = ua.request("GET", third["url"])
    signin = urlsplit(urljoin(third["url"], after.headers.get("Location", "")))
    expect(
        after.status_code == 303 and signin.path == "/signin",
        "after logout the authorization URL does not send the browser to /signin",
        {"status": after.status_code, "location": after.headers.get("Location")},
    )

    print(json.dumps({
        "id_token_claims": claims,
        "userinfo": userinfo,
        "refreshed": True,
        "refreshed_id_token": refreshed_claims is not None,
        "scope": token.get("scope"),
        "pages": pages,
        "consent_shown": "consent" in pages,
        "reauthorized_silently": True,
        "logged_out": True,
    }))


if __name__ == "__main__":
    try:
        main()
    except Failure as failure:
        sys.exit(f"authlib_oidc.py: {failure}")
    except Exception as error:  # a library's own refusal (bad signature, wrong nonce, HTTP error)
        sys.exit(f"authlib_oidc.py: {type(error).__name__}: {error}")
