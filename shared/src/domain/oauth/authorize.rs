//! The authorization request (RFC 6749 §4.1.1 with PKCE, RFC 7636, and the OpenID Connect
//! parameters): a signed-in user lets an app act for them; the answer is a single-use code
//! bound to the app, the redirect URI, the scopes, the PKCE challenge and the sign-in.
//!
//! A request is checked once ([`check`]) whichever way it comes — the JSON endpoint, the
//! hosted page, or pushed beforehand (RFC 9126) — and a code is issued once ([`issue`]).

use serde::{Deserialize, Serialize};

use super::apps::{self, OAuthApp};
use super::grants;
use super::scopes::{Scope, Scopes};
use crate::clock::rfc3339;
use crate::crypto::{hash_secret, random_token};
use crate::domain::identity::sessions::Authenticated;
use crate::domain::identity::User;
use crate::domain::RequestMeta;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Table, WriteOp, TTL};

/// How long a code can be exchanged (the reference: always 600 seconds).
pub const CODE_TTL_SECONDS: i64 = 600;

/// How long a pushed request can be used (RFC 9126 §2.2: short).
pub const PUSHED_REQUEST_TTL_SECONDS: i64 = 90;

/// The prefix of a pushed request's `request_uri` (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// An authorization request's parameters, as sent.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct AuthorizationRequest {
    #[serde(default)]
    pub client_id: String,
    #[serde(default)]
    pub response_type: String,
    #[serde(default)]
    pub redirect_uri: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub code_challenge: Option<String>,
    #[serde(default)]
    pub code_challenge_method: Option<String>,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub max_age: Option<String>,
    #[serde(default)]
    pub login_hint: Option<String>,
    /// A request pushed beforehand (RFC 9126).
    #[serde(default)]
    pub request_uri: Option<String>,
}

/// What `prompt` asks of the sign-in and consent (OpenID Connect Core §3.1.2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prompt {
    /// `none`: no page may be shown; fail if one would be.
    #[serde(default)]
    pub none: bool,
    /// `login`: sign in again even with a live session.
    #[serde(default)]
    pub login: bool,
    /// `consent`: ask even when the user granted these scopes before.
    #[serde(default)]
    pub consent: bool,
}

impl Prompt {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut prompt = Prompt::default();
        for value in raw.unwrap_or("").split(' ').filter(|v| !v.is_empty()) {
            match value {
                "none" => prompt.none = true,
                "login" => prompt.login = true,
                "consent" => prompt.consent = true,
                "select_account" => {}
                _ => {
                    return Err(bad(
                        "invalid_request",
                        "prompt must be none, login or consent",
                    ))
                }
            }
        }
        if prompt.none && (prompt.login || prompt.consent) {
            return Err(bad(
                "invalid_request",
                "prompt=none cannot be combined with other values",
            ));
        }
        Ok(prompt)
    }
}

/// A request checked against its app: everything a code will be bound to.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckedRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub state: Option<String>,
    pub scopes: Scopes,
    pub code_challenge: String,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub prompt: Prompt,
    /// Seconds since the user last signed in beyond which they must sign in again.
    #[serde(default)]
    pub max_age: Option<i64>,
    #[serde(default)]
    pub login_hint: Option<String>,
    /// Set when the request was pushed (RFC 9126): the `request_uri` it is known by.
    #[serde(default)]
    pub request_uri: Option<String>,
}

/// A checked request with its app.
pub struct Checked {
    pub app: OAuthApp,
    pub request: CheckedRequest,
}

/// Why a request is refused, and where that is told.
#[derive(Debug)]
pub enum Refusal {
    /// The app or the redirect URI is not known: the user is told, never redirected (RFC 6749
    /// §4.1.2.1).
    Shown(ApiError),
    /// The app is told at its redirect URI, with the request's `state`.
    Redirected {
        error: ApiError,
        redirect_uri: String,
        state: Option<String>,
    },
}

impl Refusal {
    pub fn into_error(self) -> ApiError {
        match self {
            Refusal::Shown(error) | Refusal::Redirected { error, .. } => error,
        }
    }

    /// The error code of RFC 6749 §4.1.2.1 (and OpenID Connect Core §3.1.2.6) the app gets.
    pub fn oauth_code(error: &ApiError) -> &'static str {
        match error.describe().0 {
            "unsupported_response_type" => "unsupported_response_type",
            "invalid_scope" => "invalid_scope",
            "login_required" => "login_required",
            "consent_required" => "consent_required",
            "access_denied" | "app_suspended" | "app_not_approved" => "access_denied",
            "invalid_request_uri" => "invalid_request_uri",
            _ => "invalid_request",
        }
    }
}

pub struct AuthorizationGranted {
    pub code: String,
    /// The issuer, for the `iss` of the response (RFC 9207).
    pub iss: String,
    pub expires_in: i64,
    pub redirect_uri: String,
    pub state: Option<String>,
}

/// An issued code, stored by hash.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuthorizationCode {
    pub app_id: String,
    pub client_id: String,
    pub user_id: String,
    pub redirect_uri: String,
    pub scopes: Scopes,
    pub code_challenge: String,
    pub created_at: String,
    /// Set when the code is exchanged; a second exchange revokes what the first one got.
    #[serde(default)]
    pub redeemed: bool,
    #[serde(default)]
    pub family_id: Option<String>,
    /// The user's credentials and sessions when the code was issued: a password change or
    /// reset, a TOTP change, an email change or disabling the account kills the code.
    #[serde(default)]
    pub credential_generation: i64,
    #[serde(default)]
    pub session_generation: i64,
    /// The app's generation when the code was issued (see `OAuthApp::serves`).
    #[serde(default)]
    pub app_generation: i64,
    /// The sign-in behind the code, for the ID token: its login session, when the user
    /// proved who they are and how, and the app's `nonce`.
    #[serde(default)]
    pub sid: Option<String>,
    #[serde(default)]
    pub auth_time: i64,
    #[serde(default)]
    pub amr: Vec<String>,
    #[serde(default)]
    pub nonce: Option<String>,
}

impl AuthorizationCode {
    /// Whether the code was issued under the user's current credentials, to an enabled account.
    pub fn issued_under(&self, user: &User) -> bool {
        !user.disabled
            && user.credential_generation == self.credential_generation
            && user.session_generation == self.session_generation
    }
}

fn bad(code: &'static str, message: &'static str) -> ApiError {
    ApiError::bad_request(code, message)
}

/// A PKCE S256 challenge: BASE64URL(SHA-256(verifier)) without padding, 43 characters.
fn valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The redirect URI of a request: exactly one the app registered, or its only one when the
/// request names none.
fn registered_redirect_uri(app: &OAuthApp, asked: Option<&str>) -> ApiResult<String> {
    let registered = &app.shown.redirect_uris;
    match asked {
        Some(uri) if registered.iter().any(|r| r == uri) => Ok(uri.to_string()),
        Some(_) => Err(bad(
            "invalid_redirect_uri",
            "redirect_uri is not one the app registered (exact match)",
        )),
        None if registered.len() == 1 => Ok(registered[0].clone()),
        None => Err(bad(
            "invalid_redirect_uri",
            "The app has several redirect URIs: send redirect_uri",
        )),
    }
}

/// The PKCE challenge: required, S256 only (RFC 9700 §2.1.1).
fn pkce_challenge(challenge: Option<String>, method: Option<&str>) -> ApiResult<String> {
    let Some(challenge) = challenge.filter(|c| !c.is_empty()) else {
        return Err(bad(
            "invalid_request",
            "PKCE is required: send code_challenge and code_challenge_method=S256",
        ));
    };
    if method != Some("S256") {
        return Err(bad(
            "invalid_request",
            "code_challenge_method must be S256 (plain is not supported)",
        ));
    }
    if !valid_challenge(&challenge) {
        return Err(bad(
            "invalid_request",
            "code_challenge must be BASE64URL(SHA-256(code_verifier)), 43 characters",
        ));
    }
    Ok(challenge)
}

/// The scopes asked for, all within the app's.
fn requested_scopes(app: &OAuthApp, param: Option<&str>) -> ApiResult<Scopes> {
    let scopes = match param.map(str::trim).filter(|s| !s.is_empty()) {
        // No scope named: the narrowest useful default (RFC 6749 §3.3), never a scope that
        // moves points.
        None => Scopes::new([Scope::ProfileRead]),
        Some(param) => Scopes::from_param(param)
            .map_err(|_| bad("invalid_scope", "Unknown scope requested"))?,
    };
    if scopes.is_empty() || !scopes.is_subset(&app.allowed_scopes) {
        return Err(bad(
            "invalid_scope",
            "The requested scopes are not all allowed for this app",
        ));
    }
    Ok(scopes)
}

/// A suspended app is authorized by nobody; an app not approved yet only by its owner.
pub fn may_authorize(app: &OAuthApp, user: &User) -> ApiResult<()> {
    if app.suspended {
        return Err(ApiError::forbidden(
            "app_suspended",
            "This app was suspended by an admin",
        ));
    }
    if !app.is_approved && app.owner_id != user.id {
        return Err(ApiError::forbidden(
            "app_not_approved",
            "This app is not approved yet; only its owner can authorize it",
        ));
    }
    Ok(())
}

/// An optional text parameter: at most `max` characters.
fn bounded(name: &'static str, value: Option<String>, max: usize) -> ApiResult<Option<String>> {
    match value.filter(|v| !v.is_empty()) {
        Some(v) if v.chars().count() > max => Err(ApiError::bad_request(
            "invalid_request",
            format!("{name} is longer than {max} characters"),
        )),
        other => Ok(other),
    }
}

fn max_age(raw: Option<&str>) -> ApiResult<Option<i64>> {
    match raw.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse::<u32>()
            .map(|n| Some(i64::from(n)))
            .map_err(|_| bad("invalid_request", "max_age must be a number of seconds")),
    }
}

/// The checks every request passes once its app and redirect URI are known.
fn check_parameters(
    app: &OAuthApp,
    req: AuthorizationRequest,
    redirect_uri: String,
) -> ApiResult<CheckedRequest> {
    if req.response_type != "code" {
        return Err(bad(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    let code_challenge = pkce_challenge(req.code_challenge, req.code_challenge_method.as_deref())?;
    Ok(CheckedRequest {
        client_id: app.client_id.clone(),
        redirect_uri,
        state: bounded("state", req.state, 1024)?,
        scopes: requested_scopes(app, req.scope.as_deref())?,
        code_challenge,
        nonce: bounded("nonce", req.nonce, 512)?,
        prompt: Prompt::parse(req.prompt.as_deref())?,
        max_age: max_age(req.max_age.as_deref())?,
        login_hint: bounded("login_hint", req.login_hint, 254)?,
        request_uri: None,
    })
}

/// The app a request names, and its redirect URI: errors here are never redirected.
async fn app_and_redirect(
    table: &dyn Table,
    client_id: &str,
    redirect_uri: Option<&str>,
) -> Result<(OAuthApp, String), Refusal> {
    let app = apps::by_client_id(table, client_id)
        .await
        .map_err(Refusal::Shown)?
        .ok_or_else(|| Refusal::Shown(bad("invalid_client", "Unknown client_id")))?;
    // The redirect URI first: nothing may ever go to one the app did not register.
    let redirect_uri = registered_redirect_uri(&app, redirect_uri).map_err(Refusal::Shown)?;
    Ok((app, redirect_uri))
}

/// Checks a request against its app, or takes the pushed request it names.
pub async fn check(state: &AppState, req: AuthorizationRequest) -> Result<Checked, Refusal> {
    if let Some(uri) = req.request_uri.clone().filter(|u| !u.is_empty()) {
        return pushed(state, &req.client_id, &uri).await;
    }
    let (app, redirect_uri) = app_and_redirect(
        state.table.as_ref(),
        &req.client_id,
        req.redirect_uri.as_deref(),
    )
    .await?;
    let app_state = req.state.clone().filter(|s| s.len() <= 1024);
    let told = |error| Refusal::Redirected {
        error,
        redirect_uri: redirect_uri.clone(),
        state: app_state.clone(),
    };
    if app.oidc.require_pushed_authorization_requests {
        return Err(told(bad(
            "invalid_request",
            "This app sends its authorization requests by the pushed authorization request endpoint",
        )));
    }
    let request = check_parameters(&app, req, redirect_uri.clone()).map_err(told)?;
    Ok(Checked { app, request })
}

/// A pushed request's record.
#[derive(Serialize, Deserialize)]
struct PushedRequest {
    request: CheckedRequest,
    expires_at: i64,
}

/// Stores a request an authenticated client pushed (RFC 9126 §2); the answer is its
/// `request_uri`.
pub async fn push(
    state: &AppState,
    app: &OAuthApp,
    req: AuthorizationRequest,
) -> ApiResult<(String, i64)> {
    if req.request_uri.is_some() {
        return Err(bad(
            "invalid_request",
            "a pushed request cannot name a request_uri",
        ));
    }
    if !req.client_id.is_empty() && req.client_id != app.client_id {
        return Err(bad(
            "invalid_request",
            "client_id does not match the authenticated client",
        ));
    }
    let redirect_uri = registered_redirect_uri(app, req.redirect_uri.as_deref())?;
    let mut request = check_parameters(app, req, redirect_uri)?;
    let uri = format!("{REQUEST_URI_PREFIX}{}", random_token());
    request.request_uri = Some(uri.clone());
    let expires_at = state.now_unix() + PUSHED_REQUEST_TTL_SECONDS;
    let mut item = store::to_item(
        &keys::pushed_request(&hash_secret(&uri)),
        &PushedRequest {
            request,
            expires_at,
        },
    )?;
    item.insert(TTL.into(), expires_at.into());
    state.table.write(vec![WriteOp::put_new(item)]).await?;
    Ok((uri, PUSHED_REQUEST_TTL_SECONDS))
}

async fn pushed(state: &AppState, client_id: &str, uri: &str) -> Result<Checked, Refusal> {
    let unknown = || {
        Refusal::Shown(bad(
            "invalid_request_uri",
            "The request_uri is unknown, expired or for another client",
        ))
    };
    let item = state
        .table
        .get(&keys::pushed_request(&hash_secret(uri)))
        .await
        .map_err(|e| Refusal::Shown(e.into()))?
        .ok_or_else(unknown)?;
    let pushed: PushedRequest = store::from_item(item).map_err(|e| Refusal::Shown(e.into()))?;
    if pushed.expires_at <= state.now_unix() || pushed.request.client_id != client_id {
        return Err(unknown());
    }
    let app = apps::by_client_id(state.table.as_ref(), client_id)
        .await
        .map_err(Refusal::Shown)?
        .ok_or_else(unknown)?;
    Ok(Checked {
        app,
        request: pushed.request,
    })
}

/// Whether the user must sign in (again) before this request: `prompt=login`, or a sign-in
/// older than `max_age`.
pub fn needs_sign_in(
    state: &AppState,
    request: &CheckedRequest,
    auth: Option<&Authenticated>,
) -> bool {
    let Some(auth) = auth else { return true };
    if request.prompt.login {
        return true;
    }
    request
        .max_age
        .is_some_and(|max| state.now_unix() - auth.session.auth_time > max)
}

/// Whether the user must be asked: `prompt=consent`, or the scopes were not all granted to
/// this app before.
pub async fn needs_consent(state: &AppState, user: &User, checked: &Checked) -> ApiResult<bool> {
    if checked.request.prompt.consent {
        return Ok(true);
    }
    let grant = grants::get(state.table.as_ref(), &user.id, &checked.app.id).await?;
    Ok(!grant.is_some_and(|g| checked.request.scopes.is_subset(&g.scopes)))
}

/// Issues a code for a checked request the signed-in user allowed; records (or renews) the
/// grant.
pub async fn issue(
    state: &AppState,
    auth: &Authenticated,
    checked: Checked,
    meta: &RequestMeta,
) -> ApiResult<AuthorizationGranted> {
    let Checked { app, request } = checked;
    let user = &auth.user;
    may_authorize(&app, user)?;
    grants::record(state, &user.id, &app, &request.scopes, meta).await?;
    let code = format!("bac_{}", random_token());
    let record = AuthorizationCode {
        app_id: app.id.clone(),
        client_id: app.client_id.clone(),
        user_id: user.id.clone(),
        redirect_uri: request.redirect_uri.clone(),
        scopes: request.scopes,
        code_challenge: request.code_challenge,
        created_at: rfc3339(state.now()),
        redeemed: false,
        family_id: None,
        credential_generation: user.credential_generation,
        session_generation: user.session_generation,
        app_generation: app.generation,
        sid: Some(auth.session.id.clone()),
        auth_time: auth.session.auth_time,
        amr: auth.session.amr.clone(),
        nonce: request.nonce,
    };
    let mut item = store::to_item(&keys::authorization_code(&hash_secret(&code)), &record)?;
    item.insert(TTL.into(), (state.now_unix() + CODE_TTL_SECONDS).into());
    let mut ops = vec![WriteOp::put_new(item)];
    // A pushed request is used once.
    if let Some(uri) = &request.request_uri {
        ops.push(WriteOp::delete_existing(keys::pushed_request(
            &hash_secret(uri),
        )));
    }
    state
        .table
        .write(ops)
        .await
        .map_err(|e| match e.failed_key() {
            Some(_) => bad("invalid_request_uri", "The pushed request was already used"),
            None => e.into(),
        })?;
    Ok(AuthorizationGranted {
        code,
        iss: state.config.oauth.issuer.clone(),
        expires_in: CODE_TTL_SECONDS,
        redirect_uri: request.redirect_uri,
        state: request.state,
    })
}

/// The JSON authorization endpoint: a user signed in to the API authorizes an app.
pub async fn authorize(
    state: &AppState,
    auth: &Authenticated,
    req: AuthorizationRequest,
    meta: &RequestMeta,
) -> ApiResult<AuthorizationGranted> {
    let checked = check(state, req).await.map_err(Refusal::into_error)?;
    issue(state, auth, checked, meta).await
}
