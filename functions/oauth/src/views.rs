//! The response bodies of `/api/oauth/*` and `/.well-known/*`, in the shapes of the API
//! reference and of RFC 6749, 7662 and 8414.

use serde::Serialize;
use utoipa::openapi::schema::Object;
use utoipa::ToSchema;

use buddo_shared::clock::rfc3339;
use buddo_shared::domain::oauth::apps::{OAuthApp, Presentation, ScopeRequest};
use buddo_shared::domain::oauth::tokens::{AccessTokenRecord, IssuedTokens};
use buddo_shared::domain::oauth::Scope;
use buddo_shared::http::openapi::{always_false, always_true, one_of, scope_request_status};

/// `#[schema(schema_with = …)]`: why a token is inactive.
fn inactive_reason() -> Object {
    one_of(["invalid", "expired", "revoked"])
}

/// `#[schema(schema_with = …)]`: `Bearer`.
fn bearer() -> Object {
    one_of(["Bearer"])
}

/// The app object of the reference (`client_secret` only when it is created).
#[derive(Serialize, ToSchema)]
pub struct AppView {
    #[schema(schema_with = buddo_shared::http::openapi::scope_list)]
    pub allowed_scopes: Vec<&'static str>,
    #[schema(required = true)]
    pub app_description: Option<String>,
    pub app_name: String,
    /// The public identifier of the app as an OAuth client (`bci_…`).
    pub client_id: String,
    pub id: String,
    /// When the app was registered (RFC 3339).
    pub inserted_at: String,
    /// Whether an admin approved the app: until then only its owner can authorize it.
    pub is_approved: bool,
    #[schema(required = true)]
    pub logo_url: Option<String>,
    pub redirect_uris: Vec<String>,
    #[schema(required = true)]
    pub website_url: Option<String>,
    /// The client secret (`bcs_…`): only in the answer to the registration of a
    /// confidential app, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub client_secret: Option<String>,
    /// `none`: only for a public app, which has no secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "none")]
    pub token_endpoint_auth_method: Option<&'static str>,
    /// Only while an approved app's changes wait for an admin: the name, description, logo,
    /// web site and redirect URIs as they will be once approved (the fields above stay live
    /// until then).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub pending_changes: Option<PendingChanges>,
    /// Only when set: where RP-initiated logout may send the user afterwards.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    /// Only when `true`: the app sends its authorization requests by the pushed authorization
    /// request endpoint alone.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_pushed_authorization_requests: bool,
    /// Only when not the default `RS256`: how the app's ID tokens are signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "EdDSA")]
    pub id_token_signed_response_alg: Option<&'static str>,
}

/// An approved app's changes, waiting for an admin.
#[derive(Serialize, ToSchema)]
pub struct PendingChanges {
    pub app_name: String,
    #[schema(required = true)]
    pub app_description: Option<String>,
    #[schema(required = true)]
    pub logo_url: Option<String>,
    #[schema(required = true)]
    pub website_url: Option<String>,
    pub redirect_uris: Vec<String>,
}

impl PendingChanges {
    pub fn new(p: &Presentation) -> Self {
        PendingChanges {
            app_name: p.app_name.clone(),
            app_description: p.app_description.clone(),
            logo_url: p.logo_url.clone(),
            website_url: p.website_url.clone(),
            redirect_uris: p.redirect_uris.clone(),
        }
    }
}

impl AppView {
    pub fn new(app: &OAuthApp) -> Self {
        AppView {
            allowed_scopes: app.allowed_scopes.to_strings(),
            app_description: app.shown.app_description.clone(),
            app_name: app.shown.app_name.clone(),
            client_id: app.client_id.clone(),
            id: app.id.clone(),
            inserted_at: app.inserted_at.clone(),
            is_approved: app.is_approved,
            logo_url: app.shown.logo_url.clone(),
            redirect_uris: app.shown.redirect_uris.clone(),
            website_url: app.shown.website_url.clone(),
            client_secret: None,
            token_endpoint_auth_method: app
                .is_public()
                .then(|| app.token_endpoint_auth_method.as_str()),
            pending_changes: app.pending_changes.as_ref().map(PendingChanges::new),
            post_logout_redirect_uris: app.oidc.post_logout_redirect_uris.clone(),
            require_pushed_authorization_requests: app.oidc.require_pushed_authorization_requests,
            id_token_signed_response_alg: (app.oidc.id_token_signed_response_alg
                != Default::default())
            .then(|| app.oidc.id_token_signed_response_alg.as_str()),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AppEnvelope {
    pub app: AppView,
}

/// `GET /api/oauth/apps/{client_id}`: what anyone may know of an app.
#[derive(Serialize, ToSchema)]
pub struct PublicApp {
    pub client_id: String,
    /// Left out when the app has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub description: Option<String>,
    pub name: String,
}

/// A request of an app's owner for more scopes.
#[derive(Serialize, ToSchema)]
pub struct ScopeRequestView {
    pub id: String,
    /// When it was made (RFC 3339).
    pub inserted_at: String,
    #[schema(schema_with = buddo_shared::http::openapi::scope_list)]
    pub requested_scopes: Vec<&'static str>,
    /// `approved` at once when every scope asked for is review-free.
    #[schema(schema_with = scope_request_status)]
    pub status: &'static str,
}

impl ScopeRequestView {
    pub fn new(request: &ScopeRequest) -> Self {
        ScopeRequestView {
            id: request.id.clone(),
            inserted_at: request.inserted_at.clone(),
            requested_scopes: request.requested_scopes.to_strings(),
            status: request.status.as_str(),
        }
    }
}

/// An authorization code for the app to exchange at the token endpoint.
#[derive(Serialize, ToSchema)]
pub struct AuthorizationView {
    /// The code (`bac_…`), single use.
    pub code: String,
    /// Seconds the code can be exchanged (600).
    pub expires_in: i64,
    /// Where to send the user with `code` (and `state`).
    pub redirect_uri: String,
    /// The `state` of the request, when it had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub state: Option<String>,
}

/// The token response (RFC 6749 §5.1) with the reference's session token.
#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    /// An opaque access token (`bat_…`).
    pub access_token: String,
    #[schema(schema_with = bearer)]
    pub token_type: &'static str,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// The refresh token (`brt_…`), rotated by every refresh.
    pub refresh_token: String,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// The user's app session token (`bst_…`): only when a code was exchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub session_token: Option<String>,
    /// When the session token expires (RFC 3339): only with `session_token`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub session_token_expires_at: Option<String>,
    /// The OpenID Connect ID token (a signed JWT): only when a code granted `openid` was
    /// exchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub id_token: Option<String>,
}

impl From<IssuedTokens> for TokenResponse {
    fn from(t: IssuedTokens) -> Self {
        let (session_token, session_token_expires_at) = match t.session {
            Some(s) => (Some(s.token), Some(s.expires_at)),
            None => (None, None),
        };
        TokenResponse {
            id_token: t.id_token,
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
#[derive(Serialize, ToSchema)]
pub struct ActiveToken {
    /// `true`.
    #[schema(schema_with = always_true)]
    pub active: bool,
    pub app_id: String,
    pub client_id: String,
    /// The user the token acts for.
    pub user_id: String,
    /// The user the token acts for (as `user_id`).
    pub sub: String,
    #[schema(schema_with = buddo_shared::http::openapi::scope_list)]
    pub scopes: Vec<&'static str>,
    /// The scopes, space-separated.
    pub scope: String,
    #[schema(schema_with = bearer)]
    pub token_type: &'static str,
    /// When the token expires (RFC 3339).
    pub expires_at: String,
    /// When the token expires (Unix seconds).
    pub exp: i64,
    /// When the token was issued (Unix seconds).
    pub iat: i64,
}

impl ActiveToken {
    pub fn new(record: &AccessTokenRecord) -> Self {
        let at = |unix| {
            rfc3339(
                time::OffsetDateTime::from_unix_timestamp(unix)
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
            )
        };
        ActiveToken {
            active: true,
            app_id: record.app_id.clone(),
            client_id: record.client_id.clone(),
            user_id: record.user_id.clone(),
            sub: record.user_id.clone(),
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
#[derive(Serialize, ToSchema)]
pub struct InactiveToken {
    /// `false`.
    #[schema(schema_with = always_false)]
    pub active: bool,
    #[schema(schema_with = inactive_reason)]
    pub reason: &'static str,
}

/// What introspection says of a token: active, or inactive and why.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Introspected {
    Active(ActiveToken),
    Inactive(InactiveToken),
}

/// Authorization server metadata (RFC 8414 §2).
#[derive(Serialize, ToSchema)]
pub struct ServerMetadata {
    pub issuer: String,
    /// The hosted page browsers are sent to.
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub introspection_endpoint: String,
    pub revocation_endpoint: String,
    pub jwks_uri: String,
    pub userinfo_endpoint: String,
    pub end_session_endpoint: String,
    pub pushed_authorization_request_endpoint: String,
    pub require_pushed_authorization_requests: bool,
    pub response_types_supported: [&'static str; 1],
    pub response_modes_supported: [&'static str; 1],
    pub grant_types_supported: [&'static str; 2],
    pub subject_types_supported: [&'static str; 1],
    pub id_token_signing_alg_values_supported: [&'static str; 2],
    pub code_challenge_methods_supported: [&'static str; 1],
    pub token_endpoint_auth_methods_supported: [&'static str; 3],
    pub revocation_endpoint_auth_methods_supported: [&'static str; 3],
    pub introspection_endpoint_auth_methods_supported: [&'static str; 1],
    #[schema(schema_with = buddo_shared::http::openapi::scope_list)]
    pub scopes_supported: Vec<&'static str>,
    pub claims_supported: [&'static str; 15],
    pub prompt_values_supported: [&'static str; 3],
    /// RFC 9207: every authorization response names the issuer.
    pub authorization_response_iss_parameter_supported: bool,
    pub claims_parameter_supported: bool,
    pub request_parameter_supported: bool,
    pub request_uri_parameter_supported: bool,
}

impl ServerMetadata {
    pub fn new(issuer: &str) -> Self {
        let url = |path: &str| format!("{issuer}{path}");
        let client_auth = ["client_secret_basic", "client_secret_post", "none"];
        ServerMetadata {
            issuer: issuer.to_string(),
            authorization_endpoint: url("/oauth/authorize"),
            token_endpoint: url("/api/oauth/token"),
            introspection_endpoint: url("/api/oauth/token/verify"),
            revocation_endpoint: url("/api/oauth/revoke"),
            jwks_uri: url("/.well-known/jwks.json"),
            userinfo_endpoint: url("/oauth/userinfo"),
            end_session_endpoint: url("/oauth/logout"),
            pushed_authorization_request_endpoint: url("/oauth/par"),
            require_pushed_authorization_requests: false,
            response_types_supported: ["code"],
            response_modes_supported: ["query"],
            grant_types_supported: ["authorization_code", "refresh_token"],
            subject_types_supported: ["public"],
            id_token_signing_alg_values_supported: ["RS256", "EdDSA"],
            code_challenge_methods_supported: ["S256"],
            token_endpoint_auth_methods_supported: client_auth,
            revocation_endpoint_auth_methods_supported: client_auth,
            introspection_endpoint_auth_methods_supported: ["none"],
            scopes_supported: Scope::ALL.iter().map(|s| s.as_str()).collect(),
            claims_supported: [
                "iss",
                "sub",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "amr",
                "sid",
                "email",
                "email_verified",
                "preferred_username",
                "name",
                "picture",
                "updated_at",
            ],
            prompt_values_supported: ["none", "login", "consent"],
            authorization_response_iss_parameter_supported: true,
            claims_parameter_supported: false,
            request_parameter_supported: false,
            request_uri_parameter_supported: false,
        }
    }
}

/// A public key (RFC 7517 §4): an Ed25519 key (`OKP`, RFC 8037) that verifies user access
/// tokens (EdDSA) or ID tokens (EdDSA), or an RSA key that verifies ID tokens (RS256).
// For the API's description only: the JWK Set is built by `JwtKeys` (shared/src/jwt.rs) and
// `IdTokenKeys` (shared/src/id_token.rs).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Jwk {
    /// `OKP` or `RSA`.
    kty: String,
    /// `Ed25519` (`OKP` keys).
    #[schema(nullable = false)]
    crv: Option<String>,
    /// The public key, base64url (`OKP` keys).
    #[schema(nullable = false)]
    x: Option<String>,
    /// The modulus, base64url (`RSA` keys).
    #[schema(nullable = false)]
    n: Option<String>,
    /// The public exponent, base64url (`RSA` keys).
    #[schema(nullable = false)]
    e: Option<String>,
    /// The key id JWT headers name; distinct across the set.
    kid: String,
    /// `sig`.
    #[schema(rename = "use")]
    use_: String,
    /// `EdDSA` or `RS256`.
    alg: String,
}

/// The JWK Set (RFC 7517 §5) of the keys that verify user access tokens and ID tokens.
// For the API's description only, as `Jwk`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct Jwks {
    keys: Vec<Jwk>,
}
