//! OpenID Connect's JSON endpoints: discovery, userinfo, and pushed authorization requests
//! (RFC 9126).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use buddo_shared::domain::oauth::authorize::{self, AuthorizationRequest};
use buddo_shared::domain::oauth::error::OAuthResult;
use buddo_shared::domain::oauth::{openid, tokens, OAuthError, Scope};
use buddo_shared::domain::RequestMeta;
use buddo_shared::http::openapi::{ErrorBody, OAuthErrorBody};
use buddo_shared::http::{AppCaller, Json, RawBody};
use buddo_shared::{ApiError, ApiResult, AppState};

use crate::params;
use crate::views::ServerMetadata;

/// OpenID Connect Discovery 1.0: the same document as the RFC 8414 metadata.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "oauth",
    responses((status = 200, description = "The provider's endpoints and what they support", body = ServerMetadata)))]
pub async fn discovery(State(state): State<AppState>) -> Json<ServerMetadata> {
    Json(ServerMetadata::new(&state.config.oauth.issuer))
}

/// The claims about the user an access token with `openid` may read: `sub`, and those of
/// the `profile` and `email` scopes it holds.
#[derive(Serialize, ToSchema)]
pub struct UserInfo {
    /// The user's id.
    sub: String,
    /// `profile`: `preferred_username`, `name`, `picture`, `updated_at`; `email`: `email`,
    /// `email_verified`.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    claims: Map<String, Value>,
}

/// The signed-in user's claims (OpenID Connect Core §5.3), for an access token granted
/// `openid`; errors as RFC 6750 says, with a `WWW-Authenticate: Bearer` challenge.
#[utoipa::path(get, path = "/oauth/userinfo", tag = "oauth",
    security(("oauth2" = ["openid"])),
    responses(
        (status = 200, description = "The claims", body = UserInfo),
        (status = 401, description = "`invalid_token`", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`: the token lacks `openid`", body = ErrorBody),
    ))]
pub async fn userinfo(caller: AppCaller) -> ApiResult<Json<UserInfo>> {
    caller.require(Scope::OpenId)?;
    let mut claims = openid::user_claims(&caller.user, &caller.token.scopes);
    claims.remove("sub");
    Ok(Json(UserInfo {
        sub: caller.user.id.clone(),
        claims,
    }))
}

/// The same, by POST (§5.3.1).
#[utoipa::path(post, path = "/oauth/userinfo", tag = "oauth",
    security(("oauth2" = ["openid"])),
    responses(
        (status = 200, description = "The claims", body = UserInfo),
        (status = 401, description = "`invalid_token`", body = ErrorBody),
        (status = 403, description = "`insufficient_scope`: the token lacks `openid`", body = ErrorBody),
    ))]
pub async fn userinfo_post(caller: AppCaller) -> ApiResult<Json<UserInfo>> {
    userinfo(caller).await
}

/// The answer to a pushed request.
#[derive(Serialize, ToSchema)]
pub struct PushedRequest {
    /// Send the browser to the authorization endpoint with `client_id` and this.
    request_uri: String,
    /// Seconds it can be used.
    expires_in: i64,
}

/// Pushed authorization request (RFC 9126): a client sends the authorization request's
/// parameters here first, authenticated like at the token endpoint, and then sends the
/// browser to `/oauth/authorize` with only `client_id` and the `request_uri` it got.
#[utoipa::path(post, path = "/oauth/par", tag = "oauth",
    security((), ("client_basic" = [])),
    request_body(content_type = "application/x-www-form-urlencoded", description = "The parameters of an authorization request (`response_type`, `redirect_uri`, `scope`, `state`, `nonce`, `code_challenge`, `code_challenge_method`, `prompt`, `max_age`, `login_hint`), and the client's credentials"),
    responses(
        (status = 201, description = "The request is stored", body = PushedRequest),
        (status = 400, description = "`invalid_request`, `invalid_scope`, `unsupported_response_type`, `invalid_redirect_uri`", body = OAuthErrorBody),
        (status = 401, description = "`invalid_client`", body = OAuthErrorBody),
    ))]
pub async fn par(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> OAuthResult<(StatusCode, Json<PushedRequest>)> {
    let (_, client) = params::from_client(&headers, &body)?;
    let request: AuthorizationRequest = serde_urlencoded::from_bytes(&body).map_err(|_| {
        OAuthError::invalid_request("The body must be application/x-www-form-urlencoded")
    })?;
    let app = tokens::authenticate_client(&state, &client, &meta).await?;
    // Refusals in the token endpoint's shape (RFC 9126 §2.3).
    let (request_uri, expires_in) =
        authorize::push(&state, &app, request)
            .await
            .map_err(|e| match e {
                ApiError::BadRequest { code, message } => OAuthError::Other(ApiError::OAuth {
                    code,
                    description: message,
                }),
                other => other.into(),
            })?;
    Ok((
        StatusCode::CREATED,
        Json(PushedRequest {
            request_uri,
            expires_in,
        }),
    ))
}
