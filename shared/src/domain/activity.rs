//! The activity log: what happened to an account and from where (sign-ins, failed sign-ins,
//! credential changes, sessions ended, devices trusted and revoked, passkeys added and removed, apps connected and
//! revoked, points moved, marketing consent given and withdrawn). Each user pages through their own; admins through everyone's.
//! Entries expire after the retention.
//!
//! An entry lives in its user's partition; for the admin list it is also indexed on GSI1 in
//! one of [`SHARDS`] partitions (by user), so that no single partition takes every sign-in of
//! the platform. The admin list reads the shards and merges them newest first. A kind filter
//! is applied while reading, so a page is filled with matching entries and its cursor goes on
//! right after the last one shown.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::rfc3339;
use crate::crypto::hash_secret;
use crate::domain::input::bad_cursor;
use crate::domain::RequestMeta;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::state::AppState;
use crate::store::{
    self, Index, Item, Page, Query, SortKey, StoreError, Table, WriteOp, GSI1SK, TTL,
};

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
    EmailChangeUndone,
    TotpEnabled,
    TotpDisabled,
    SessionRevoked,
    TrustedDeviceAdded,
    TrustedDeviceRevoked,
    PasskeyAdded,
    PasskeyRemoved,
    AppConnected,
    AppRevoked,
    PointsMoved,
    AccountDisabled,
    AccountEnabled,
    ProviderLinked,
    ProviderUnlinked,
    SubscriptionChanged,
    MarketingConsentGiven,
    MarketingConsentWithdrawn,
}

impl ActivityKind {
    pub const ALL: [ActivityKind; 23] = [
        ActivityKind::Login,
        ActivityKind::LoginFailed,
        ActivityKind::PasswordChanged,
        ActivityKind::PasswordReset,
        ActivityKind::EmailChanged,
        ActivityKind::EmailChangeUndone,
        ActivityKind::TotpEnabled,
        ActivityKind::TotpDisabled,
        ActivityKind::SessionRevoked,
        ActivityKind::TrustedDeviceAdded,
        ActivityKind::TrustedDeviceRevoked,
        ActivityKind::PasskeyAdded,
        ActivityKind::PasskeyRemoved,
        ActivityKind::AppConnected,
        ActivityKind::AppRevoked,
        ActivityKind::PointsMoved,
        ActivityKind::AccountDisabled,
        ActivityKind::AccountEnabled,
        ActivityKind::ProviderLinked,
        ActivityKind::ProviderUnlinked,
        ActivityKind::SubscriptionChanged,
        ActivityKind::MarketingConsentGiven,
        ActivityKind::MarketingConsentWithdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActivityKind::Login => "login",
            ActivityKind::LoginFailed => "login_failed",
            ActivityKind::PasswordChanged => "password_changed",
            ActivityKind::PasswordReset => "password_reset",
            ActivityKind::EmailChanged => "email_changed",
            ActivityKind::EmailChangeUndone => "email_change_undone",
            ActivityKind::TotpEnabled => "totp_enabled",
            ActivityKind::TotpDisabled => "totp_disabled",
            ActivityKind::SessionRevoked => "session_revoked",
            ActivityKind::TrustedDeviceAdded => "trusted_device_added",
            ActivityKind::TrustedDeviceRevoked => "trusted_device_revoked",
            ActivityKind::PasskeyAdded => "passkey_added",
            ActivityKind::PasskeyRemoved => "passkey_removed",
            ActivityKind::AppConnected => "app_connected",
            ActivityKind::AppRevoked => "app_revoked",
            ActivityKind::PointsMoved => "points_moved",
            ActivityKind::AccountDisabled => "account_disabled",
            ActivityKind::AccountEnabled => "account_enabled",
            ActivityKind::ProviderLinked => "provider_linked",
            ActivityKind::ProviderUnlinked => "provider_unlinked",
            ActivityKind::SubscriptionChanged => "subscription_changed",
            ActivityKind::MarketingConsentGiven => "marketing_consent_given",
            ActivityKind::MarketingConsentWithdrawn => "marketing_consent_withdrawn",
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
    keys::activity_index(shard(user_id), &sort).put_on(&mut item);
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

/// Entries one request examines at most when a kind is asked for, so that a rare kind cannot
/// make one request read the whole log. A page cut short by it still has a cursor (the last
/// entry examined): the next page goes on from there and no entry is skipped.
pub const MAX_EXAMINED: usize = 1_000;

/// Entries one read asks for: a page's worth, or more when a kind filter may pass over many.
fn batch(limit: usize, kind: Option<ActivityKind>) -> usize {
    match kind {
        Some(_) => limit.max(100),
        None => limit,
    }
}

fn matches(kind: Option<ActivityKind>, activity: &Activity) -> bool {
    kind.is_none_or(|k| k == activity.kind)
}

/// One user's activity, newest first, optionally of one kind. The kind is applied while
/// reading: a page holds `limit` matching entries (or what is left), and its cursor points
/// right after the last entry shown, so every matching entry appears once across the pages.
pub async fn of_user(
    table: &dyn Table,
    user_id: &str,
    kind: Option<ActivityKind>,
    limit: usize,
    cursor: Option<String>,
) -> ApiResult<ActivityPage> {
    let mut entries = Vec::new();
    let mut cursor = cursor;
    let mut examined = 0;
    loop {
        let page = table
            .query(
                &Query::partition(keys::user_pk(user_id))
                    .sk(SortKey::BeginsWith(keys::ACTIVITY_PREFIX.into()))
                    .reverse()
                    .limit(batch(limit, kind))
                    .cursor(cursor),
            )
            .await
            .map_err(bad_cursor)?;
        let Page {
            items,
            cursor: next,
        } = page;
        let count = items.len();
        for (i, item) in items.into_iter().enumerate() {
            // Where the list goes on after this entry.
            let after = store::encode_cursor(&item, Index::Primary);
            let activity: Activity = store::from_item(item)?;
            examined += 1;
            if matches(kind, &activity) {
                entries.push(activity);
            }
            if entries.len() >= limit || examined >= MAX_EXAMINED {
                let more = i + 1 < count || next.is_some();
                return Ok(ActivityPage {
                    entries,
                    next_cursor: more.then_some(after),
                });
            }
        }
        match next {
            Some(c) => cursor = Some(c),
            None => {
                return Ok(ActivityPage {
                    entries,
                    next_cursor: None,
                })
            }
        }
    }
}

/// One GSI1 shard of the admin list as it is read: entries fetched and not yet merged.
struct ShardReader {
    pk: String,
    buffered: VecDeque<(String, Item)>,
    cursor: Option<String>,
    done: bool,
}

/// The newest entry left may be in any shard: refills every shard that ran dry and has more,
/// in parallel, until each holds an entry or is done.
async fn refill(
    table: &dyn Table,
    shards: &mut [ShardReader],
    sk: &SortKey,
    batch: usize,
) -> ApiResult<()> {
    loop {
        let reads: Vec<_> = shards
            .iter()
            .enumerate()
            .filter(|(_, s)| s.buffered.is_empty() && !s.done)
            .map(|(i, s)| {
                let query = Query::gsi1(s.pk.clone())
                    .sk(sk.clone())
                    .reverse()
                    .limit(batch)
                    .cursor(s.cursor.clone());
                async move { table.query(&query).await.map(|page| (i, page)) }
            })
            .collect();
        if reads.is_empty() {
            break;
        }
        for (i, page) in futures::future::try_join_all(reads)
            .await
            .map_err(bad_cursor)?
        {
            let shard = &mut shards[i];
            shard.done = page.cursor.is_none();
            shard.cursor = page.cursor;
            for item in page.items {
                let sort = item
                    .get(GSI1SK)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                shard.buffered.push_back((sort, item));
            }
        }
    }
    Ok(())
}

/// Everyone's activity, newest first, optionally of one kind: the shards read in step and
/// merged by sort key (each shard is read only as far as the merge needs), the kind applied
/// while merging. A page holds `limit` matching entries (or what is left); its cursor is the
/// sort key of the last entry shown (or examined, see [`MAX_EXAMINED`]), so every matching
/// entry appears once across the pages.
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
    let sk = match &before {
        Some(b) => SortKey::Lt(b.clone()),
        None => SortKey::Any,
    };
    let batch = batch(limit, kind);
    let mut shards: Vec<ShardReader> = (0..SHARDS)
        .map(|s| ShardReader {
            pk: keys::activity_shard(s),
            buffered: VecDeque::new(),
            cursor: None,
            done: false,
        })
        .collect();
    let mut entries = Vec::new();
    let mut examined = 0;
    loop {
        refill(table, &mut shards, &sk, batch).await?;
        let newest = shards
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.buffered.front().map(|(sort, _)| (i, sort)))
            .max_by(|a, b| a.1.cmp(b.1))
            .map(|(i, _)| i);
        let Some(newest) = newest else {
            // Every shard is read to its end.
            return Ok(ActivityPage {
                entries,
                next_cursor: None,
            });
        };
        let Some((sort, item)) = shards[newest].buffered.pop_front() else {
            unreachable!("the shard had a first entry")
        };
        let activity: Activity = store::from_item(item)?;
        examined += 1;
        if matches(kind, &activity) {
            entries.push(activity);
        }
        if entries.len() >= limit || examined >= MAX_EXAMINED {
            let more = shards.iter().any(|s| !s.buffered.is_empty() || !s.done);
            return Ok(ActivityPage {
                entries,
                next_cursor: more.then_some(sort),
            });
        }
    }
}

/// Whose activity a live stream follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Following {
    User(String),
    Everyone,
}

impl Activity {
    /// Where the entry sorts: `<rfc3339>#<entry id>` (ids are time-ordered UUIDs), the id of
    /// its event on a live stream.
    pub fn sort_key(&self) -> String {
        format!("{}#{}", self.at, self.id)
    }
}

/// The most entries one read of a live stream takes (pages of a user's partition or of each
/// shard); what is left comes with the next read.
const FOLLOW_BATCH: usize = 100;

/// Entries written after `after` (an RFC 3339 time, or a sort key), oldest first: one user's,
/// or everyone's (the shards read at once and merged). A live stream's read.
pub async fn written_after(
    table: &dyn Table,
    following: &Following,
    after: &str,
) -> ApiResult<Vec<Activity>> {
    let mut entries: Vec<Activity> = match following {
        Following::User(user_id) => table
            .query(
                &Query::partition(keys::user_pk(user_id))
                    .sk(SortKey::Between(
                        format!("{}{after}", keys::ACTIVITY_PREFIX),
                        format!("{}~", keys::ACTIVITY_PREFIX),
                    ))
                    .limit(FOLLOW_BATCH),
            )
            .await?
            .items
            .into_iter()
            .map(store::from_item)
            .collect::<Result<_, _>>()?,
        Following::Everyone => {
            let reads = (0..SHARDS).map(|shard| {
                let query = Query::gsi1(keys::activity_shard(shard))
                    .sk(SortKey::Gt(after.to_string()))
                    .limit(FOLLOW_BATCH);
                async move { table.query(&query).await }
            });
            let mut all = Vec::new();
            for page in futures::future::try_join_all(reads).await? {
                for item in page.items {
                    all.push(store::from_item(item)?);
                }
            }
            all
        }
    };
    entries.retain(|a: &Activity| a.sort_key().as_str() > after);
    entries.sort_by_key(Activity::sort_key);
    Ok(entries)
}
