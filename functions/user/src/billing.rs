//! Subscriptions paid in points: the public plan list and the signed-in user's subscriptions.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use buddo_shared::domain::billing::{plans, subscriptions, Plan, Subscription};
use buddo_shared::domain::RequestMeta;
use buddo_shared::http::openapi::{subscription_status, ErrorBody};
use buddo_shared::http::{AuthUser, Json};
use buddo_shared::{ApiResult, AppState};

/// A plan one can subscribe to.
#[derive(Serialize, ToSchema)]
pub struct PlanView {
    pub id: String,
    pub name: String,
    /// Points charged per period.
    pub price: i64,
    pub period_days: i64,
    pub features: Vec<String>,
}

impl PlanView {
    pub fn new(plan: &Plan) -> Self {
        PlanView {
            id: plan.id.clone(),
            name: plan.name.clone(),
            price: plan.price,
            period_days: plan.period_days,
            features: plan.features.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PlanList {
    pub plans: Vec<PlanView>,
}

/// A subscription of yours.
#[derive(Serialize, ToSchema)]
pub struct SubscriptionView {
    pub id: String,
    /// The plan's id.
    pub plan: String,
    pub plan_name: String,
    /// Points the current period cost.
    pub price: i64,
    #[schema(schema_with = subscription_status)]
    pub status: buddo_shared::domain::billing::SubscriptionStatus,
    /// RFC 3339.
    pub current_period_start: String,
    /// RFC 3339: when it renews (or ends, with `cancel_at_period_end`).
    pub current_period_end: String,
    pub cancel_at_period_end: bool,
    /// The plan the next period moves to, after a change of plan.
    #[schema(required = true)]
    pub next_plan: Option<String>,
    #[schema(required = true)]
    pub canceled_at: Option<String>,
    pub created_at: String,
}

impl SubscriptionView {
    pub fn new(sub: &Subscription) -> Self {
        SubscriptionView {
            id: sub.id.clone(),
            plan: sub.plan_id.clone(),
            plan_name: sub.plan_name.clone(),
            price: sub.price,
            status: sub.status,
            current_period_start: sub.current_period_start.clone(),
            current_period_end: sub.current_period_end.clone(),
            cancel_at_period_end: sub.cancel_at_period_end,
            next_plan: sub.next_plan_id.clone(),
            canceled_at: sub.canceled_at.clone(),
            created_at: sub.created_at.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionList {
    pub subscriptions: Vec<SubscriptionView>,
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionEnvelope {
    pub subscription: SubscriptionView,
}

/// The live subscription as the profile shows it.
#[derive(Serialize, ToSchema)]
pub struct SubscriptionSummary {
    /// The plan's id.
    pub plan: String,
    #[schema(schema_with = subscription_status)]
    pub status: buddo_shared::domain::billing::SubscriptionStatus,
    pub current_period_end: String,
}

impl SubscriptionSummary {
    pub fn new(sub: &Subscription) -> Self {
        SubscriptionSummary {
            plan: sub.plan_id.clone(),
            status: sub.status,
            current_period_end: sub.current_period_end.clone(),
        }
    }
}

/// The plans open to subscribers, by id.
#[utoipa::path(get, path = "/api/plans", tag = "subscriptions",
    responses((status = 200, description = "The plans", body = PlanList)))]
pub(crate) async fn list_plans(State(state): State<AppState>) -> ApiResult<Json<PlanList>> {
    let plans = plans::list(&state, true).await?;
    Ok(Json(PlanList {
        plans: plans.iter().map(PlanView::new).collect(),
    }))
}

/// Your subscriptions, newest first (ended ones too).
#[utoipa::path(get, path = "/api/user/subscriptions", tag = "subscriptions",
    security(("user_jwt" = [])),
    responses((status = 200, description = "Your subscriptions", body = SubscriptionList)))]
pub(crate) async fn my_subscriptions(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<SubscriptionList>> {
    let subs = subscriptions::list(&state, &auth.user.id).await?;
    Ok(Json(SubscriptionList {
        subscriptions: subs.iter().map(SubscriptionView::new).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct PlanChoice {
    /// A plan's id (`GET /api/plans`).
    plan_id: String,
}

/// Subscribes you to a plan, paying its first period from your points now.
#[utoipa::path(post, path = "/api/user/subscriptions", tag = "subscriptions",
    security(("user_jwt" = [])), request_body = PlanChoice,
    responses(
        (status = 201, description = "The subscription, its first period paid", body = SubscriptionEnvelope),
        (status = 402, description = "`insufficient_points`: your points do not cover the first period", body = ErrorBody),
        (status = 404, description = "`plan_not_found`: no open plan has that id", body = ErrorBody),
        (status = 409, description = "`subscription_exists`: you already have a live subscription", body = ErrorBody),
    ))]
pub(crate) async fn subscribe(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Json(body): Json<PlanChoice>,
) -> ApiResult<(StatusCode, Json<SubscriptionEnvelope>)> {
    let sub = subscriptions::subscribe(&state, &auth.user, &body.plan_id, &meta).await?;
    Ok((
        StatusCode::CREATED,
        Json(SubscriptionEnvelope {
            subscription: SubscriptionView::new(&sub),
        }),
    ))
}

fn envelope(sub: &Subscription) -> Json<SubscriptionEnvelope> {
    Json(SubscriptionEnvelope {
        subscription: SubscriptionView::new(sub),
    })
}

/// Moves your subscription to another plan from its next period (its own plan: undoes a
/// pending change).
#[utoipa::path(put, path = "/api/user/subscriptions/{id}", tag = "subscriptions",
    security(("user_jwt" = [])), request_body = PlanChoice,
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "The subscription, `next_plan` set", body = SubscriptionEnvelope),
        (status = 404, description = "`subscription_not_found`, `plan_not_found`", body = ErrorBody),
        (status = 409, description = "`subscription_canceled`, `subscription_changed`", body = ErrorBody),
    ))]
pub(crate) async fn change_plan(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Path(id): Path<String>,
    Json(body): Json<PlanChoice>,
) -> ApiResult<Json<SubscriptionEnvelope>> {
    let sub = subscriptions::change_plan(&state, &auth.user, &id, &body.plan_id, &meta).await?;
    Ok(envelope(&sub))
}

/// Cancels your subscription: an active one at the end of the paid period
/// (`cancel_at_period_end`), a paused or past-due one at once.
#[utoipa::path(put, path = "/api/user/subscriptions/{id}/cancel", tag = "subscriptions",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionEnvelope),
        (status = 404, description = "`subscription_not_found`", body = ErrorBody),
        (status = 409, description = "`subscription_changed`", body = ErrorBody),
    ))]
pub(crate) async fn cancel(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> ApiResult<Json<SubscriptionEnvelope>> {
    Ok(envelope(
        &subscriptions::cancel(&state, &auth.user, &id, &meta).await?,
    ))
}

/// Pauses your subscription: it renews no more until resumed (the paid period still ends when
/// it ends).
#[utoipa::path(put, path = "/api/user/subscriptions/{id}/pause", tag = "subscriptions",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "The subscription, `paused`", body = SubscriptionEnvelope),
        (status = 404, description = "`subscription_not_found`", body = ErrorBody),
        (status = 409, description = "`subscription_canceled`, `subscription_past_due`, `subscription_changed`", body = ErrorBody),
    ))]
pub(crate) async fn pause(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> ApiResult<Json<SubscriptionEnvelope>> {
    Ok(envelope(
        &subscriptions::pause(&state, &auth.user, &id, &meta).await?,
    ))
}

/// Resumes your paused subscription. Within its paid period it renews again as before; after
/// it, a new period starts now and is paid from your points at once.
#[utoipa::path(put, path = "/api/user/subscriptions/{id}/unpause", tag = "subscriptions",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The subscription's id")),
    responses(
        (status = 200, description = "The subscription, `active`", body = SubscriptionEnvelope),
        (status = 402, description = "`insufficient_points`: a new period is due and your points do not cover it", body = ErrorBody),
        (status = 404, description = "`subscription_not_found`", body = ErrorBody),
        (status = 409, description = "`subscription_canceled`, `subscription_changed`", body = ErrorBody),
    ))]
pub(crate) async fn unpause(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> ApiResult<Json<SubscriptionEnvelope>> {
    Ok(envelope(
        &subscriptions::unpause(&state, &auth.user, &id, &meta).await?,
    ))
}
