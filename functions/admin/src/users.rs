//! What an admin does to a user's account: points granted or deducted, disabling and
//! enabling it.

use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use buddo_shared::domain::account::deletion;
use buddo_shared::domain::input;
use buddo_shared::domain::input::Amount;
use buddo_shared::domain::ledger;
use buddo_shared::http::openapi::ErrorBody;
use buddo_shared::http::{AdminUser, Json};
use buddo_shared::{ApiResult, AppState};

use crate::views::{AccountStatus, Adjusted};

/// The 403 of what an admin does to an account.
const SELF_ACTION: &str =
    "`forbidden`: admins only; `self_action_forbidden`: never on your own account (another admin can, or the operator with `buddo admin enable`)";

/// Points an admin grants or deducts.
#[derive(Deserialize, ToSchema)]
#[schema(as = PointsAdjustmentBody)]
pub(crate) struct AdjustBody {
    /// A non-zero whole number from -1,000,000,000 to 1,000,000,000: positive grants,
    /// negative deducts (never below a balance of zero).
    #[schema(value_type = i64, minimum = -1_000_000_000, maximum = 1_000_000_000)]
    amount: Value,
    /// 1 to 500 characters, in the user's history.
    #[schema(max_length = 500)]
    reason: String,
}

/// Grants (`amount > 0`) or deducts (`amount < 0`) points, with a reason.
#[utoipa::path(post, path = "/api/admin/users/{id}/points", tag = "admin",
    security(("user_jwt" = [])), request_body = AdjustBody,
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Adjusted", body = Adjusted),
        (status = 400, description = "`insufficient_points`: a deduction larger than the balance; bad input: `validation_failed` (`amount`, `reason`), `malformed_json`, `invalid_request`", body = ErrorBody),
        (status = 403, description = SELF_ACTION, body = ErrorBody),
        (status = 404, description = "`user_not_found`", body = ErrorBody),
    ))]
pub(crate) async fn adjust_points(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
    Json(body): Json<AdjustBody>,
) -> ApiResult<Json<Adjusted>> {
    let amount = Amount::adjustment("amount", &body.amount)?.get();
    let reason = input::text("reason", &body.reason, 1, 500)?;
    let points = ledger::adjust_by_admin(&state, &admin.user.id, &id, amount, &reason).await?;
    Ok(Json(Adjusted {
        user_id: id,
        amount,
        points,
    }))
}

/// Disables an account: its owner can no longer sign in, refresh, or use any token, and
/// every login session ends at once.
#[utoipa::path(post, path = "/api/admin/users/{id}/disable", tag = "admin",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Disabled", body = AccountStatus),
        (status = 403, description = SELF_ACTION, body = ErrorBody),
        (status = 404, description = "`user_not_found`", body = ErrorBody),
    ))]
pub(crate) async fn disable_user(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<AccountStatus>> {
    set_disabled(&state, &admin, &id, true).await
}

/// Enables a disabled account again; its owner signs in anew.
#[utoipa::path(post, path = "/api/admin/users/{id}/enable", tag = "admin",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Enabled", body = AccountStatus),
        (status = 403, description = SELF_ACTION, body = ErrorBody),
        (status = 404, description = "`user_not_found`", body = ErrorBody),
    ))]
pub(crate) async fn enable_user(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<AccountStatus>> {
    set_disabled(&state, &admin, &id, false).await
}

async fn set_disabled(
    state: &AppState,
    admin: &AdminUser,
    id: &str,
    disabled: bool,
) -> ApiResult<Json<AccountStatus>> {
    let user = deletion::set_disabled(state, &admin.user.id, id, disabled).await?;
    Ok(Json(AccountStatus {
        id: user.id,
        username: user.username,
        disabled: user.disabled,
    }))
}
