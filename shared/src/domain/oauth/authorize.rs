//! The authorization request (RFC 6749 §4.1.1 with PKCE, RFC 7636): a signed-in user lets an
//! app act for them; the answer is a single-use code bound to the app, the redirect URI, the
//! scopes and the PKCE challenge.

use serde::{Deserialize, Serialize};

use super::apps::{self, OAuthApp};
use super::grants;
use super::scopes::{Scope, Scopes};
use crate::clock::rfc3339;
use crate::crypto::{hash_secret, random_token};
use crate::domain::identity::User;
use crate::domain::RequestMeta;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, WriteOp, TTL};

/// How long a code can be exchanged (the reference: always 600 seconds).
pub const CODE_TTL_SECONDS: i64 = 600;

/// The query of `GET /api/oauth/authorize`, as sent.
#[derive(Debug, Default, Deserialize)]
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
}

pub struct AuthorizationGranted {
    pub code: String,
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
fn may_authorize(app: &OAuthApp, user: &User) -> ApiResult<()> {
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

/// Checks the request against the app and issues a code; records (or renews) the grant.
pub async fn authorize(
    state: &AppState,
    user: &User,
    req: AuthorizationRequest,
    meta: &RequestMeta,
) -> ApiResult<AuthorizationGranted> {
    let app = apps::by_client_id(state.table.as_ref(), &req.client_id)
        .await?
        .ok_or_else(|| bad("invalid_client", "Unknown client_id"))?;
    // The redirect URI first: nothing may ever go to one the app did not register.
    let redirect_uri = registered_redirect_uri(&app, req.redirect_uri.as_deref())?;
    if req.response_type != "code" {
        return Err(bad(
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    let challenge = pkce_challenge(req.code_challenge, req.code_challenge_method.as_deref())?;
    if req.state.as_ref().is_some_and(|s| s.len() > 1024) {
        return Err(bad(
            "invalid_request",
            "state is longer than 1024 characters",
        ));
    }
    let scopes = requested_scopes(&app, req.scope.as_deref())?;
    may_authorize(&app, user)?;

    grants::record(state, &user.id, &app, &scopes, meta).await?;
    let code = format!("bac_{}", random_token());
    let record = AuthorizationCode {
        app_id: app.id.clone(),
        client_id: app.client_id.clone(),
        user_id: user.id.clone(),
        redirect_uri: redirect_uri.clone(),
        scopes,
        code_challenge: challenge,
        created_at: rfc3339(state.now()),
        redeemed: false,
        family_id: None,
        credential_generation: user.credential_generation,
        session_generation: user.session_generation,
        app_generation: app.generation,
    };
    let mut item = store::to_item(&keys::authorization_code(&hash_secret(&code)), &record)?;
    item.insert(TTL.into(), (state.now_unix() + CODE_TTL_SECONDS).into());
    state.table.write(vec![WriteOp::put_new(item)]).await?;
    Ok(AuthorizationGranted {
        code,
        expires_in: CODE_TTL_SECONDS,
        redirect_uri,
        state: req.state,
    })
}
