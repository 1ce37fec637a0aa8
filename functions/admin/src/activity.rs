//! Every account's activity, for admins.

use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

use buddo_shared::domain::activity::{self, ActivityKind};
use buddo_shared::domain::input;
use buddo_shared::http::openapi::ActivityKindName;
use buddo_shared::http::{AdminUser, Json, PageQuery, Query};
use buddo_shared::{ApiResult, AppState};

use crate::views::{AdminActivity, AdminActivityPage};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ActivityFilter {
    /// Only this user's entries.
    #[serde(default)]
    user_id: Option<String>,
    /// Only entries of this kind.
    #[serde(default)]
    #[param(value_type = Option<ActivityKindName>, inline)]
    kind: Option<String>,
}

/// Everyone's activity (or one user's), newest first.
#[utoipa::path(get, path = "/api/admin/activity", tag = "admin",
    security(("user_jwt" = [])), params(ActivityFilter, PageQuery<AdminActivity>),
    responses(
        (status = 200, description = "A page of activity", body = AdminActivityPage),
    ))]
pub(crate) async fn everyones_activity(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(filter): Query<ActivityFilter>,
    Query(page): Query<PageQuery<AdminActivity>>,
) -> ApiResult<Json<AdminActivityPage>> {
    let kind = ActivityKind::filter(filter.kind.as_deref())?;
    let (limit, cursor) = page.read()?;
    let table = state.table.as_ref();
    let page = match filter.user_id.as_deref() {
        Some(user_id) => {
            let user_id = input::id("user_id", user_id)?;
            activity::of_user(table, &user_id, kind, limit, cursor).await?
        }
        None => activity::of_everyone(table, kind, limit, cursor).await?,
    };
    Ok(Json(AdminActivityPage {
        items: page.entries.iter().map(AdminActivity::new).collect(),
        next_cursor: page.next_cursor,
    }))
}
