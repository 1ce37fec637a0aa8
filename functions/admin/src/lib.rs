//! `/api/admin/*`: app review and scope requests. Admins only (403 `forbidden` for others).

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json as Body;
use axum::Router;
use serde::{Deserialize, Serialize};

use buddo_shared::domain::oauth::apps::{self, OAuthApp, RequestStatus, ScopeRequest};
use buddo_shared::http::{AdminUser, Query, Routes};
use buddo_shared::{ApiError, ApiResult, AppState};

/// The group as a Lambda function serves it.
pub fn router(state: AppState) -> Router {
    buddo_shared::http::finish(routes(), state)
}

/// The group's routes, for the Lambda router, the local server and the route list.
pub fn routes() -> Routes {
    Routes::new()
        .get("/api/admin/apps", list_apps)
        .post("/api/admin/apps/{id}/approve", approve_app)
        .post("/api/admin/apps/{id}/unapprove", unapprove_app)
        .get("/api/admin/scope-requests", list_scope_requests)
        .post("/api/admin/scope-requests/{id}/approve", approve_scopes)
        .post("/api/admin/scope-requests/{id}/deny", deny_scopes)
}

const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 100;

/// An app as an admin reviews it.
#[derive(Serialize)]
struct AdminApp<'a> {
    id: &'a str,
    client_id: &'a str,
    app_name: &'a str,
    app_description: Option<&'a str>,
    owner_id: &'a str,
    is_approved: bool,
    allowed_scopes: Vec<&'static str>,
    redirect_uris: &'a [String],
    logo_url: Option<&'a str>,
    website_url: Option<&'a str>,
    inserted_at: &'a str,
}

impl<'a> AdminApp<'a> {
    fn new(app: &'a OAuthApp) -> Self {
        AdminApp {
            id: &app.id,
            client_id: &app.client_id,
            app_name: &app.app_name,
            app_description: app.app_description.as_deref(),
            owner_id: &app.owner_id,
            is_approved: app.is_approved,
            allowed_scopes: app.allowed_scopes.to_strings(),
            redirect_uris: &app.redirect_uris,
            logo_url: app.logo_url.as_deref(),
            website_url: app.website_url.as_deref(),
            inserted_at: &app.inserted_at,
        }
    }
}

#[derive(Serialize)]
struct AdminScopeRequest<'a> {
    id: &'a str,
    app_id: &'a str,
    requested_scopes: Vec<&'static str>,
    status: &'static str,
    inserted_at: &'a str,
    decided_at: Option<&'a str>,
}

impl<'a> AdminScopeRequest<'a> {
    fn new(r: &'a ScopeRequest) -> Self {
        AdminScopeRequest {
            id: &r.id,
            app_id: &r.app_id,
            requested_scopes: r.requested_scopes.to_strings(),
            status: r.status.as_str(),
            inserted_at: &r.inserted_at,
            decided_at: r.decided_at.as_deref(),
        }
    }
}

fn page_limit(limit: Option<usize>) -> ApiResult<usize> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::field("limit", format!("must be 1 to {MAX_PAGE}"))),
    }
}

#[derive(Deserialize)]
struct AppFilter {
    #[serde(default)]
    approved: Option<bool>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Serialize)]
struct AppList<'a> {
    apps: Vec<AdminApp<'a>>,
    next_cursor: Option<String>,
}

async fn list_apps(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(filter): Query<AppFilter>,
) -> ApiResult<Response> {
    let limit = page_limit(filter.limit)?;
    let listing = apps::list_all(&state, filter.approved, limit, filter.cursor).await?;
    Ok(Body(AppList {
        apps: listing.items.iter().map(AdminApp::new).collect(),
        next_cursor: listing.next_cursor,
    })
    .into_response())
}

#[derive(Serialize)]
struct AppEnvelope<'a> {
    app: AdminApp<'a>,
}

async fn set_approved(state: &AppState, id: &str, approved: bool) -> ApiResult<Response> {
    let app = apps::set_approved(state, id, approved).await?;
    Ok(Body(AppEnvelope {
        app: AdminApp::new(&app),
    })
    .into_response())
}

async fn approve_app(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    set_approved(&state, &id, true).await
}

async fn unapprove_app(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    set_approved(&state, &id, false).await
}

#[derive(Deserialize)]
struct RequestFilter {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Serialize)]
struct RequestList<'a> {
    scope_requests: Vec<AdminScopeRequest<'a>>,
    next_cursor: Option<String>,
}

async fn list_scope_requests(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(filter): Query<RequestFilter>,
) -> ApiResult<Response> {
    let status = filter
        .status
        .as_deref()
        .map(|s| {
            RequestStatus::parse(s)
                .ok_or_else(|| ApiError::field("status", "must be pending, approved or denied"))
        })
        .transpose()?;
    let limit = page_limit(filter.limit)?;
    let listing = apps::list_scope_requests(&state, status, limit, filter.cursor).await?;
    Ok(Body(RequestList {
        scope_requests: listing.items.iter().map(AdminScopeRequest::new).collect(),
        next_cursor: listing.next_cursor,
    })
    .into_response())
}

#[derive(Serialize)]
struct RequestEnvelope<'a> {
    scope_request: AdminScopeRequest<'a>,
}

async fn decide(
    state: &AppState,
    admin: &AdminUser,
    id: &str,
    approve: bool,
) -> ApiResult<Response> {
    let request = apps::decide_scope_request(state, &admin.user, id, approve).await?;
    Ok(Body(RequestEnvelope {
        scope_request: AdminScopeRequest::new(&request),
    })
    .into_response())
}

async fn approve_scopes(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    decide(&state, &admin, &id, true).await
}

async fn deny_scopes(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    decide(&state, &admin, &id, false).await
}
