//! The activity log: what happened to an account and from where (sign-ins, failed sign-ins,
//! credential changes, sessions ended, apps connected and revoked, points moved). Each user
//! pages through their own; admins through everyone's. Entries expire after the retention.
//!
//! An entry lives in its user's partition; for the admin list it is also indexed on GSI1 in
//! one of [`SHARDS`] partitions (by user), so that no single partition takes every sign-in of
//! the platform. The admin list reads the shards and merges them newest first.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::rfc3339;
use crate::crypto::hash_secret;
use crate::domain::RequestMeta;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Query, SortKey, StoreError, Table, WriteOp, GSI1PK, GSI1SK, TTL};

/// GSI1 partitions of the admin list.
pub const SHARDS: u32 = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActivityKind {
    Login,
    LoginFailed,
    PasswordChanged,
    PasswordReset,
    EmailChanged,
    TotpEnabled,
    TotpDisabled,
    SessionRevoked,
    AppConnected,
    AppRevoked,
    PointsMoved,
    AccountDisabled,
    AccountEnabled,
}

impl ActivityKind {
    pub const ALL: [ActivityKind; 13] = [
        ActivityKind::Login,
        ActivityKind::LoginFailed,
        ActivityKind::PasswordChanged,
        ActivityKind::PasswordReset,
        ActivityKind::EmailChanged,
        ActivityKind::TotpEnabled,
        ActivityKind::TotpDisabled,
        ActivityKind::SessionRevoked,
        ActivityKind::AppConnected,
        ActivityKind::AppRevoked,
        ActivityKind::PointsMoved,
        ActivityKind::AccountDisabled,
        ActivityKind::AccountEnabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Login => "login",
            ActivityKind::LoginFailed => "login_failed",
            ActivityKind::PasswordChanged => "password_changed",
            ActivityKind::PasswordReset => "password_reset",
            ActivityKind::EmailChanged => "email_changed",
            ActivityKind::TotpEnabled => "totp_enabled",
            ActivityKind::TotpDisabled => "totp_disabled",
            ActivityKind::SessionRevoked => "session_revoked",
            ActivityKind::AppConnected => "app_connected",
            ActivityKind::AppRevoked => "app_revoked",
            ActivityKind::PointsMoved => "points_moved",
            ActivityKind::AccountDisabled => "account_disabled",
            ActivityKind::AccountEnabled => "account_enabled",
        }
    }

    /// The optional `kind` filter of a list.
    pub fn filter(raw: Option<&str>) -> ApiResult<Option<Self>> {
        raw.map(|k| Self::parse("kind", k)).transpose()
    }

    pub fn parse(field: &'static str, raw: &str) -> ApiResult<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| ApiError::field(field, "is not a kind of activity"))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Activity {
    pub id: String,
    pub user_id: String,
    pub kind: ActivityKind,
    pub at: String,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
    /// A few facts of the event (the app, the session, the amount).
    #[serde(default)]
    pub details: Value,
}

fn shard(user_id: &str) -> u32 {
    u32::from_str_radix(&hash_secret(user_id)[..4], 16).unwrap_or(0) % SHARDS
}

/// The write that records an activity; put it in the atomic write of what it records.
pub fn record(
    state: &AppState,
    user_id: &str,
    kind: ActivityKind,
    meta: Option<&RequestMeta>,
    details: Value,
) -> Result<WriteOp, StoreError> {
    let now = state.now();
    let activity = Activity {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user_id.to_string(),
        kind,
        at: rfc3339(now),
        ip_address: meta.and_then(|m| m.ip).map(|ip| ip.to_string()),
        user_agent: meta.and_then(|m| m.user_agent.clone()),
        details,
    };
    let sort = format!("{}#{}", activity.at, activity.id);
    let mut item = store::to_item(&keys::activity(user_id, &sort), &activity)?;
    item.insert(GSI1PK.into(), keys::activity_shard(shard(user_id)).into());
    item.insert(GSI1SK.into(), sort.into());
    item.insert(
        TTL.into(),
        (now.unix_timestamp() + state.config.activity_retention.as_secs() as i64).into(),
    );
    Ok(WriteOp::put_new(item))
}

/// Records an activity on its own (when there is no other write to join), logging a failure:
/// the log must never stop what it records.
pub async fn record_alone(
    state: &AppState,
    user_id: &str,
    kind: ActivityKind,
    meta: Option<&RequestMeta>,
    details: Value,
) {
    let written = match record(state, user_id, kind, meta, details) {
        Ok(op) => state.table.write(vec![op]).await,
        Err(e) => Err(e),
    };
    if let Err(e) = written {
        tracing::warn!(error = %e, "recording activity");
    }
}

pub struct ActivityPage {
    pub entries: Vec<Activity>,
    pub next_cursor: Option<String>,
}

fn bad_cursor(e: StoreError) -> ApiError {
    match e {
        StoreError::Invalid(_) => ApiError::field("cursor", "is not a cursor of this list"),
        other => other.into(),
    }
}

/// One user's activity, newest first, optionally of one kind.
pub async fn of_user(
    table: &dyn Table,
    user_id: &str,
    kind: Option<ActivityKind>,
    limit: usize,
    cursor: Option<String>,
) -> ApiResult<ActivityPage> {
    let mut entries = Vec::new();
    let mut cursor = cursor;
    // A kind is filtered here, so pages are read until one is full or the log ends.
    loop {
        let page = table
            .query(
                &Query::partition(keys::user_pk(user_id))
                    .sk(SortKey::BeginsWith(keys::ACTIVITY_PREFIX.into()))
                    .reverse()
                    .limit(limit)
                    .cursor(cursor),
            )
            .await
            .map_err(bad_cursor)?;
        for item in page.items {
            let activity: Activity = store::from_item(item)?;
            if kind.is_none_or(|k| k == activity.kind) && entries.len() < limit {
                entries.push(activity);
            }
        }
        cursor = page.cursor;
        if entries.len() >= limit || cursor.is_none() {
            break;
        }
    }
    let next_cursor = if entries.len() >= limit { cursor } else { None };
    Ok(ActivityPage {
        entries,
        next_cursor,
    })
}

/// Everyone's activity, newest first, optionally of one kind: the shards read and merged.
/// The cursor is the sort key of the last entry returned.
pub async fn of_everyone(
    table: &dyn Table,
    kind: Option<ActivityKind>,
    limit: usize,
    before: Option<String>,
) -> ApiResult<ActivityPage> {
    if before
        .as_ref()
        .is_some_and(|b| b.len() > 100 || !b.contains('#'))
    {
        return Err(ApiError::field("cursor", "is not a cursor of this list"));
    }
    let mut merged: Vec<(String, Activity)> = Vec::new();
    let mut before = before;
    // Enough rounds to fill a page even when the kind is rare; each round reads every shard.
    for _ in 0..8 {
        let queries = (0..SHARDS).map(|s| {
            let sk = match &before {
                Some(b) => SortKey::Lt(b.clone()),
                None => SortKey::Any,
            };
            let query = Query::gsi1(keys::activity_shard(s))
                .sk(sk)
                .reverse()
                .limit(limit);
            async move { table.query(&query).await }
        });
        let pages = futures::future::try_join_all(queries).await?;
        let mut round: Vec<(String, Activity)> = Vec::new();
        for item in pages.into_iter().flat_map(|p| p.items) {
            let sort = item
                .get(GSI1SK)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            round.push((sort, store::from_item(item)?));
        }
        if round.is_empty() {
            break;
        }
        round.sort_by(|a, b| b.0.cmp(&a.0));
        round.truncate(limit);
        before = round.last().map(|(sort, _)| sort.clone());
        merged.extend(
            round
                .into_iter()
                .filter(|(_, a)| kind.is_none_or(|k| k == a.kind)),
        );
        if merged.len() >= limit {
            break;
        }
    }
    merged.truncate(limit);
    let next_cursor = (merged.len() == limit)
        .then(|| merged.last().map(|(s, _)| s.clone()))
        .flatten();
    Ok(ActivityPage {
        entries: merged.into_iter().map(|(_, a)| a).collect(),
        next_cursor,
    })
}
