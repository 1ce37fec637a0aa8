//! `/api/admin/webhooks`: the admins' webhook endpoints, which hear of every user.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use buddo_shared::domain::webhooks::endpoints::{self, NewEndpoint, Owner};
use buddo_shared::http::openapi::{ErrorBody, Message};
use buddo_shared::http::webhooks::{
    CreatedEndpoint, DeliveryList, DeliveryView, EndpointChangesBody, EndpointList, EndpointView,
    NewEndpointBody,
};
use buddo_shared::http::{message, AdminUser, Json, Page, PageQuery, Query};
use buddo_shared::{ApiResult, AppState};

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
    let owner = Owner::Admin;
    let new = NewEndpoint {
        url: body.url,
        event_types: body.event_types,
        description: body.description,
    };
    let endpoint = endpoints::create(&state, &owner, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedEndpoint::new(&endpoint, state.now_unix())),
    ))
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
    let owner = Owner::Admin;
    let list = endpoints::list(state.table.as_ref(), &owner).await?;
    let now = state.now_unix();
    Ok(Json(EndpointList {
        endpoints: list.iter().map(|e| EndpointView::new(e, now)).collect(),
    }))
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
    let owner = Owner::Admin;
    let endpoint = endpoints::get(state.table.as_ref(), &owner, &endpoint_id).await?;
    Ok(Json(EndpointView::new(&endpoint, state.now_unix())))
}

/// Changes a webhook endpoint (admins).
#[utoipa::path(patch, path = "/api/admin/webhooks/{endpoint_id}", tag = "admin",
    security(("user_jwt" = [])), request_body = EndpointChangesBody,
    params(("endpoint_id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint as it is now", body = EndpointView),
        (status = 400, description = "`validation_failed`", body = ErrorBody),
        (status = 404, description = "`endpoint_not_found`", body = ErrorBody),
    ))]
pub(crate) async fn admin_update_webhook(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(endpoint_id): Path<String>,
    Json(body): Json<EndpointChangesBody>,
) -> ApiResult<Json<EndpointView>> {
    let owner = Owner::Admin;
    let endpoint = endpoints::update(&state, &owner, &endpoint_id, body.into_changes()).await?;
    Ok(Json(EndpointView::new(&endpoint, state.now_unix())))
}

/// Deletes a webhook endpoint (admins).
#[utoipa::path(delete, path = "/api/admin/webhooks/{endpoint_id}", tag = "admin",
    security(("user_jwt" = [])),
    params(("endpoint_id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "Deleted", body = Message),
        (status = 404, description = "`endpoint_not_found`", body = ErrorBody),
    ))]
pub(crate) async fn admin_delete_webhook(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(endpoint_id): Path<String>,
) -> ApiResult<Json<Message>> {
    let owner = Owner::Admin;
    endpoints::delete(&state, &owner, &endpoint_id).await?;
    Ok(message("The webhook endpoint is deleted"))
}

/// A new signing secret for a webhook endpoint (admins); the one it replaces keeps
/// signing beside it for 24 hours.
#[utoipa::path(post, path = "/api/admin/webhooks/{endpoint_id}/rotate-secret", tag = "admin",
    security(("user_jwt" = [])),
    params(("endpoint_id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint and its new secret", body = CreatedEndpoint),
        (status = 404, description = "`endpoint_not_found`", body = ErrorBody),
        (status = 409, description = "`endpoint_changed`: rotated meanwhile", body = ErrorBody),
    ))]
pub(crate) async fn admin_rotate_webhook_secret(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(endpoint_id): Path<String>,
) -> ApiResult<Json<CreatedEndpoint>> {
    let owner = Owner::Admin;
    let endpoint = endpoints::rotate_secret(&state, &owner, &endpoint_id).await?;
    Ok(Json(CreatedEndpoint::new(&endpoint, state.now_unix())))
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
    let (limit, cursor) = page.read()?;
    let owner = Owner::Admin;
    let page =
        endpoints::deliveries(state.table.as_ref(), &owner, &endpoint_id, limit, cursor).await?;
    Ok(Json(Page {
        items: page.deliveries.into_iter().map(DeliveryView::new).collect(),
        next_cursor: page.next_cursor,
    }))
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
    let owner = Owner::Admin;
    let delivery = endpoints::replay(&state, &owner, &endpoint_id, &delivery_id).await?;
    Ok((StatusCode::ACCEPTED, Json(DeliveryView::new(delivery))))
}
