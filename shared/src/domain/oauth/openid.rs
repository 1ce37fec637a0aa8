//! OpenID Connect (Core 1.0): the ID token of a code exchange, the claims each scope
//! releases, and RP-initiated logout's checks.
//!
//! ID tokens are signed RS256 unless the app asked for EdDSA
//! (`id_token_signed_response_alg`); the keys are the oauth group's own
//! ([`crate::id_token::IdTokenKeys`]), never the access tokens' key.

use serde::Serialize;
use serde_json::{Map, Value};

use super::apps::{self, OAuthApp};
use super::authorize::AuthorizationCode;
use super::scopes::{Scope, Scopes};
use crate::domain::identity::User;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How long an ID token is valid: it proves a sign-in that just happened.
const ID_TOKEN_TTL_SECONDS: i64 = 600;

/// An ID token's claims (OpenID Connect Core §2, §5.1).
#[derive(Serialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    azp: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    amr: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(flatten)]
    user: Map<String, Value>,
}

fn unix(rfc3339: &str) -> Option<i64> {
    time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|t| t.unix_timestamp())
}

/// The claims about `user` that `scopes` release (§5.4), `sub` always.
pub fn user_claims(user: &User, scopes: &Scopes) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("sub".into(), user.id.clone().into());
    if scopes.contains(Scope::Profile) {
        claims.insert("preferred_username".into(), user.username.clone().into());
        let name = user
            .display_name
            .clone()
            .unwrap_or_else(|| user.username.clone());
        claims.insert("name".into(), name.into());
        if let Some(picture) = &user.avatar_url {
            claims.insert("picture".into(), picture.clone().into());
        }
        let updated = user
            .profile_updated_at
            .as_deref()
            .unwrap_or(&user.created_at);
        if let Some(at) = unix(updated) {
            claims.insert("updated_at".into(), at.into());
        }
    }
    if scopes.contains(Scope::Email) {
        claims.insert("email".into(), user.email.clone().into());
        claims.insert("email_verified".into(), user.email_verified.into());
    }
    claims
}

/// The ID token of a code issued with the `openid` scope.
pub fn id_token(
    state: &AppState,
    app: &OAuthApp,
    user: &User,
    code: &AuthorizationCode,
    scopes: &Scopes,
) -> ApiResult<String> {
    let now = state.now_unix();
    let mut user_claims = user_claims(user, scopes);
    user_claims.remove("sub");
    let claims = IdTokenClaims {
        iss: &state.config.oauth.issuer,
        sub: &user.id,
        aud: &app.client_id,
        azp: &app.client_id,
        exp: now + ID_TOKEN_TTL_SECONDS,
        iat: now,
        auth_time: code.auth_time,
        nonce: code.nonce.as_deref(),
        amr: &code.amr,
        sid: code.sid.as_deref(),
        user: user_claims,
    };
    state
        .id_tokens
        .sign(app.oidc.id_token_signed_response_alg, &claims)
        .map_err(|e| ApiError::internal(format!("signing an ID token: {e}")))
}

/// What RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) may do once its
/// parameters are checked.
pub struct Logout {
    /// Where to send the browser afterwards (a registered `post_logout_redirect_uri`), with
    /// the request's `state`.
    pub redirect: Option<String>,
}

/// Checks a logout request: `post_logout_redirect_uri` is followed only when it is one the
/// app registered, the app known from a valid `id_token_hint` of ours (or `client_id`, which
/// must then agree with it). Anything else signs the browser out and shows a page: never an
/// open redirect.
pub async fn logout(
    state: &AppState,
    id_token_hint: Option<&str>,
    client_id: Option<&str>,
    post_logout_redirect_uri: Option<&str>,
    logout_state: Option<&str>,
) -> ApiResult<Logout> {
    let hint = match id_token_hint.filter(|h| !h.is_empty()) {
        Some(token) => Some(
            state
                .id_tokens
                .verify_hint(token, &state.config.oauth.issuer)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_request",
                        "id_token_hint is not an ID token of this server",
                    )
                })?,
        ),
        None => None,
    };
    let hinted_client = hint
        .as_ref()
        .and_then(|c| c["aud"].as_str())
        .map(str::to_string);
    let client = match (
        client_id.filter(|c| !c.is_empty()),
        hinted_client.as_deref(),
    ) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::bad_request(
                "invalid_request",
                "client_id does not match the id_token_hint",
            ))
        }
        (Some(a), _) => Some(a.to_string()),
        (None, b) => b.map(str::to_string),
    };
    let Some(uri) = post_logout_redirect_uri.filter(|u| !u.is_empty()) else {
        return Ok(Logout { redirect: None });
    };
    let app = match &client {
        Some(client_id) => apps::by_client_id(state.table.as_ref(), client_id).await?,
        None => None,
    };
    let registered =
        app.is_some_and(|app| app.oidc.post_logout_redirect_uris.iter().any(|r| r == uri));
    if !registered {
        return Err(ApiError::bad_request(
            "invalid_request",
            "post_logout_redirect_uri is not one the app registered",
        ));
    }
    let mut url = url::Url::parse(uri).map_err(|_| {
        ApiError::bad_request("invalid_request", "post_logout_redirect_uri is not a URL")
    })?;
    if let Some(s) = logout_state.filter(|s| !s.is_empty()) {
        url.query_pairs_mut().append_pair("state", s);
    }
    Ok(Logout {
        redirect: Some(url.to_string()),
    })
}
