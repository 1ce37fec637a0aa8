//! `/api/oauth/*` and `/.well-known/*`: operator apps, authorization with PKCE, the token
//! endpoint, introspection, revocation, and the server's metadata and public keys.

mod params;
mod views;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json as Body;
use axum::Router;
use serde::Deserialize;

use buddo_shared::domain::input;
use buddo_shared::domain::oauth::apps::{self, AppChanges, NewApp};
use buddo_shared::domain::oauth::authorize::{self, AuthorizationRequest};
use buddo_shared::domain::oauth::error::OAuthErrorCode;
use buddo_shared::domain::oauth::tokens::{self, Introspection, TokenGrant};
use buddo_shared::domain::oauth::{OAuthError, Scopes};
use buddo_shared::domain::RequestMeta;
use buddo_shared::http::{nullable, AuthUser, Json, Query, Routes};
use buddo_shared::{ApiError, ApiResult, AppState};

use views::*;

/// The group as a Lambda function serves it.
pub fn router(state: AppState) -> Router {
    buddo_shared::http::finish(routes(), state)
}

/// The group's operations, for the API's OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths())]
pub struct Api;

/// The group's routes, for the Lambda router, the local server and the route list.
pub fn routes() -> Routes {
    Routes::new()
        .post("/api/oauth/apps", register_app)
        .get("/api/oauth/apps/{client_id}", public_app)
        .get("/api/oauth/authorize", authorize)
        .get("/api/oauth/my-apps", my_apps)
        .put("/api/oauth/my-apps/{id}", update_app)
        .post("/api/oauth/my-apps/{id}/scope-request", request_scopes)
        .get("/api/oauth/my-apps/{id}/scope-requests", scope_requests)
        .post("/api/oauth/token", token)
        .post("/api/oauth/token/verify", introspect)
        .post("/api/oauth/revoke", revoke)
        .get("/.well-known/oauth-authorization-server", metadata)
        .get("/.well-known/jwks.json", jwks)
}

fn ok<T: serde::Serialize>(body: T) -> ApiResult<Response> {
    Ok(Body(body).into_response())
}

/// Up to `max` items of a list of strings, each checked by `parse`.
fn each(
    field: &'static str,
    list: &[String],
    max: usize,
    parse: impl Fn(&'static str, &str) -> ApiResult<String>,
) -> ApiResult<Vec<String>> {
    if list.len() > max {
        return Err(ApiError::field(field, format!("at most {max} entries")));
    }
    list.iter().map(|item| parse(field, item)).collect()
}

fn redirect_uris(list: &[String]) -> ApiResult<Vec<String>> {
    if list.is_empty() {
        return Err(ApiError::field(
            "redirect_uris",
            "at least one redirect URI",
        ));
    }
    let mut uris = each("redirect_uris", list, 10, input::redirect_uri)?;
    uris.dedup();
    Ok(uris)
}

fn description(raw: &str) -> ApiResult<String> {
    input::text("app_description", raw, 0, 1000)
}

#[derive(Deserialize)]
struct RegisterBody {
    app_name: String,
    redirect_uris: Vec<String>,
    #[serde(default)]
    allowed_scopes: Option<Vec<String>>,
    #[serde(default)]
    app_description: Option<String>,
    #[serde(default)]
    logo_url: Option<String>,
    #[serde(default)]
    website_url: Option<String>,
}

async fn register_app(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<RegisterBody>,
) -> ApiResult<Response> {
    let new = NewApp {
        app_name: input::text("app_name", &body.app_name, 1, 100)?,
        app_description: body
            .app_description
            .as_deref()
            .map(description)
            .transpose()?,
        logo_url: body
            .logo_url
            .as_deref()
            .map(|u| input::https_url("logo_url", u))
            .transpose()?,
        website_url: body
            .website_url
            .as_deref()
            .map(|u| input::https_url("website_url", u))
            .transpose()?,
        redirect_uris: redirect_uris(&body.redirect_uris)?,
        allowed_scopes: body
            .allowed_scopes
            .as_deref()
            .map(|l| Scopes::parse_list("allowed_scopes", l))
            .transpose()?,
    };
    let registered = apps::register(&state, &auth.user, new).await?;
    let mut app = AppView::new(&registered.app);
    app.client_secret = Some(&registered.client_secret);
    Ok((StatusCode::CREATED, Body(AppEnvelope { app })).into_response())
}

async fn public_app(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
) -> ApiResult<Response> {
    let app = apps::by_client_id(state.table.as_ref(), &client_id)
        .await?
        .ok_or_else(|| ApiError::not_found("app_not_found", "No app has that client_id"))?;
    ok(PublicApp {
        client_id: &app.client_id,
        description: app.app_description.as_deref(),
        name: &app.app_name,
    })
}

async fn authorize(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Query(request): Query<AuthorizationRequest>,
) -> ApiResult<Response> {
    let granted = authorize::authorize(&state, &auth.user, request, &meta).await?;
    ok(AuthorizationView {
        code: granted.code,
        expires_in: granted.expires_in,
        redirect_uri: granted.redirect_uri,
        state: granted.state,
    })
}

async fn my_apps(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Response> {
    let owned = apps::list_owned(state.table.as_ref(), &auth.user).await?;
    ok(owned.iter().map(AppView::new).collect::<Vec<_>>())
}

#[derive(Deserialize)]
struct UpdateBody {
    #[serde(default)]
    app_name: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    app_description: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    logo_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "nullable")]
    website_url: Option<Option<String>>,
    #[serde(default)]
    redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    allowed_scopes: Option<Vec<String>>,
}

async fn update_app(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<UpdateBody>,
) -> ApiResult<Response> {
    let url = |field: &'static str, v: Option<Option<String>>| {
        v.map(|v| v.map(|u| input::https_url(field, &u)).transpose())
            .transpose()
    };
    let changes = AppChanges {
        app_name: body
            .app_name
            .map(|n| input::text("app_name", &n, 1, 100))
            .transpose()?,
        app_description: body
            .app_description
            .map(|d| d.as_deref().map(description).transpose())
            .transpose()?,
        logo_url: url("logo_url", body.logo_url)?,
        website_url: url("website_url", body.website_url)?,
        redirect_uris: body
            .redirect_uris
            .as_deref()
            .map(redirect_uris)
            .transpose()?,
        allowed_scopes: body
            .allowed_scopes
            .as_deref()
            .map(|l| Scopes::parse_list("allowed_scopes", l))
            .transpose()?,
    };
    let app = apps::update(&state, &auth.user, &id, changes).await?;
    ok(AppView::new(&app))
}

#[derive(Deserialize)]
struct ScopeRequestBody {
    requested_scopes: Vec<String>,
}

async fn request_scopes(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<ScopeRequestBody>,
) -> ApiResult<Response> {
    let scopes = Scopes::parse_list("requested_scopes", &body.requested_scopes)?;
    if scopes.is_empty() {
        return Err(ApiError::field(
            "requested_scopes",
            "name at least one scope",
        ));
    }
    let request = apps::request_scopes(&state, &auth.user, &id, scopes).await?;
    Ok((StatusCode::CREATED, Body(ScopeRequestView::new(&request))).into_response())
}

async fn scope_requests(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let requests = apps::scope_requests(&state, &auth.user, &id).await?;
    ok(requests
        .iter()
        .map(ScopeRequestView::new)
        .collect::<Vec<_>>())
}

/// RFC 6749 §5.1: token responses are never cached.
fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let answer = async {
        let mut params = params::parse(&headers, &body)?;
        let client = params::client(&headers, &mut params)?;
        let grant = match params.grant_type.as_deref() {
            Some("authorization_code") => TokenGrant::AuthorizationCode {
                code: params.code.unwrap_or_default(),
                redirect_uri: params.redirect_uri.unwrap_or_default(),
                code_verifier: params.code_verifier.unwrap_or_default(),
            },
            Some("refresh_token") => TokenGrant::RefreshToken {
                refresh_token: params.refresh_token.unwrap_or_default(),
                scope: params.scope,
            },
            Some(_) => {
                return Err(OAuthError::new(
                    OAuthErrorCode::UnsupportedGrantType,
                    "Only authorization_code and refresh_token grants are supported",
                ))
            }
            None => return Err(OAuthError::invalid_request("grant_type is required")),
        };
        tokens::exchange(&state, client, grant).await
    };
    no_store(match answer.await {
        Ok(issued) => Body(TokenResponse::from(issued)).into_response(),
        Err(e) => e.into_api().into_response(),
    })
}

/// RFC 7662: always 200; anything but a live access token is `{"active": false, "reason"}`.
async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    // A body that cannot be read names no token: inactive, like any other.
    let token = params::parse(&headers, &body)
        .ok()
        .and_then(|p| p.token)
        .unwrap_or_default();
    Ok(no_store(match tokens::introspect(&state, &token).await? {
        Introspection::Active(record, _) => Body(ActiveToken::new(&record)).into_response(),
        Introspection::Inactive { reason } => Body(InactiveToken {
            active: false,
            reason,
        })
        .into_response(),
    }))
}

/// RFC 7009: 200 with an empty body once the client is authenticated, whatever the token.
async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let answer = async {
        let mut params = params::parse(&headers, &body)?;
        let client = params::client(&headers, &mut params)?;
        let token = params
            .token
            .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        tokens::revoke(&state, client, &token).await
    };
    no_store(match answer.await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => e.into_api().into_response(),
    })
}

async fn metadata(State(state): State<AppState>) -> ApiResult<Response> {
    ok(ServerMetadata::new(&state.config.oauth.issuer))
}

async fn jwks(State(state): State<AppState>) -> ApiResult<Response> {
    let mut response = Body(state.jwt.jwks().clone()).into_response();
    // Public keys: caches may keep them for a while (rotation overlaps).
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    Ok(response)
}
