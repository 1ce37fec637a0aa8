//! The response bodies of `/api/oauth/*` and `/.well-known/*`, in the shapes of the API
//! reference and of RFC 6749, 7662 and 8414.

use serde::Serialize;

use buddo_shared::clock::rfc3339;
use buddo_shared::domain::oauth::apps::{OAuthApp, ScopeRequest};
use buddo_shared::domain::oauth::tokens::{AccessTokenRecord, IssuedTokens};
use buddo_shared::domain::oauth::Scope;

/// The app object of the reference (`client_secret` only when it is created).
#[derive(Serialize)]
pub struct AppView<'a> {
    pub allowed_scopes: Vec<&'static str>,
    pub app_description: Option<&'a str>,
    pub app_name: &'a str,
    pub client_id: &'a str,
    pub id: &'a str,
    pub inserted_at: &'a str,
    pub is_approved: bool,
    pub logo_url: Option<&'a str>,
    pub redirect_uris: &'a [String],
    pub website_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<&'a str>,
}

impl<'a> AppView<'a> {
    pub fn new(app: &'a OAuthApp) -> Self {
        AppView {
            allowed_scopes: app.allowed_scopes.to_strings(),
            app_description: app.app_description.as_deref(),
            app_name: &app.app_name,
            client_id: &app.client_id,
            id: &app.id,
            inserted_at: &app.inserted_at,
            is_approved: app.is_approved,
            logo_url: app.logo_url.as_deref(),
            redirect_uris: &app.redirect_uris,
            website_url: app.website_url.as_deref(),
            client_secret: None,
        }
    }
}

#[derive(Serialize)]
pub struct AppEnvelope<'a> {
    pub app: AppView<'a>,
}

/// `GET /api/oauth/apps/{client_id}`: what anyone may know of an app.
#[derive(Serialize)]
pub struct PublicApp<'a> {
    pub client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub name: &'a str,
}

#[derive(Serialize)]
pub struct ScopeRequestView<'a> {
    pub id: &'a str,
    pub inserted_at: &'a str,
    pub requested_scopes: Vec<&'static str>,
    pub status: &'static str,
}

impl<'a> ScopeRequestView<'a> {
    pub fn new(request: &'a ScopeRequest) -> Self {
        ScopeRequestView {
            id: &request.id,
            inserted_at: &request.inserted_at,
            requested_scopes: request.requested_scopes.to_strings(),
            status: request.status.as_str(),
        }
    }
}

#[derive(Serialize)]
pub struct AuthorizationView {
    pub code: String,
    pub expires_in: i64,
    pub redirect_uri: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// The token response (RFC 6749 §5.1) with the reference's session token.
#[derive(Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    pub scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token_expires_at: Option<String>,
}

impl From<IssuedTokens> for TokenResponse {
    fn from(t: IssuedTokens) -> Self {
        let (session_token, session_token_expires_at) = match t.session {
            Some(s) => (Some(s.token), Some(s.expires_at)),
            None => (None, None),
        };
        TokenResponse {
            access_token: t.access_token,
            token_type: "Bearer",
            expires_in: t.expires_in,
            refresh_token: t.refresh_token,
            scope: t.scopes.to_param(),
            session_token,
            session_token_expires_at,
        }
    }
}

/// An active token (RFC 7662 §2.2, with the reference's fields).
#[derive(Serialize)]
pub struct ActiveToken<'a> {
    pub active: bool,
    pub app_id: &'a str,
    pub client_id: &'a str,
    pub user_id: &'a str,
    pub sub: &'a str,
    pub scopes: Vec<&'static str>,
    pub scope: String,
    pub token_type: &'static str,
    pub expires_at: String,
    pub exp: i64,
    pub iat: i64,
}

impl<'a> ActiveToken<'a> {
    pub fn new(record: &'a AccessTokenRecord) -> Self {
        let at = |unix| {
            rfc3339(
                time::OffsetDateTime::from_unix_timestamp(unix)
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
            )
        };
        ActiveToken {
            active: true,
            app_id: &record.app_id,
            client_id: &record.client_id,
            user_id: &record.user_id,
            sub: &record.user_id,
            scopes: record.scopes.to_strings(),
            scope: record.scopes.to_param(),
            token_type: "Bearer",
            expires_at: at(record.expires_at),
            exp: record.expires_at,
            iat: record.issued_at,
        }
    }
}

/// An inactive token: `active: false` and why, nothing else.
#[derive(Serialize)]
pub struct InactiveToken {
    pub active: bool,
    pub reason: &'static str,
}

/// Authorization server metadata (RFC 8414 §2).
#[derive(Serialize)]
pub struct ServerMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub jwks_uri: String,
    pub response_types_supported: [&'static str; 1],
    pub grant_types_supported: [&'static str; 2],
    pub code_challenge_methods_supported: [&'static str; 1],
    pub token_endpoint_auth_methods_supported: [&'static str; 3],
    pub revocation_endpoint_auth_methods_supported: [&'static str; 3],
    pub introspection_endpoint_auth_methods_supported: [&'static str; 1],
    pub scopes_supported: Vec<&'static str>,
}

impl ServerMetadata {
    pub fn new(issuer: &str) -> Self {
        let url = |path: &str| format!("{issuer}{path}");
        let client_auth = ["client_secret_basic", "client_secret_post", "none"];
        ServerMetadata {
            issuer: issuer.to_string(),
            authorization_endpoint: url("/api/oauth/authorize"),
            token_endpoint: url("/api/oauth/token"),
            introspection_endpoint: url("/api/oauth/token/verify"),
            revocation_endpoint: url("/api/oauth/revoke"),
            jwks_uri: url("/.well-known/jwks.json"),
            response_types_supported: ["code"],
            grant_types_supported: ["authorization_code", "refresh_token"],
            code_challenge_methods_supported: ["S256"],
            token_endpoint_auth_methods_supported: client_auth,
            revocation_endpoint_auth_methods_supported: client_auth,
            introspection_endpoint_auth_methods_supported: ["none"],
            scopes_supported: Scope::ALL.iter().map(|s| s.as_str()).collect(),
        }
    }
}
