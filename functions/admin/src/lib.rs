//! `/api/admin/*`: app review, scope requests, ad campaigns, points and accounts, users moved
//! in and out. Admins only (403 `forbidden` for others).

mod activity;
mod apps;
mod campaigns;
mod plans;
mod transfer;
mod users;
mod views;
mod webhooks;

use axum::extract::DefaultBodyLimit;
use axum::http::Method;
use axum::routing;
use axum::Router;

use buddo_shared::http::Routes;
use buddo_shared::AppState;

use activity::*;
use apps::*;
use campaigns::*;
use plans::*;
use transfer::*;
use users::*;
use webhooks::*;

/// The group as a Lambda function serves it.
pub fn router(state: AppState) -> Router {
    buddo_shared::http::finish(routes(), state)
}

/// The group's operations, for the API's OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_apps,
    suspend_app,
    approve_app,
    unapprove_app,
    list_scope_requests,
    approve_scopes,
    deny_scopes,
    list_campaigns,
    create_campaign,
    update_campaign,
    pause_campaign,
    resume_campaign,
    all_plans,
    create_plan,
    update_plan,
    adjust_points,
    disable_user,
    enable_user,
    everyones_activity,
    import_users,
    export_users,
    admin_create_webhook,
    admin_list_webhooks,
    admin_get_webhook,
    admin_update_webhook,
    admin_delete_webhook,
    admin_rotate_webhook_secret,
    admin_webhook_deliveries,
    admin_replay_webhook_delivery,
))]
pub struct Api;

/// The group's routes, for the Lambda router, the local server and the route list.
pub fn routes() -> Routes {
    Routes::new()
        .get("/api/admin/apps", list_apps)
        .post("/api/admin/apps/{id}/approve", approve_app)
        .post("/api/admin/apps/{id}/unapprove", unapprove_app)
        .post("/api/admin/apps/{id}/suspend", suspend_app)
        .get("/api/admin/scope-requests", list_scope_requests)
        .post("/api/admin/scope-requests/{id}/approve", approve_scopes)
        .post("/api/admin/scope-requests/{id}/deny", deny_scopes)
        .get("/api/admin/campaigns", list_campaigns)
        .post("/api/admin/campaigns", create_campaign)
        .patch("/api/admin/campaigns/{id}", update_campaign)
        .post("/api/admin/campaigns/{id}/pause", pause_campaign)
        .post("/api/admin/campaigns/{id}/resume", resume_campaign)
        .get("/api/admin/plans", all_plans)
        .post("/api/admin/plans", create_plan)
        .patch("/api/admin/plans/{id}", update_plan)
        .post("/api/admin/users/{id}/points", adjust_points)
        .post("/api/admin/users/{id}/disable", disable_user)
        .post("/api/admin/users/{id}/enable", enable_user)
        .get("/api/admin/activity", everyones_activity)
        .route(
            Method::POST,
            "/api/admin/users/import",
            routing::post(import_users).layer(DefaultBodyLimit::max(MAX_IMPORT_BYTES)),
        )
        .get("/api/admin/users/export", export_users)
        .post("/api/admin/webhooks", admin_create_webhook)
        .get("/api/admin/webhooks", admin_list_webhooks)
        .get("/api/admin/webhooks/{endpoint_id}", admin_get_webhook)
        .patch("/api/admin/webhooks/{endpoint_id}", admin_update_webhook)
        .delete("/api/admin/webhooks/{endpoint_id}", admin_delete_webhook)
        .post(
            "/api/admin/webhooks/{endpoint_id}/rotate-secret",
            admin_rotate_webhook_secret,
        )
        .get(
            "/api/admin/webhooks/{endpoint_id}/deliveries",
            admin_webhook_deliveries,
        )
        .post(
            "/api/admin/webhooks/{endpoint_id}/deliveries/{delivery_id}/replay",
            admin_replay_webhook_delivery,
        )
}
