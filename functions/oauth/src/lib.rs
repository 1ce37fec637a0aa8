//! `/api/oauth/*` and `/.well-known/*`: operator apps, authorization with PKCE, the token
//! endpoint, introspection, revocation, and the server's metadata and public keys; OpenID
//! Connect (`/oauth/userinfo`, `/oauth/par`, discovery) and the hosted pages (`pages`).

mod oidc;
mod pages;
mod params;
mod views;
mod webhooks;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use serde::Deserialize;
use utoipa::openapi::schema::Array;
use utoipa::{IntoParams, ToSchema};

use buddo_shared::domain::app_sessions::AppSessions;
use buddo_shared::domain::input;
use buddo_shared::domain::oauth::apps::{
    self, AppChanges, AuthMethod, NewApp, OidcChanges, Presentation,
};
use buddo_shared::domain::oauth::authorize::{self, AuthorizationRequest};
use buddo_shared::domain::oauth::error::OAuthResult;
use buddo_shared::domain::oauth::tokens::{self, Introspection};
use buddo_shared::domain::oauth::{OAuthError, Scopes};
use buddo_shared::domain::RequestMeta;
use buddo_shared::http::openapi::{
    one_of, scope_list, scope_list_or_null, ErrorBody, OAuthErrorBody,
};
use buddo_shared::http::{nullable, AuthUser, Json, Query, RawBody, Routes};
use buddo_shared::id_token::IdTokenAlg;
use buddo_shared::{ApiError, ApiResult, AppState};

use params::{IntrospectionForm, RevokeForm, TokenForm};
use views::*;
use webhooks::*;

/// The group as a Lambda function serves it.
pub fn router(state: AppState) -> Router {
    buddo_shared::http::finish(routes(), state)
}

/// The group's operations, for the API's OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    register_app,
    public_app,
    authorize,
    my_apps,
    update_app,
    request_scopes,
    scope_requests,
    create_webhook,
    list_webhooks,
    get_webhook,
    update_webhook,
    delete_webhook,
    rotate_webhook_secret,
    webhook_deliveries,
    replay_webhook_delivery,
    token,
    introspect,
    revoke,
    metadata,
    jwks,
    oidc::discovery,
    oidc::userinfo,
    oidc::userinfo_post,
    oidc::par,
))]
pub struct Api;

/// The hosted pages among the routes (described in the README, not in the OpenAPI document).
pub fn page_routes() -> Routes {
    pages::routes()
}

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
        .post("/api/oauth/my-apps/{id}/webhooks", create_webhook)
        .get("/api/oauth/my-apps/{id}/webhooks", list_webhooks)
        .get(
            "/api/oauth/my-apps/{id}/webhooks/{endpoint_id}",
            get_webhook,
        )
        .patch(
            "/api/oauth/my-apps/{id}/webhooks/{endpoint_id}",
            update_webhook,
        )
        .delete(
            "/api/oauth/my-apps/{id}/webhooks/{endpoint_id}",
            delete_webhook,
        )
        .post(
            "/api/oauth/my-apps/{id}/webhooks/{endpoint_id}/rotate-secret",
            rotate_webhook_secret,
        )
        .get(
            "/api/oauth/my-apps/{id}/webhooks/{endpoint_id}/deliveries",
            webhook_deliveries,
        )
        .post(
            "/api/oauth/my-apps/{id}/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay",
            replay_webhook_delivery,
        )
        .merge(
            Routes::new()
                .post("/api/oauth/token", token)
                .post("/api/oauth/token/verify", introspect)
                .post("/api/oauth/revoke", revoke)
                .no_store(),
        )
        .get("/.well-known/oauth-authorization-server", metadata)
        .get("/.well-known/jwks.json", jwks)
        .get("/.well-known/openid-configuration", oidc::discovery)
        .get("/oauth/userinfo", oidc::userinfo)
        .post("/oauth/userinfo", oidc::userinfo_post)
        .merge(Routes::new().post("/oauth/par", oidc::par).no_store())
        .merge(pages::routes())
}

/// The 404 of the operations on one of your apps.
const APP_NOT_OWNED: &str = "`app_not_found` (also for an app you do not own)";

/// The 409 of the changes to an app.
const APP_CHANGED: &str = "`app_changed`: the app changed meanwhile; try again";

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

/// An app's OpenID Connect settings, at registration and in its changes (left out: as they
/// are, the defaults at registration).
#[derive(Deserialize, ToSchema)]
struct OidcFields {
    /// Where RP-initiated logout (`/oauth/logout`) may send the user afterwards: up to 10
    /// absolute URLs like `redirect_uris`, matched exactly.
    #[serde(default)]
    #[schema(max_items = 10)]
    post_logout_redirect_uris: Option<Vec<String>>,
    /// `true`: authorization requests only by the pushed authorization request endpoint
    /// (RFC 9126 §6).
    #[serde(default)]
    require_pushed_authorization_requests: Option<bool>,
    /// How the app's ID tokens are signed: `RS256` (the default) or `EdDSA`.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "RS256")]
    id_token_signed_response_alg: Option<String>,
}

impl OidcFields {
    fn parse(self) -> ApiResult<OidcChanges> {
        Ok(OidcChanges {
            post_logout_redirect_uris: self
                .post_logout_redirect_uris
                .map(|list| {
                    let mut uris =
                        each("post_logout_redirect_uris", &list, 10, input::redirect_uri)?;
                    uris.dedup();
                    Ok::<_, ApiError>(uris)
                })
                .transpose()?,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            id_token_signed_response_alg: self
                .id_token_signed_response_alg
                .map(|alg| {
                    IdTokenAlg::parse(&alg).ok_or_else(|| {
                        ApiError::field("id_token_signed_response_alg", "must be RS256 or EdDSA")
                    })
                })
                .transpose()?,
        })
    }
}

/// A new app.
#[derive(Deserialize, ToSchema)]
#[schema(as = NewAppBody)]
struct RegisterBody {
    /// 1 to 100 characters.
    #[schema(max_length = 100)]
    app_name: String,
    /// 1 to 10 absolute URLs: `https`, or `http` on a loopback address; no fragment. Kept
    /// as given: authorization requests must name one exactly.
    #[schema(min_items = 1, max_items = 10)]
    redirect_uris: Vec<String>,
    /// The scopes the app wants (`profile:read` when left out). Review-free ones
    /// (`profile:read`, `points:read`) are granted at once; the others go into a pending
    /// scope request.
    #[serde(default)]
    #[schema(schema_with = scope_list_or_null)]
    allowed_scopes: Option<Vec<String>>,
    /// Up to 1000 characters.
    #[serde(default)]
    #[schema(max_length = 1000)]
    app_description: Option<String>,
    /// An `https://` URL of an image.
    #[serde(default)]
    #[schema(format = "uri")]
    logo_url: Option<String>,
    /// An `https://` URL.
    #[serde(default)]
    #[schema(format = "uri")]
    website_url: Option<String>,
    /// How the app authenticates at the token endpoint (RFC 7591): `client_secret_basic`
    /// (the default) or `client_secret_post` for a confidential app, which gets a secret and
    /// must send it at every grant; `none` for a public app (single-page or mobile), which
    /// gets no secret, proves itself with PKCE alone and may not hold `points:spend` or
    /// `points:transfer`.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "client_secret_basic")]
    token_endpoint_auth_method: Option<String>,
    #[serde(flatten)]
    oidc: OidcFields,
}

/// Registers an operator app; its client secret (a confidential app's) is shown this once.
#[utoipa::path(post, path = "/api/oauth/apps", tag = "oauth",
    security(("user_jwt" = [])), request_body = RegisterBody,
    responses(
        (status = 201, description = "The app, with its `client_secret`", body = AppEnvelope),
        (status = 403, description = "`email_not_verified`: verify your email address first", body = ErrorBody),
    ))]
async fn register_app(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<RegisterBody>,
) -> ApiResult<(StatusCode, Json<AppEnvelope>)> {
    let new = NewApp {
        shown: Presentation {
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
        },
        allowed_scopes: body
            .allowed_scopes
            .as_deref()
            .map(|l| Scopes::parse_list("allowed_scopes", l))
            .transpose()?,
        token_endpoint_auth_method: body
            .token_endpoint_auth_method
            .as_deref()
            .map(|m| AuthMethod::parse("token_endpoint_auth_method", m))
            .transpose()?
            .unwrap_or_default(),
        oidc: body.oidc.parse()?,
    };
    let registered = apps::register(&state, &auth.user, new).await?;
    let mut app = AppView::new(&registered.app);
    app.client_secret = registered.client_secret;
    Ok((StatusCode::CREATED, Json(AppEnvelope { app })))
}

/// What anyone may know of an app, by its client_id (for the consent screen).
#[utoipa::path(get, path = "/api/oauth/apps/{client_id}", tag = "oauth",
    params(("client_id" = String, Path, description = "The app's client_id (`bci_…`)")),
    responses(
        (status = 200, description = "The app's public face", body = PublicApp),
        (status = 404, description = "`app_not_found`", body = ErrorBody),
    ))]
async fn public_app(
    State(state): State<AppState>,
    Path(client_id): Path<String>,
) -> ApiResult<Json<PublicApp>> {
    let app = apps::by_client_id(state.table.as_ref(), &client_id)
        .await?
        .ok_or_else(|| ApiError::not_found("app_not_found", "No app has that client_id"))?;
    Ok(Json(PublicApp {
        client_id: app.client_id,
        description: app.shown.app_description,
        name: app.shown.app_name,
    }))
}

buddo_shared::param_schema! {
    /// `code`, as a parameter's schema.
    Code => one_of(["code"]);
    /// `S256`, as a parameter's schema.
    S256 => one_of(["S256"]);
}

/// The authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3). For the API's description
/// only: the query is parsed into `AuthorizationRequest`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct AuthorizeQuery {
    /// The app's client_id.
    client_id: String,
    /// `code`.
    #[param(value_type = Code, inline)]
    response_type: String,
    /// One of the app's redirect URIs, exactly; may be left out when it has only one.
    redirect_uri: Option<String>,
    /// Anything, up to 1024 characters: given back with the code.
    #[param(max_length = 1024)]
    state: Option<String>,
    /// Scopes, space-separated, all allowed for the app (`profile:read` when left out).
    scope: Option<String>,
    /// BASE64URL(SHA-256(code_verifier)) without padding.
    #[param(pattern = "^[A-Za-z0-9_-]{43}$")]
    code_challenge: String,
    /// `S256` (`plain` is not supported).
    #[param(value_type = S256, inline)]
    code_challenge_method: String,
}

/// Authorizes an app for the signed-in user: a code for its redirect URI.
///
/// The authorization request of RFC 6749 §4.1.1 with PKCE (RFC 7636, S256 only), answered in
/// JSON: the consent screen sends the user on to `redirect_uri`.
#[utoipa::path(get, path = "/api/oauth/authorize", tag = "oauth",
    security(("user_jwt" = [])), params(AuthorizeQuery),
    responses(
        (status = 200, description = "The user's grant is recorded (or renewed); send the user to `redirect_uri` with `code` and `state`", body = AuthorizationView),
        (status = 400, description = "`invalid_client` (unknown client_id), `invalid_redirect_uri`, `unsupported_response_type`, `invalid_request` (PKCE, `state`), `invalid_scope`", body = ErrorBody),
        (status = 403, description = "`app_not_approved`: only its owner can authorize an app not yet approved; `app_suspended`: an admin stopped the app", body = ErrorBody),
    ))]
async fn authorize(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Query(request): Query<AuthorizationRequest>,
) -> ApiResult<Json<AuthorizationView>> {
    let granted = authorize::authorize(&state, &auth, request, &meta).await?;
    Ok(Json(AuthorizationView {
        code: granted.code,
        expires_in: granted.expires_in,
        redirect_uri: granted.redirect_uri,
        state: granted.state,
    }))
}

/// The apps you registered, oldest first.
#[utoipa::path(get, path = "/api/oauth/my-apps", tag = "oauth",
    security(("user_jwt" = [])),
    responses((status = 200, description = "Your apps (never their secrets)", body = [AppView])))]
async fn my_apps(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Vec<AppView>>> {
    let owned = apps::list_owned(state.table.as_ref(), &auth.user).await?;
    Ok(Json(owned.iter().map(AppView::new).collect()))
}

/// Changes to an app: fields left out (or `null` for name, URIs and scopes) stay; `null`
/// clears the description, logo and web site. An approved app's name, description, logo,
/// web site and redirect URIs change only once an admin approves the change
/// (`pending_changes` shows them meanwhile).
#[derive(Deserialize, ToSchema)]
#[schema(as = AppChangesBody)]
struct UpdateBody {
    /// 1 to 100 characters.
    #[serde(default)]
    #[schema(max_length = 100)]
    app_name: Option<String>,
    /// Up to 1000 characters.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 1000)]
    app_description: Option<Option<String>>,
    /// An `https://` URL of an image.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = "uri")]
    logo_url: Option<Option<String>>,
    /// An `https://` URL.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = "uri")]
    website_url: Option<Option<String>>,
    /// 1 to 10 redirect URIs, replacing the registered ones.
    #[serde(default)]
    #[schema(min_items = 1, max_items = 10)]
    redirect_uris: Option<Vec<String>>,
    /// The scopes the app wants now: others are dropped at once, review-free ones added at
    /// once, any other goes into a pending scope request.
    #[serde(default)]
    #[schema(schema_with = scope_list_or_null)]
    allowed_scopes: Option<Vec<String>>,
    #[serde(flatten)]
    oidc: OidcFields,
}

/// Changes one of your apps.
#[utoipa::path(put, path = "/api/oauth/my-apps/{id}", tag = "oauth",
    security(("user_jwt" = [])), request_body = UpdateBody,
    params(("id" = String, Path, description = "The app's id")),
    responses(
        (status = 200, description = "The app as it is now", body = AppView),
        (status = 404, description = APP_NOT_OWNED, body = ErrorBody),
        (status = 409, description = APP_CHANGED, body = ErrorBody),
    ))]
async fn update_app(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<UpdateBody>,
) -> ApiResult<Json<AppView>> {
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
        oidc: body.oidc.parse()?,
    };
    let app = apps::update(&state, &auth.user, &id, changes).await?;
    Ok(Json(AppView::new(&app)))
}

/// Scopes an app's owner asks for.
#[derive(Deserialize, ToSchema)]
struct ScopeRequestBody {
    /// At least one scope.
    #[schema(schema_with = requested_scopes)]
    requested_scopes: Vec<String>,
}

/// `#[schema(schema_with = …)]`: a list of at least one scope.
fn requested_scopes() -> Array {
    let mut list = scope_list();
    list.min_items = Some(1);
    list
}

/// Asks for more scopes for one of your apps: review-free ones are added at once, any other
/// waits for an admin.
#[utoipa::path(post, path = "/api/oauth/my-apps/{id}/scope-request", tag = "oauth",
    security(("user_jwt" = [])), request_body = ScopeRequestBody,
    params(("id" = String, Path, description = "The app's id")),
    responses(
        (status = 201, description = "The request (`approved` at once when every scope is review-free)", body = ScopeRequestView),
        (status = 404, description = APP_NOT_OWNED, body = ErrorBody),
        (status = 409, description = APP_CHANGED, body = ErrorBody),
    ))]
async fn request_scopes(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<ScopeRequestBody>,
) -> ApiResult<(StatusCode, Json<ScopeRequestView>)> {
    let scopes = Scopes::parse_list("requested_scopes", &body.requested_scopes)?;
    if scopes.is_empty() {
        return Err(ApiError::field(
            "requested_scopes",
            "name at least one scope",
        ));
    }
    let request = apps::request_scopes(&state, &auth.user, &id, scopes).await?;
    Ok((StatusCode::CREATED, Json(ScopeRequestView::new(&request))))
}

/// The scope requests of one of your apps, newest first.
#[utoipa::path(get, path = "/api/oauth/my-apps/{id}/scope-requests", tag = "oauth",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The app's id")),
    responses(
        (status = 200, description = "The app's scope requests", body = [ScopeRequestView]),
        (status = 404, description = APP_NOT_OWNED, body = ErrorBody),
    ))]
async fn scope_requests(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ScopeRequestView>>> {
    let requests = apps::scope_requests(&state, &auth.user, &id).await?;
    Ok(Json(requests.iter().map(ScopeRequestView::new).collect()))
}

/// Exchanges an authorization code or a refresh token for tokens.
///
/// The token endpoint (RFC 6749 §4.1.3, §6): an authorization code (with its PKCE verifier)
/// or a refresh token for an access token and a new refresh token. The parameters may also
/// be sent as a JSON object of strings. A confidential app authenticates at every grant
/// (HTTP Basic or `client_secret` in the body); a public app sends its `client_id` only.
/// Limited per authenticated client, and failed client authentications per client and
/// source address (429 `rate_limited` with `Retry-After`, in the RFC 6749 error shape).
#[utoipa::path(post, path = "/api/oauth/token", tag = "oauth",
    security((), ("client_basic" = [])),
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Tokens (never cached: `Cache-Control: no-store`)", body = TokenResponse),
        (status = 400, description = "RFC 6749 §5.2: `invalid_request` (a parameter missing, invalid or sent twice, a bad body, client authentication sent both ways), `invalid_grant` (the code or refresh token is invalid, expired, used or revoked, or the redirect URI or PKCE verifier does not match), `unsupported_grant_type`, `invalid_scope`", body = OAuthErrorBody),
        (status = 401, description = "RFC 6749 §5.2: `invalid_client`: unknown client, a missing or wrong secret, or a secret sent by a public client (with a `WWW-Authenticate: Basic` challenge)", body = OAuthErrorBody),
        (status = 429, description = "`rate_limited` (`error`, `error_description`, `retry_after`; `Retry-After`)", body = OAuthErrorBody),
    ))]
async fn token(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> OAuthResult<Json<TokenResponse>> {
    let (params, client) = params::from_client(&headers, &body)?;
    let issued = tokens::exchange(&state, &AppSessions, client, params.grant()?, &meta).await?;
    Ok(Json(issued.into()))
}

/// Token introspection: whether an access token is live, and what it may do.
///
/// RFC 7662: always 200; anything but a live access token is `{"active": false, "reason"}`.
///
/// No client authentication. The body is read like the token endpoint's (form or JSON);
/// one that cannot be read names no token and is answered inactive.
#[utoipa::path(post, path = "/api/oauth/token/verify", tag = "oauth",
    request_body(content = IntrospectionForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Always 200 for any input: the active token (`active: true`, with its app, user and scopes), or `active: false` with a `reason` (`invalid`, `expired`, `revoked`) and nothing else; never cached", body = Introspected),
    ))]
async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult<Json<Introspected>> {
    // A body that cannot be read names no token: inactive, like any other.
    let token = params::parse(&headers, &body)
        .ok()
        .and_then(|p| p.token)
        .unwrap_or_default();
    Ok(Json(match tokens::introspect(&state, &token).await? {
        Introspection::Active(grant) => Introspected::Active(ActiveToken::new(&grant.token)),
        Introspection::Inactive { reason } => Introspected::Inactive(InactiveToken {
            active: false,
            reason,
        }),
    }))
}

/// Token revocation: a client revokes one of its access or refresh tokens.
///
/// RFC 7009: 200 with an empty body once the client is authenticated, whatever the token.
#[utoipa::path(post, path = "/api/oauth/revoke", tag = "oauth",
    security((), ("client_basic" = [])),
    request_body(content = RevokeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or not a token of this client (answered the same); empty body"),
        (status = 400, description = "RFC 6749 §5.2: `invalid_request` (`token` or `client_id` missing, a bad body, a parameter sent twice, client authentication sent both ways)", body = OAuthErrorBody),
        (status = 401, description = "RFC 6749 §5.2: `invalid_client`: unknown client or wrong secret (with a `WWW-Authenticate: Basic` challenge)", body = OAuthErrorBody),
    ))]
async fn revoke(
    State(state): State<AppState>,
    meta: RequestMeta,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> OAuthResult<()> {
    let (params, client) = params::from_client(&headers, &body)?;
    let token = params
        .token
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    tokens::revoke(&state, client, &token, &meta).await
}

/// Authorization server metadata (RFC 8414).
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "oauth",
    responses((status = 200, description = "The server's endpoints and what they support", body = ServerMetadata)))]
async fn metadata(State(state): State<AppState>) -> Json<ServerMetadata> {
    Json(ServerMetadata::new(&state.config.oauth.issuer))
}

/// The public keys that verify user access tokens and ID tokens (a JWK Set).
///
/// Access tokens are signed with EdDSA, ID tokens with RS256 or EdDSA; each `kid` names one key.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "oauth",
    responses((status = 200, description = "The JWK Set (cacheable for 5 minutes)", body = Jwks)))]
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    let mut keys = state.jwt.jwks()["keys"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    keys.extend(state.id_tokens.jwks_keys());
    // Public keys: caches may keep them for a while (rotation overlaps).
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(serde_json::json!({ "keys": keys })),
    )
}
