//! `/api/oauth/my-apps/{id}/webhooks`: an app owner's webhook endpoints, which hear of the
//! app's users (those with a grant to the app). Someone else's app is 404 `app_not_found`.

use axum::extract::{Path, State};
use axum::http::StatusCode;

use buddo_shared::domain::oauth::apps;
use buddo_shared::domain::webhooks::endpoints::Owner;
use buddo_shared::http::openapi::{ErrorBody, Message};
use buddo_shared::http::webhooks::{
    CreatedEndpoint, DeliveryList, DeliveryView, EndpointChangesBody, EndpointList, EndpointView,
    NewEndpointBody, OwnedEndpoints,
};
use buddo_shared::http::{AuthUser, Json, PageQuery, Query};
use buddo_shared::{ApiResult, AppState};

/// The app's endpoints, once the caller is found to own the app.
async fn owned<'a>(
    state: &'a AppState,
    auth: &AuthUser,
    app_id: &str,
) -> ApiResult<OwnedEndpoints<'a>> {
    let app = apps::owned(state.table.as_ref(), &auth.user, app_id).await?;
    Ok(OwnedEndpoints {
        state,
        owner: Owner::App(app.id),
    })
}

/// Registers a webhook endpoint for one of your apps; the answer shows its signing secret,
/// the only time it is shown.
#[utoipa::path(post, path = "/api/oauth/my-apps/{id}/webhooks", tag = "oauth",
    security(("user_jwt" = [])), request_body = NewEndpointBody,
    params(("id" = String, Path, description = "The app's id")),
    responses(
        (status = 201, description = "The endpoint and its secret", body = CreatedEndpoint),
        (status = 400, description = "`validation_failed`: a URL that is not https or resolves to a loopback, private, link-local, multicast or unspecified address; an unknown event type", body = ErrorBody),
        (status = 404, description = "`app_not_found` (also for an app you do not own)", body = ErrorBody),
        (status = 409, description = "`too_many_endpoints`: 10 already", body = ErrorBody),
    ))]
pub(crate) async fn create_webhook(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<NewEndpointBody>,
) -> ApiResult<(StatusCode, Json<CreatedEndpoint>)> {
    owned(&state, &auth, &id).await?.create(body).await
}

/// The webhook endpoints of one of your apps, oldest first.
#[utoipa::path(get, path = "/api/oauth/my-apps/{id}/webhooks", tag = "oauth",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The app's id")),
    responses(
        (status = 200, description = "The endpoints", body = EndpointList),
        (status = 404, description = "`app_not_found` (also for an app you do not own)", body = ErrorBody),
    ))]
pub(crate) async fn list_webhooks(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<EndpointList>> {
    owned(&state, &auth, &id).await?.list().await
}

/// One webhook endpoint of one of your apps.
#[utoipa::path(get, path = "/api/oauth/my-apps/{id}/webhooks/{endpoint_id}", tag = "oauth",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The app's id"),
        ("endpoint_id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint", body = EndpointView),
        (status = 404, description = "`app_not_found`, `endpoint_not_found`", body = ErrorBody),
    ))]
pub(crate) async fn get_webhook(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<EndpointView>> {
    owned(&state, &auth, &id).await?.get(&endpoint_id).await
}

/// Changes a webhook endpoint of one of your apps.
#[utoipa::path(patch, path = "/api/oauth/my-apps/{id}/webhooks/{endpoint_id}", tag = "oauth",
    security(("user_jwt" = [])), request_body = EndpointChangesBody,
    params(("id" = String, Path, description = "The app's id"),
        ("endpoint_id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint as it is now", body = EndpointView),
        (status = 400, description = "`validation_failed`", body = ErrorBody),
        (status = 404, description = "`app_not_found`, `endpoint_not_found`", body = ErrorBody),
        (status = 409, description = "`endpoint_changed`: changed or deleted meanwhile", body = ErrorBody),
    ))]
pub(crate) async fn update_webhook(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((id, endpoint_id)): Path<(String, String)>,
    Json(body): Json<EndpointChangesBody>,
) -> ApiResult<Json<EndpointView>> {
    owned(&state, &auth, &id)
        .await?
        .update(&endpoint_id, body)
        .await
}

/// Deletes a webhook endpoint of one of your apps.
#[utoipa::path(delete, path = "/api/oauth/my-apps/{id}/webhooks/{endpoint_id}", tag = "oauth",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The app's id"),
        ("endpoint_id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "Deleted", body = Message),
        (status = 404, description = "`app_not_found`, `endpoint_not_found`", body = ErrorBody),
        (status = 409, description = "`endpoint_changed`: changed or deleted meanwhile", body = ErrorBody),
    ))]
pub(crate) async fn delete_webhook(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<Message>> {
    owned(&state, &auth, &id).await?.delete(&endpoint_id).await
}

/// A new signing secret for a webhook endpoint of one of your apps; the one it replaces keeps
/// signing beside it for 24 hours.
#[utoipa::path(post, path = "/api/oauth/my-apps/{id}/webhooks/{endpoint_id}/rotate-secret", tag = "oauth",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The app's id"),
        ("endpoint_id" = String, Path, description = "The endpoint's id")),
    responses(
        (status = 200, description = "The endpoint and its new secret", body = CreatedEndpoint),
        (status = 404, description = "`app_not_found`, `endpoint_not_found`", body = ErrorBody),
        (status = 409, description = "`endpoint_changed`: changed or deleted meanwhile", body = ErrorBody),
    ))]
pub(crate) async fn rotate_webhook_secret(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((id, endpoint_id)): Path<(String, String)>,
) -> ApiResult<Json<CreatedEndpoint>> {
    owned(&state, &auth, &id)
        .await?
        .rotate_secret(&endpoint_id)
        .await
}

/// The deliveries of a webhook endpoint of one of your apps, newest first.
#[utoipa::path(get, path = "/api/oauth/my-apps/{id}/webhooks/{endpoint_id}/deliveries", tag = "oauth",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The app's id"),
        ("endpoint_id" = String, Path, description = "The endpoint's id"),
        PageQuery<DeliveryView>),
    responses(
        (status = 200, description = "A page of deliveries", body = DeliveryList),
        (status = 400, description = "`validation_failed`: `limit`, `cursor`", body = ErrorBody),
        (status = 404, description = "`app_not_found`, `endpoint_not_found`", body = ErrorBody),
    ))]
pub(crate) async fn webhook_deliveries(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((id, endpoint_id)): Path<(String, String)>,
    Query(page): Query<PageQuery<DeliveryView>>,
) -> ApiResult<Json<DeliveryList>> {
    owned(&state, &auth, &id)
        .await?
        .deliveries(&endpoint_id, page)
        .await
}

/// Sends a delivery of a webhook endpoint of one of your apps again, with the same
/// `webhook-id` (and three more days of retries).
#[utoipa::path(post, path = "/api/oauth/my-apps/{id}/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay", tag = "oauth",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The app's id"),
        ("endpoint_id" = String, Path, description = "The endpoint's id"),
        ("delivery_id" = String, Path, description = "The delivery's id (the event's)")),
    responses(
        (status = 202, description = "Queued: sent within a minute", body = DeliveryView),
        (status = 404, description = "`app_not_found`, `endpoint_not_found`, `delivery_not_found`", body = ErrorBody),
        (status = 409, description = "`delivery_in_progress`", body = ErrorBody),
    ))]
pub(crate) async fn replay_webhook_delivery(
    State(state): State<AppState>,
    auth: AuthUser,
    Path((id, endpoint_id, delivery_id)): Path<(String, String, String)>,
) -> ApiResult<(StatusCode, Json<DeliveryView>)> {
    owned(&state, &auth, &id)
        .await?
        .replay(&endpoint_id, &delivery_id)
        .await
}
