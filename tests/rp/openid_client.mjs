// A relying party written with an off-the-shelf OpenID Connect client (npm `openid-client` v6,
// unmodified) against a running Buddo: discovery, authorization code + PKCE with state and
// nonce through the hosted sign-in and consent pages, the code exchange with ID token
// validation, userinfo, refresh, silent re-authorization and RP-initiated logout.
//
// The browser is a tiny user agent (fetch with a cookie jar): it follows redirects itself,
// fills the pages' plain HTML forms (email, password, TOTP code; "allow" on the consent page)
// and stops at the redirect to the redirect URI, whose URL it hands to the library.
//
// Usage (openid-client is installed by tests/run.sh in $BUDDO_TEST_OPENID_CLIENT_DIR):
//   node --import "$BUDDO_TEST_OPENID_CLIENT_DIR/resolve.mjs" tests/rp/openid_client.mjs \
//     ISSUER CLIENT_ID CLIENT_SECRET REDIRECT_URI POST_LOGOUT_REDIRECT_URI EMAIL PASSWORD
// or the same seven as environment variables of those names. Optional environment:
//   SCOPE (default "openid"), TOTP_SECRET (base32, for an account with TOTP) or TOTP_CODE,
//   ID_TOKEN_ALG (the alg the client is registered for; default: any the issuer lists).
// Prints one JSON line of what it saw; exits 1 with a message on any failed expectation.
import * as client from 'openid-client';
import { createHmac } from 'node:crypto';

const NAMES = [
  'ISSUER',
  'CLIENT_ID',
  'CLIENT_SECRET',
  'REDIRECT_URI',
  'POST_LOGOUT_REDIRECT_URI',
  'EMAIL',
  'PASSWORD',
];

class Failure extends Error {}

function expect(ok, message, detail) {
  if (!ok) {
    throw new Failure(detail === undefined ? message : `${message}: ${JSON.stringify(detail)}`);
  }
}

function settings() {
  const argv = process.argv.slice(2);
  const out = {};
  NAMES.forEach((name, i) => {
    out[name] = argv[i] ?? process.env[name];
  });
  const missing = NAMES.filter((name) => !out[name]);
  if (missing.length) {
    throw new Failure(
      `missing ${missing.join(', ')}: usage: openid_client.mjs ${NAMES.join(' ')} (or as environment variables)`,
    );
  }
  out.SCOPE = process.env.SCOPE || 'openid';
  out.TOTP_SECRET = process.env.TOTP_SECRET || '';
  out.TOTP_CODE = process.env.TOTP_CODE || '';
  out.ID_TOKEN_ALG = process.env.ID_TOKEN_ALG || '';
  return out;
}

// ----------------------------------------------------------------- TOTP --
function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of text.replace(/[\s=]/g, '').toUpperCase()) {
    const v = alphabet.indexOf(ch);
    expect(v >= 0, 'TOTP_SECRET is not base32', text);
    bits += v.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

// RFC 6238 with the common parameters (SHA-1, 6 digits, 30 s).
function totp(secret, now = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(now / 1000 / 30)));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  const code = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(code).padStart(6, '0');
}

// ------------------------------------------------------------ user agent --
const ENTITIES = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", '#39': "'" };

function decode(text) {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z0-9]+);/gi, (all, name) => {
    if (name[0] === '#') {
      const code = name[1].toLowerCase() === 'x' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return String.fromCodePoint(code);
    }
    return ENTITIES[name.toLowerCase()] ?? all;
  });
}

function attributes(text) {
  const out = {};
  const re = /([^\s=/"'>]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>"']+)))?/g;
  let m;
  while ((m = re.exec(text))) {
    out[m[1].toLowerCase()] = decode(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return out;
}

function stripTags(html) {
  return decode(html.replace(/<[^>]*>/g, ' ')).replace(/\s+/g, ' ').trim();
}

// The page's forms: method, action, every named input (hidden ones included) and the buttons.
function parseForms(html) {
  const forms = [];
  let form = null;
  const re = /<(\/?)(form|input|button|textarea|select|option)\b([^>]*)>/gi;
  let m;
  while ((m = re.exec(html))) {
    const [, closing, tag, rest] = m;
    const name = tag.toLowerCase();
    if (name === 'form') {
      if (closing) {
        form = null;
      } else {
        const a = attributes(rest);
        form = { method: (a.method || 'get').toLowerCase(), action: a.action ?? '', fields: [], buttons: [] };
        forms.push(form);
      }
      continue;
    }
    if (!form || closing) continue;
    const a = attributes(rest);
    if (name === 'input') {
      const type = (a.type || 'text').toLowerCase();
      if (type === 'submit' || type === 'image') {
        form.buttons.push({ id: a.id, name: a.name, value: a.value ?? '' });
      } else if (a.name && !('disabled' in a) && !((type === 'checkbox' || type === 'radio') && !('checked' in a))) {
        form.fields.push({ name: a.name, value: a.value ?? '', type });
      }
    } else if (name === 'button') {
      const type = (a.type || 'submit').toLowerCase();
      if (type === 'submit') form.buttons.push({ id: a.id, name: a.name, value: a.value ?? '' });
    } else if (name === 'textarea' && a.name) {
      const end = html.toLowerCase().indexOf('</textarea>', re.lastIndex);
      form.fields.push({ name: a.name, value: decode(html.slice(re.lastIndex, end < 0 ? undefined : end)), type: 'textarea' });
    }
  }
  return forms;
}

function alerts(html) {
  const out = [];
  const re = /<([a-z0-9]+)\b[^>]*\brole\s*=\s*["']?alert["']?[^>]*>([\s\S]*?)<\/\1>/gi;
  let m;
  while ((m = re.exec(html))) {
    const text = stripTags(m[2]);
    if (text) out.push(text);
  }
  return out;
}

class UserAgent {
  constructor(base, login) {
    this.origin = new URL(base).origin;
    this.login = login;
    this.jar = new Map();
    this.pages = []; // the kinds of form filled in: signin, totp, consent
  }

  cookieHeader() {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  store(url, response) {
    const secure = new URL(url).protocol === 'https:';
    for (const line of response.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const flags = Object.fromEntries(
        attrs.map((a) => {
          const i = a.indexOf('=');
          return i < 0 ? [a.toLowerCase(), ''] : [a.slice(0, i).toLowerCase(), a.slice(i + 1)];
        }),
      );
      expect('httponly' in flags, `cookie ${name} from ${url} is not HttpOnly`, line);
      expect((flags.samesite || '').toLowerCase() === 'lax', `cookie ${name} from ${url} is not SameSite=Lax`, line);
      if (secure) {
        expect(name.startsWith('__Host-'), `cookie ${name} over https lacks the __Host- prefix`, line);
      }
      const expired =
        flags['max-age'] !== undefined ? Number(flags['max-age']) <= 0 : flags.expires !== undefined && Date.parse(flags.expires) <= Date.now();
      if (expired) this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  async request(url, { method = 'GET', form } = {}) {
    const headers = { accept: 'text/html,application/json;q=0.9,*/*;q=0.8' };
    if (new URL(url).origin === this.origin && this.jar.size) headers.cookie = this.cookieHeader();
    let body;
    if (form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.origin = this.origin;
      body = new URLSearchParams(form).toString();
    }
    const response = await fetch(url, { method, headers, body, redirect: 'manual' });
    if (new URL(url).origin === this.origin) this.store(url, response);
    const text = await response.text();
    return { url, status: response.status, headers: response.headers, text };
  }

  checkPage(page) {
    const csp = page.headers.get('content-security-policy') || '';
    expect(/frame-ancestors\s+'none'/.test(csp), `${page.url} lacks Content-Security-Policy frame-ancestors 'none'`, csp);
  }

  // The form to submit on this page, filled in, and the button to press.
  fill(page) {
    const forms = parseForms(page.text).filter((f) => f.method === 'post');
    expect(forms.length > 0, `no <form method="post"> at ${page.url} (status ${page.status})`, page.text.slice(0, 400));
    const form = forms.find((f) => f.buttons.some((b) => b.name === 'decision')) ?? forms[0];
    const names = new Set(form.fields.map((f) => f.name));
    const values = form.fields.map((f) => [f.name, f.value]);
    const set = (name, value) => {
      for (const entry of values) if (entry[0] === name) entry[1] = value;
    };
    let kind;
    let button;
    if (form.buttons.some((b) => b.name === 'decision')) {
      kind = 'consent';
      button = form.buttons.find((b) => b.name === 'decision' && b.value === 'allow');
      expect(button && button.id === 'allow', `the consent page at ${page.url} has no decision=allow button with id="allow"`, form.buttons);
      expect(
        form.buttons.some((b) => b.name === 'decision' && b.value === 'deny' && b.id === 'deny'),
        `the consent page at ${page.url} has no decision=deny button with id="deny"`,
        form.buttons,
      );
    } else if (names.has('code')) {
      kind = 'totp';
      const code = this.login.totpCode || (this.login.totpSecret ? totp(this.login.totpSecret) : '');
      expect(code, `${page.url} asks for a TOTP code: set TOTP_SECRET or TOTP_CODE`);
      set('code', code);
    } else if (names.has('email') && names.has('password')) {
      kind = 'signin';
      set('email', this.login.email);
      set('password', this.login.password);
    } else {
      throw new Failure(`an unexpected form at ${page.url}: fields ${[...names].join(', ')}`);
    }
    expect(names.has('csrf_token'), `the ${kind} form at ${page.url} has no csrf_token field`, [...names]);
    if (!button) {
      button = form.buttons.find((b) => b.id === 'submit');
      expect(button, `the ${kind} form at ${page.url} has no submit button with id="submit"`, form.buttons);
    }
    if (button.name) values.push([button.name, button.value]);
    const action = new URL(form.action || page.url, page.url).href;
    this.pages.push(kind);
    return { kind, action, values };
  }

  // From `url` (the authorization URL) through the pages to the redirect to `stopAt`; returns
  // that redirect's URL without following it.
  async walk(url, stopAt) {
    let page = await this.request(url);
    let posted = null; // the kind of form `page` answers, when it answers a POST
    for (let step = 0; step < 25; step += 1) {
      if ([301, 302, 303, 307, 308].includes(page.status)) {
        const location = page.headers.get('location');
        expect(location, `${page.status} without Location from ${page.url}`);
        const next = new URL(location, page.url).href;
        if (next.startsWith(stopAt)) return next;
        expect(new URL(next).origin === this.origin, `redirected off the issuer to ${next}`);
        expect(!posted || page.status === 303 || page.status === 302, `the ${posted} form was answered ${page.status}, not 303`);
        posted = null;
        page = await this.request(next);
        continue;
      }
      // Every accepted form answers with a redirect: a page in answer to a POST is a refusal.
      expect(!posted, `the ${posted} form was refused at ${page.url} (status ${page.status})`, alerts(page.text).join(' / ') || page.text.slice(0, 400));
      expect(page.status === 200, `${page.url} answered ${page.status}`, page.text.slice(0, 600));
      this.checkPage(page);
      const { kind, action, values } = this.fill(page);
      posted = kind;
      page = await this.request(action, { method: 'POST', form: values });
    }
    throw new Failure(`no redirect to ${stopAt} after 25 steps: ${this.pages.join(' -> ')}`);
  }
}

// ------------------------------------------------------------------- flow --
async function authorize(config, s, ua) {
  const verifier = client.randomPKCECodeVerifier();
  const challenge = await client.calculatePKCECodeChallenge(verifier);
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: s.REDIRECT_URI,
    scope: s.SCOPE,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state,
    nonce,
  });
  return { url, verifier, state, nonce };
}

async function main() {
  const s = settings();
  const issuer = new URL(s.ISSUER);
  const metadata = s.ID_TOKEN_ALG ? { client_secret: s.CLIENT_SECRET, id_token_signed_response_alg: s.ID_TOKEN_ALG } : s.CLIENT_SECRET;
  const config = await client.discovery(issuer, s.CLIENT_ID, metadata, client.ClientSecretBasic(s.CLIENT_SECRET), {
    execute: issuer.protocol === 'http:' ? [client.allowInsecureRequests] : [],
  });
  const server = config.serverMetadata();
  expect(server.issuer === s.ISSUER.replace(/\/$/, ''), 'discovery names another issuer', server.issuer);
  expect(server.authorization_endpoint === `${server.issuer}/oauth/authorize`, 'authorization_endpoint', server.authorization_endpoint);
  expect(server.token_endpoint === `${server.issuer}/api/oauth/token`, 'token_endpoint', server.token_endpoint);
  expect(server.userinfo_endpoint === `${server.issuer}/oauth/userinfo`, 'userinfo_endpoint', server.userinfo_endpoint);
  expect(server.end_session_endpoint === `${server.issuer}/oauth/logout`, 'end_session_endpoint', server.end_session_endpoint);
  expect(server.code_challenge_methods_supported?.includes('S256'), 'S256 PKCE', server.code_challenge_methods_supported);
  expect(server.authorization_response_iss_parameter_supported === true, 'authorization_response_iss_parameter_supported');

  const ua = new UserAgent(s.ISSUER, {
    email: s.EMAIL,
    password: s.PASSWORD,
    totpSecret: s.TOTP_SECRET,
    totpCode: s.TOTP_CODE,
  });

  // 1. Sign in and consent, then the code exchange (state, nonce, iss, PKCE, ID token checked
  //    by the library).
  const first = await authorize(config, s, ua);
  const landing = await ua.walk(first.url.href, s.REDIRECT_URI);
  const pages = [...ua.pages];
  expect(pages.includes('signin'), 'the browser was never shown the sign-in page', pages);
  const landed = new URL(landing);
  expect(landed.searchParams.get('iss') === server.issuer, 'the authorization response names the issuer (iss)', landing);
  const tokens = await client.authorizationCodeGrant(config, landed, {
    pkceCodeVerifier: first.verifier,
    expectedState: first.state,
    expectedNonce: first.nonce,
    idTokenExpected: true,
  });
  const claims = tokens.claims();
  expect(claims, 'no ID token claims');
  expect(claims.iss === server.issuer, 'id_token iss', claims.iss);
  expect([claims.aud].flat().includes(s.CLIENT_ID), 'id_token aud', claims.aud);
  expect(claims.nonce === first.nonce, 'id_token nonce', claims.nonce);
  expect(typeof claims.sub === 'string' && claims.sub, 'id_token sub', claims.sub);
  expect(tokens.access_token?.startsWith('bat_'), 'the access token is a bat_ token', tokens.access_token?.slice(0, 8));
  expect(tokens.refresh_token, 'no refresh token');

  // 2. Userinfo for the same subject (the library checks sub against expectedSubject).
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  expect(userinfo.sub === claims.sub, 'userinfo sub', userinfo);

  // 3. Refresh: a new access token that works.
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  expect(refreshed.access_token && refreshed.access_token !== tokens.access_token, 'refresh gave no new access token');
  const again = await client.fetchUserInfo(config, refreshed.access_token, claims.sub);
  expect(again.sub === claims.sub, 'userinfo after refresh', again);
  const refreshedClaims = refreshed.claims();
  if (refreshedClaims) {
    expect(refreshedClaims.sub === claims.sub && refreshedClaims.iss === claims.iss, 'refreshed id_token names another user', refreshedClaims);
  }

  // 4. Signed in and consented: a new authorization goes straight back with a code.
  ua.pages = [];
  const second = await authorize(config, s, ua);
  const silent = new URL(await ua.walk(second.url.href, s.REDIRECT_URI));
  expect(ua.pages.length === 0, 'a second authorization showed pages again', ua.pages);
  expect(silent.searchParams.get('state') === second.state && silent.searchParams.get('code'), 'second authorization', silent.href);

  // 5. RP-initiated logout ends the browser session.
  const logoutState = client.randomState();
  const endSession = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: s.POST_LOGOUT_REDIRECT_URI,
    state: logoutState,
  });
  const out = await ua.request(endSession.href);
  expect(out.status === 303, `the end-session endpoint answered ${out.status}, not 303`, out.text.slice(0, 400));
  const back = new URL(out.headers.get('location') ?? '', endSession);
  expect(back.href.startsWith(s.POST_LOGOUT_REDIRECT_URI), 'logout went elsewhere', back.href);
  expect(back.searchParams.get('state') === logoutState, 'logout state', back.href);
  const third = await authorize(config, s, ua);
  const after = await ua.request(third.url.href);
  const signin = new URL(after.headers.get('location') ?? '', third.url);
  expect(after.status === 303 && signin.pathname === '/signin', 'after logout the authorization URL does not send the browser to /signin', {
    status: after.status,
    location: after.headers.get('location'),
  });

  console.log(
    JSON.stringify({
      id_token_claims: claims,
      userinfo,
      refreshed: true,
      refreshed_id_token: Boolean(refreshedClaims),
      scope: tokens.scope ?? null,
      pages,
      consent_shown: pages.includes('consent'),
      reauthorized_silently: true,
      logged_out: true,
    }),
  );
}

main().catch((error) => {
  let cause = '';
  try {
    cause = error?.cause ? ` (${JSON.stringify(error.cause)})` : '';
  } catch {
    cause = ` (${error.cause})`;
  }
  const detail = error instanceof Failure ? error.message : `${error?.name}: ${error?.message}${cause}`;
  console.error(`openid_client.mjs: ${detail}`);
  process.exit(1);
});
