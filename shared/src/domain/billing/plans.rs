//! Plans: what a subscription costs per period, in points. Admins create and change them; a
//! plan is never deleted (subscriptions name it), only made inactive: an inactive plan takes no
//! new subscribers, and the subscriptions it has go on renewing.

use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::domain::input::{self, Amount, FieldErrors};
use crate::error::{ApiError, ApiResult, OnCondition};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Cond, Query, SortKey, Update, WriteOp};

/// The longest period a plan can have.
pub const MAX_PERIOD_DAYS: i64 = 366;
/// The most features a plan lists.
pub const MAX_FEATURES: usize = 32;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub id: String,
    pub name: String,
    /// Points per period.
    pub price: i64,
    pub period_days: i64,
    #[serde(default)]
    pub features: Vec<String>,
    pub active: bool,
    pub created_at: String,
    pub updated_at: String,
}

fn not_found() -> ApiError {
    ApiError::not_found("plan_not_found", "No plan has that id")
}

/// A plan's id: 1 to 64 of `a-z`, `0-9`, `_`, `-` (`premium_monthly`).
pub fn parse_id(field: &'static str, raw: &str) -> ApiResult<String> {
    let ok = (1..=64).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(raw.to_string())
    } else {
        Err(ApiError::field(
            field,
            "must be 1 to 64 of a-z, 0-9, _ and - (such as premium_monthly)",
        ))
    }
}

fn parse_period(raw: &serde_json::Value) -> ApiResult<i64> {
    match raw.as_i64() {
        Some(n) if (1..=MAX_PERIOD_DAYS).contains(&n) => Ok(n),
        _ => Err(ApiError::field(
            "period_days",
            format!("must be a whole number of days from 1 to {MAX_PERIOD_DAYS}"),
        )),
    }
}

fn parse_features(raw: Vec<String>) -> ApiResult<Vec<String>> {
    if raw.len() > MAX_FEATURES {
        return Err(ApiError::field(
            "features",
            format!("must list at most {MAX_FEATURES} features"),
        ));
    }
    raw.iter()
        .map(|f| input::text("features", f, 1, 100))
        .collect()
}

/// A plan as an admin describes it, checked.
pub struct NewPlan {
    pub id: String,
    pub name: String,
    pub price: i64,
    pub period_days: i64,
    pub features: Vec<String>,
    pub active: bool,
}

impl NewPlan {
    pub fn parse(
        id: &str,
        name: &str,
        price: &serde_json::Value,
        period_days: &serde_json::Value,
        features: Vec<String>,
        active: Option<bool>,
    ) -> ApiResult<Self> {
        let mut errors = FieldErrors::default();
        let plan = (
            errors.take(parse_id("id", id)),
            errors.take(input::text("name", name, 1, 100)),
            errors.take(Amount::parse("price", price)),
            errors.take(parse_period(period_days)),
            errors.take(parse_features(features)),
        );
        errors.finish()?;
        match plan {
            (Some(id), Some(name), Some(price), Some(period_days), Some(features)) => Ok(NewPlan {
                id,
                name,
                price: price.get(),
                period_days,
                features,
                active: active.unwrap_or(true),
            }),
            _ => Err(ApiError::internal("a plan field failed without an error")),
        }
    }
}

/// What a change of a plan names; the rest stays. A new price or period applies from each
/// subscription's next renewal.
#[derive(Default)]
pub struct PlanChanges {
    pub name: Option<String>,
    pub price: Option<i64>,
    pub period_days: Option<i64>,
    pub features: Option<Vec<String>>,
    pub active: Option<bool>,
}

impl PlanChanges {
    pub fn parse(
        name: Option<String>,
        price: Option<serde_json::Value>,
        period_days: Option<serde_json::Value>,
        features: Option<Vec<String>>,
        active: Option<bool>,
    ) -> ApiResult<Self> {
        let mut errors = FieldErrors::default();
        let changes = PlanChanges {
            name: name.and_then(|n| errors.take(input::text("name", &n, 1, 100))),
            price: price.and_then(|p| errors.take(Amount::parse("price", &p)).map(Amount::get)),
            period_days: period_days.and_then(|p| errors.take(parse_period(&p))),
            features: features.and_then(|f| errors.take(parse_features(f))),
            active,
        };
        errors.finish()?;
        Ok(changes)
    }
}

fn item(plan: &Plan) -> ApiResult<store::Item> {
    let mut item = store::to_item(&keys::plan(&plan.id), plan)?;
    keys::plan_index(&plan.id).put_on(&mut item);
    Ok(item)
}

pub async fn create(state: &AppState, new: NewPlan) -> ApiResult<Plan> {
    let now = rfc3339(state.now());
    let plan = Plan {
        id: new.id,
        name: new.name,
        price: new.price,
        period_days: new.period_days,
        features: new.features,
        active: new.active,
        created_at: now.clone(),
        updated_at: now,
    };
    let key = keys::plan(&plan.id);
    state
        .table
        .write(vec![WriteOp::put_new(item(&plan)?)])
        .await
        .on_condition(&key, || {
            ApiError::conflict("plan_exists", "A plan with that id exists")
        })?;
    Ok(plan)
}

pub async fn update(state: &AppState, plan_id: &str, changes: PlanChanges) -> ApiResult<Plan> {
    let key = keys::plan(plan_id);
    let mut update = Update::new(key.clone()).set("updated_at", rfc3339(state.now()));
    if let Some(v) = changes.name {
        update = update.set("name", v);
    }
    if let Some(v) = changes.price {
        update = update.set("price", v);
    }
    if let Some(v) = changes.period_days {
        update = update.set("period_days", v);
    }
    if let Some(v) = changes.features {
        update = update.set("features", serde_json::json!(v));
    }
    if let Some(v) = changes.active {
        update = update.set("active", v);
    }
    state
        .table
        .write(vec![update.when(Cond::Exists).into_op()])
        .await
        .on_condition(&key, not_found)?;
    get(state, plan_id).await?.ok_or_else(not_found)
}

pub async fn get(state: &AppState, plan_id: &str) -> ApiResult<Option<Plan>> {
    if parse_id("plan_id", plan_id).is_err() {
        return Ok(None);
    }
    match state.table.get(&keys::plan(plan_id)).await? {
        Some(item) => Ok(Some(store::from_item(item)?)),
        None => Ok(None),
    }
}

/// A plan one can subscribe to now: it exists and is active.
pub async fn open_for_subscribers(state: &AppState, plan_id: &str) -> ApiResult<Plan> {
    match get(state, plan_id).await? {
        Some(plan) if plan.active => Ok(plan),
        _ => Err(not_found()),
    }
}

/// Every plan (`active_only`: those open to subscribers), by id.
pub async fn list(state: &AppState, active_only: bool) -> ApiResult<Vec<Plan>> {
    let query = Query::gsi1(keys::PLANS_INDEX).sk(SortKey::Any).limit(100);
    let mut plans: Vec<Plan> = store::query_all(state.table.as_ref(), query).await?;
    plans.retain(|plan| plan.active || !active_only);
    Ok(plans)
}
