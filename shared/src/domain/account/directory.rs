//! Finding users: public profiles by username or id, whether a username is free, and search by
//! username prefix.
//!
//! Prefix search reads an index, never the table: each username marker is also on GSI1, in the
//! partition of its first letter (`USERNAMES#<c>`), sorted by the lower-case name, so a
//! search is one Query with `begins_with` on one partition. Usernames start with a letter: the
//! partitions split the load 26 ways, and each grows only with registrations.

use crate::domain::identity::usernames::{is_reserved, UsernameMarker};
use crate::domain::identity::users::{self, User};
use crate::domain::input::Username;
use crate::domain::RequestMeta;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Query, SortKey, StoreError};

fn user_not_found() -> ApiError {
    ApiError::not_found("user_not_found", "No user by that name")
}

/// Anyone visible: not disabled.
fn visible(user: Option<User>) -> ApiResult<User> {
    user.filter(|u| !u.disabled).ok_or_else(user_not_found)
}

pub async fn by_username(state: &AppState, raw: &str) -> ApiResult<User> {
    let lower = raw.trim().to_lowercase();
    if lower.is_empty() || lower.len() > 30 {
        return Err(user_not_found());
    }
    let Some(item) = state.table.get(&keys::username_marker(&lower)).await? else {
        return Err(user_not_found());
    };
    let marker: UsernameMarker = store::from_item(item)?;
    visible(users::get(state.table.as_ref(), &marker.user_id).await?)
}

pub async fn by_id(state: &AppState, id: &str) -> ApiResult<User> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(user_not_found());
    }
    visible(users::get(state.table.as_ref(), id).await?)
}

/// Whether a name could be registered now: valid by the rules of registration, not reserved,
/// not taken (regardless of case).
pub async fn available(state: &AppState, raw: &str) -> ApiResult<bool> {
    let Ok(name) = Username::parse(raw) else {
        return Ok(false);
    };
    if is_reserved(&name.lower()) {
        return Ok(false);
    }
    Ok(state
        .table
        .get(&keys::username_marker(&name.lower()))
        .await?
        .is_none())
}

pub struct SearchPage {
    pub users: Vec<User>,
    pub next_cursor: Option<String>,
}

/// Users whose name starts with `q` (any case), in name order, a page at a time. Limited per
/// address.
pub async fn search(
    state: &AppState,
    q: &str,
    limit: usize,
    cursor: Option<String>,
    meta: &RequestMeta,
) -> ApiResult<SearchPage> {
    state
        .limiter
        .hit(
            "user-search",
            &meta.ip_subject(),
            state.config.rate_limits.user_search,
        )
        .await?;
    let prefix = q.trim().to_lowercase();
    if prefix.is_empty()
        || prefix.len() > 30
        || !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(ApiError::field(
            "q",
            "must be 1 to 30 letters, digits or underscores",
        ));
    }
    let initial = prefix.chars().next().expect("not empty");
    let page = state
        .table
        .query(
            &Query::gsi1(keys::usernames_by_initial(initial))
                .sk(SortKey::BeginsWith(prefix))
                .limit(limit)
                .cursor(cursor),
        )
        .await
        .map_err(|e| match e {
            StoreError::Invalid(_) => ApiError::field("cursor", "is not a cursor of this search"),
            other => other.into(),
        })?;
    let ids: Vec<String> = page
        .items
        .into_iter()
        .map(|item| store::from_item::<UsernameMarker>(item).map(|m| m.user_id))
        .collect::<Result<_, _>>()?;
    let table = state.table.as_ref();
    let found = futures::future::try_join_all(ids.iter().map(|id| users::get(table, id))).await?;
    Ok(SearchPage {
        users: found
            .into_iter()
            .flatten()
            .filter(|u| !u.disabled)
            .collect(),
        next_cursor: page.cursor,
    })
}
