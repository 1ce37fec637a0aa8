//! Operator apps under review, and their owners' requests for more scopes.

use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::IntoParams;

use buddo_shared::domain::oauth::apps::{self, RequestStatus};
use buddo_shared::http::openapi::{ErrorBody, ScopeRequestStatusName};
use buddo_shared::http::{AdminUser, Json, PageQuery, Query};
use buddo_shared::{ApiError, ApiResult, AppState};

use crate::views::{
    AdminApp, AdminScopeRequest, AppEnvelope, AppList, RequestEnvelope, RequestList,
};

/// The 409 of the reviews of an app.
const APP_CHANGED: &str = "`app_changed`: the app changed meanwhile; try again";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AppFilter {
    /// Only approved apps (`true`) or only pending ones (`false`).
    #[serde(default)]
    approved: Option<bool>,
}

/// Every app, oldest first (pending and approved ones each in order).
#[utoipa::path(get, path = "/api/admin/apps", tag = "admin",
    security(("user_jwt" = [])), params(AppFilter, PageQuery<AdminApp>),
    responses(
        (status = 200, description = "A page of apps", body = AppList),
    ))]
pub(crate) async fn list_apps(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(filter): Query<AppFilter>,
    Query(page): Query<PageQuery<AdminApp>>,
) -> ApiResult<Json<AppList>> {
    let (limit, cursor) = page.read()?;
    let listing = apps::list_all(&state, filter.approved, limit, cursor).await?;
    Ok(Json(AppList {
        items: listing.items.iter().map(AdminApp::new).collect(),
        next_cursor: listing.next_cursor,
    }))
}

async fn review(
    state: &AppState,
    id: &str,
    decision: apps::Review,
) -> ApiResult<Json<AppEnvelope>> {
    let app = apps::review(state, id, decision).await?;
    Ok(Json(AppEnvelope {
        app: AdminApp::new(&app),
    }))
}

/// Approves an app: any user may then authorize it; its pending changes go live; a
/// suspension ends.
#[utoipa::path(post, path = "/api/admin/apps/{id}/approve", tag = "admin",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The app's id")),
    responses(
        (status = 200, description = "The app, approved", body = AppEnvelope),
        (status = 404, description = "`app_not_found`", body = ErrorBody),
        (status = 409, description = APP_CHANGED, body = ErrorBody),
    ))]
pub(crate) async fn approve_app(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<AppEnvelope>> {
    review(&state, &id, apps::Review::Approve).await
}

/// Withdraws an app's approval: only its owner may authorize it again, and everything it
/// holds for anyone else — codes, access and refresh tokens, app sessions — ends at once
/// (approving it again does not bring them back).
#[utoipa::path(post, path = "/api/admin/apps/{id}/unapprove", tag = "admin",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The app's id")),
    responses(
        (status = 200, description = "The app, not approved", body = AppEnvelope),
        (status = 404, description = "`app_not_found`", body = ErrorBody),
        (status = 409, description = APP_CHANGED, body = ErrorBody),
    ))]
pub(crate) async fn unapprove_app(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<AppEnvelope>> {
    review(&state, &id, apps::Review::Unapprove).await
}

/// Suspends an app for abuse: nobody, its owner included, can authorize or use it, and
/// everything it holds for anyone ends at once. Approving it again ends the suspension.
#[utoipa::path(post, path = "/api/admin/apps/{id}/suspend", tag = "admin",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The app's id")),
    responses(
        (status = 200, description = "The app, suspended", body = AppEnvelope),
        (status = 404, description = "`app_not_found`", body = ErrorBody),
        (status = 409, description = APP_CHANGED, body = ErrorBody),
    ))]
pub(crate) async fn suspend_app(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<AppEnvelope>> {
    review(&state, &id, apps::Review::Suspend).await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct RequestFilter {
    /// Only requests of this status.
    #[serde(default)]
    #[param(value_type = Option<ScopeRequestStatusName>, inline)]
    status: Option<String>,
}

/// Every scope request, oldest first (those of each status in order).
#[utoipa::path(get, path = "/api/admin/scope-requests", tag = "admin",
    security(("user_jwt" = [])), params(RequestFilter, PageQuery<AdminScopeRequest>),
    responses(
        (status = 200, description = "A page of scope requests", body = RequestList),
    ))]
pub(crate) async fn list_scope_requests(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(filter): Query<RequestFilter>,
    Query(page): Query<PageQuery<AdminScopeRequest>>,
) -> ApiResult<Json<RequestList>> {
    let status = filter
        .status
        .as_deref()
        .map(|s| {
            RequestStatus::parse(s)
                .ok_or_else(|| ApiError::field("status", "must be pending, approved or denied"))
        })
        .transpose()?;
    let (limit, cursor) = page.read()?;
    let listing = apps::list_scope_requests(&state, status, limit, cursor).await?;
    Ok(Json(RequestList {
        items: listing.items.iter().map(AdminScopeRequest::new).collect(),
        next_cursor: listing.next_cursor,
    }))
}

async fn decide(
    state: &AppState,
    admin: &AdminUser,
    id: &str,
    approve: bool,
) -> ApiResult<Json<RequestEnvelope>> {
    let request = apps::decide_scope_request(state, &admin.user, id, approve).await?;
    Ok(Json(RequestEnvelope {
        scope_request: AdminScopeRequest::new(&request),
    }))
}

/// Approves a pending scope request: its scopes join the app's allowed scopes.
#[utoipa::path(post, path = "/api/admin/scope-requests/{id}/approve", tag = "admin",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The scope request's id")),
    responses(
        (status = 200, description = "The request, approved", body = RequestEnvelope),
        (status = 404, description = "`scope_request_not_found`, `app_not_found` (the app is gone)", body = ErrorBody),
        (status = 409, description = "`scope_request_decided`: it was decided already; `app_changed`: the app changed meanwhile", body = ErrorBody),
    ))]
pub(crate) async fn approve_scopes(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<RequestEnvelope>> {
    decide(&state, &admin, &id, true).await
}

/// Denies a pending scope request.
#[utoipa::path(post, path = "/api/admin/scope-requests/{id}/deny", tag = "admin",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The scope request's id")),
    responses(
        (status = 200, description = "The request, denied", body = RequestEnvelope),
        (status = 404, description = "`scope_request_not_found`", body = ErrorBody),
        (status = 409, description = "`scope_request_decided`: it was decided already", body = ErrorBody),
    ))]
pub(crate) async fn deny_scopes(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<RequestEnvelope>> {
    decide(&state, &admin, &id, false).await
}
