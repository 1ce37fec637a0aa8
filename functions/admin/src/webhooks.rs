//! `/api/admin/webhooks`: the admins' webhook endpoints, which hear of every user.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use buddo_shared::domain::webhooks::endpoints::Owner;
use buddo_shared::http::openapi::{ErrorBody, Message};
use buddo_shared::http::webhooks::{
    CreatedEndpoint, DeliveryList, DeliveryView, EndpointChangesBody, EndpointList, EndpointView,
    NewEndpointBody, OwnedEndpoints,
};
use buddo_shared::http::{AdminUser, Json, PageQuery, Query};
use buddo_shared::{ApiResult, AppState};

/// The admins' endpoints (the `AdminUser` extractor has let only admins in).
fn owned(state: &AppState) -> OwnedEndpoints<'_> {
    OwnedEndpoints {
        state,
        owner: Owner::Admin,
    }
}

/// Registers a webhook endpoint for every user's events; the answer shows its signing secret,
/// the only time it is shown.
#[utoipa::path(post, path = "/api/admin/webhooks", tag = "admin",
    security(("user_jwt" = [])), request_body = NewEndpointBody,
    responses(
        (status = 201, description = "The endpoint and its secret", body = CreatedEndpoint),
        (status = 400, description = "`validation_failed`: a URL that is not https or resolves to a loopback, private, link-local, multicast or unspecified address; an unknown event type", body = ErrorBody),
        (status = 409, description = "`too_many_endpoints`: 10 already", body = ErrorBody),
    ))]
pub(crate) async fn admin_create_webhook(
    State(state): State<AppState>,
    _admin: AdminUser,
    Json(body): Json<NewEndpointBody>,
) -> ApiResult<(StatusCode, Json<CreatedEndpoint>)> {
    owned(&state).create(body).await
}

/// The admins' webhook endpoints, oldest first.
#[utoipa::path(get, path = "/api/admin/webhooks", tag = "admin",
    security(("user_jwt" = [])),
    responses(
        (status = 200, description = "The endpoints", body = EndpointList),
    ))]
pub(crate) async fn admin_list_webhooks(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> ApiResult<Json<EndpointList>> {
    owned(&state).list().await
}

/// One webhook endpoint (admins).
#[utoipa::path(get, path = "/api/admin/webhooks/{endpoint_id}", tag = "admin",
    security(("user_jwt" = [])),
    params(("endpoint_id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint", body = EndpointView),
        (status = 404, description = "`endpoint_not_found`", body = ErrorBody),
    ))]
pub(crate) async fn admin_get_webhook(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(endpoint_id): Path<String>,
) -> ApiResult<Json<EndpointView>> {
    owned(&state).get(&endpoint_id).await
}

/// Changes a webhook endpoint (admins).
#[utoipa::path(patch, path = "/api/admin/webhooks/{endpoint_id}", tag = "admin",
    security(("user_jwt" = [])), request_body = EndpointChangesBody,
    params(("endpoint_id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint as it is now", body = EndpointView),
        (status = 400, description = "`validation_failed`", body = ErrorBody),
        (status = 404, description = "`endpoint_not_found`", body = ErrorBody),
        (status = 409, description = "`endpoint_changed`: changed or deleted meanwhile", body = ErrorBody),
    ))]
pub(crate) async fn admin_update_webhook(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(endpoint_id): Path<String>,
    Json(body): Json<EndpointChangesBody>,
) -> ApiResult<Json<EndpointView>> {
    owned(&state).update(&endpoint_id, body).await
}

/// Deletes a webhook endpoint (admins).
#[utoipa::path(delete, path = "/api/admin/webhooks/{endpoint_id}", tag = "admin",
    security(("user_jwt" = [])),
    params(("endpoint_id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "Deleted", body = Message),
        (status = 404, description = "`endpoint_not_found`", body = ErrorBody),
        (status = 409, description = "`endpoint_changed`: changed or deleted meanwhile", body = ErrorBody),
    ))]
pub(crate) async fn admin_delete_webhook(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(endpoint_id): Path<String>,
) -> ApiResult<Json<Message>> {
    owned(&state).delete(&endpoint_id).await
}

/// A new signing secret for a webhook endpoint (admins); the one it replaces keeps
/// signing beside it for 24 hours.
#[utoipa::path(post, path = "/api/admin/webhooks/{endpoint_id}/rotate-secret", tag = "admin",
    security(("user_jwt" = [])),
    params(("endpoint_id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint and its new secret", body = CreatedEndpoint),
        (status = 404, description = "`endpoint_not_found`", body = ErrorBody),
        (status = 409, description = "`endpoint_changed`: changed or deleted meanwhile", body = ErrorBody),
    ))]
pub(crate) async fn admin_rotate_webhook_secret(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(endpoint_id): Path<String>,
) -> ApiResult<Json<CreatedEndpoint>> {
    owned(&state).rotate_secret(&endpoint_id).await
}

/// The deliveries of a webhook endpoint (admins), newest first.
#[utoipa::path(get, path = "/api/admin/webhooks/{endpoint_id}/deliveries", tag = "admin",
    security(("user_jwt" = [])),
    params(("endpoint_id" = String, Path, description = "The endpoint's id"),
        PageQuery<DeliveryView>),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryList),
        (status = 400, description = "`validation_failed`: `limit`, `cursor`", body = ErrorBody),
        (status = 404, description = "`endpoint_not_found`", body = ErrorBody),
    ))]
pub(crate) async fn admin_webhook_deliveries(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(endpoint_id): Path<String>,
    Query(page): Query<PageQuery<DeliveryView>>,
) -> ApiResult<Json<DeliveryList>> {
    owned(&state).deliveries(&endpoint_id, page).await
}

/// Sends a delivery of a webhook endpoint (admins) again, with the same
/// `webhook-id` (and three more days of retries).
#[utoipa::path(post, path = "/api/admin/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay", tag = "admin",
    security(("user_jwt" = [])),
    params(("endpoint_id" = String, Path, description = "The endpoint's id"),
        ("delivery_id" = String, Path, description = "The delivery's id (the event's)")),
    responses(
        (status = 202, description = "Queued: sent within a minute", body = DeliveryView),
        (status = 404, description = "`endpoint_not_found`, `delivery_not_found`", body = ErrorBody),
        (status = 409, description = "`delivery_in_progress`", body = ErrorBody),
    ))]
pub(crate) async fn admin_replay_webhook_delivery(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path((endpoint_id, delivery_id)): Path<(String, String)>,
) -> ApiResult<(StatusCode, Json<DeliveryView>)> {
    owned(&state).replay(&endpoint_id, &delivery_id).await
}
