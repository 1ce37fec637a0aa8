//! Subscription plans: what each costs per period, in points.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use buddo_shared::domain::billing::plans::{self, NewPlan, PlanChanges};
use buddo_shared::domain::billing::Plan;
use buddo_shared::http::openapi::ErrorBody;
use buddo_shared::http::{AdminUser, Json};
use buddo_shared::{ApiResult, AppState};

/// A plan as admins see it.
#[derive(Serialize, ToSchema)]
pub(crate) struct AdminPlanView {
    id: String,
    name: String,
    /// Points charged per period.
    price: i64,
    period_days: i64,
    features: Vec<String>,
    /// Open to new subscribers (subscriptions of an inactive plan go on renewing).
    active: bool,
    created_at: String,
    updated_at: String,
}

impl AdminPlanView {
    fn new(plan: Plan) -> Self {
        AdminPlanView {
            id: plan.id,
            name: plan.name,
            price: plan.price,
            period_days: plan.period_days,
            features: plan.features,
            active: plan.active,
            created_at: plan.created_at,
            updated_at: plan.updated_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct AdminPlanList {
    plans: Vec<AdminPlanView>,
}

#[derive(Serialize, ToSchema)]
pub(crate) struct AdminPlanEnvelope {
    plan: AdminPlanView,
}

/// Every plan, active or not, by id.
#[utoipa::path(get, path = "/api/admin/plans", tag = "admin",
    security(("user_jwt" = [])),
    responses((status = 200, description = "The plans", body = AdminPlanList)))]
pub(crate) async fn all_plans(
    State(state): State<AppState>,
    _admin: AdminUser,
) -> ApiResult<Json<AdminPlanList>> {
    let plans = plans::list(&state, false).await?;
    Ok(Json(AdminPlanList {
        plans: plans.into_iter().map(AdminPlanView::new).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
pub(crate) struct NewPlanBody {
    /// 1 to 64 of a-z, 0-9, `_` and `-`: the id subscribers name (`premium_monthly`).
    id: String,
    /// 1 to 100 characters.
    name: String,
    /// Points per period: 1 to 1,000,000,000.
    #[schema(value_type = i64, minimum = 1, maximum = 1_000_000_000)]
    price: Value,
    /// 1 to 366.
    #[schema(value_type = i64, minimum = 1, maximum = 366)]
    period_days: Value,
    /// At most 32, each 1 to 100 characters.
    #[serde(default)]
    features: Vec<String>,
    /// Open to subscribers (default true).
    #[serde(default)]
    active: Option<bool>,
}

/// Creates a plan.
#[utoipa::path(post, path = "/api/admin/plans", tag = "admin",
    security(("user_jwt" = [])), request_body = NewPlanBody,
    responses(
        (status = 201, description = "The plan", body = AdminPlanEnvelope),
        (status = 409, description = "`plan_exists`: a plan has that id", body = ErrorBody),
    ))]
pub(crate) async fn create_plan(
    State(state): State<AppState>,
    _admin: AdminUser,
    Json(body): Json<NewPlanBody>,
) -> ApiResult<(StatusCode, Json<AdminPlanEnvelope>)> {
    let new = NewPlan::parse(
        &body.id,
        &body.name,
        &body.price,
        &body.period_days,
        body.features,
        body.active,
    )?;
    let plan = plans::create(&state, new).await?;
    Ok((
        StatusCode::CREATED,
        Json(AdminPlanEnvelope {
            plan: AdminPlanView::new(plan),
        }),
    ))
}

/// Changes to a plan: fields left out stay. A new price or period applies from each
/// subscription's next renewal.
#[derive(Deserialize, ToSchema)]
pub(crate) struct PlanChangesBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000)]
    price: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 366)]
    period_days: Option<Value>,
    #[serde(default)]
    features: Option<Vec<String>>,
    #[serde(default)]
    active: Option<bool>,
}

/// Changes a plan (`active: false` closes it to new subscribers).
#[utoipa::path(patch, path = "/api/admin/plans/{id}", tag = "admin",
    security(("user_jwt" = [])), request_body = PlanChangesBody,
    params(("id" = String, Path, description = "The plan's id")),
    responses(
        (status = 200, description = "The plan as it is now", body = AdminPlanEnvelope),
        (status = 404, description = "`plan_not_found`", body = ErrorBody),
    ))]
pub(crate) async fn update_plan(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
    Json(body): Json<PlanChangesBody>,
) -> ApiResult<Json<AdminPlanEnvelope>> {
    let changes = PlanChanges::parse(
        body.name,
        body.price,
        body.period_days,
        body.features,
        body.active,
    )?;
    let plan = plans::update(&state, &id, changes).await?;
    Ok(Json(AdminPlanEnvelope {
        plan: AdminPlanView::new(plan),
    }))
}
