//! A user's subscriptions. Each one is a single item changed only by a whole put conditional on
//! the `version` it was read at, so two changes never interleave (a renewal and a pause, two
//! renewal runs): one of them fails its condition and reads again. A user has at most one live
//! (not canceled) subscription, held by the `live_subscription` marker.

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::plans::{self, Plan};
use crate::clock::rfc3339;
use crate::crypto::hash_secret;
use crate::domain::activity::{self, ActivityKind};
use crate::domain::identity::User;
use crate::domain::ledger::{EntryKind, Movement};
use crate::domain::webhooks::{self, Listening};
use crate::domain::RequestMeta;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::mail::{self, templates};
use crate::state::AppState;
use crate::store::{self, Cond, Query, SortKey, StoreError, WriteOp};

/// GSI1 partitions of the renewal list: each holds the renewing subscriptions of a slice of
/// ids, so no one index partition takes every subscription's writes.
pub const RENEWAL_SHARDS: u32 = 8;

/// How many times a change re-reads a subscription that changed under it before giving up.
const ATTEMPTS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// Paid up to `current_period_end`; renews then.
    Active,
    /// The last renewal found too few points; renewals keep trying until the grace period
    /// ends, then cancel it.
    PastDue,
    /// Renews no more until resumed; the paid period still ends at `current_period_end`.
    Paused,
    /// Over for good.
    Canceled,
}

impl SubscriptionStatus {
    pub const ALL: [SubscriptionStatus; 4] = [
        SubscriptionStatus::Active,
        SubscriptionStatus::PastDue,
        SubscriptionStatus::Paused,
        SubscriptionStatus::Canceled,
    ];

    /// The name the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::PastDue => "past_due",
            SubscriptionStatus::Paused => "paused",
            SubscriptionStatus::Canceled => "canceled",
        }
    }

    /// On the renewal list.
    fn renews(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Active | SubscriptionStatus::PastDue
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub user_id: String,
    pub plan_id: String,
    /// The plan's name, price and period as last charged.
    pub plan_name: String,
    pub price: i64,
    pub period_days: i64,
    pub status: SubscriptionStatus,
    pub current_period_start: String,
    pub current_period_end: String,
    pub cancel_at_period_end: bool,
    /// The plan the next period is charged at (a change of plan), when not `plan_id`.
    #[serde(default)]
    pub next_plan_id: Option<String>,
    /// Periods paid so far (the first one included).
    pub periods_paid: i64,
    #[serde(default)]
    pub past_due_since: Option<String>,
    #[serde(default)]
    pub paused_at: Option<String>,
    #[serde(default)]
    pub canceled_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Bumped by every change; each change is conditional on the version it read.
    pub version: i64,
}

fn not_found() -> ApiError {
    ApiError::not_found(
        "subscription_not_found",
        "You have no subscription with that id",
    )
}

fn canceled() -> ApiError {
    ApiError::conflict(
        "subscription_canceled",
        "The subscription is canceled; start a new one",
    )
}

fn insufficient() -> ApiError {
    ApiError::payment_required(
        "insufficient_points",
        "You do not have enough points for this plan's period",
    )
}

fn changed() -> ApiError {
    ApiError::conflict(
        "subscription_changed",
        "The subscription changed meanwhile; try again",
    )
}

pub(crate) fn parse_time(t: &str) -> ApiResult<OffsetDateTime> {
    OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .map_err(ApiError::internal)
}

fn days(n: i64) -> time::Duration {
    time::Duration::days(n)
}

fn shard(subscription_id: &str) -> u32 {
    u32::from_str_radix(&hash_secret(subscription_id)[..4], 16).unwrap_or(0) % RENEWAL_SHARDS
}

impl Subscription {
    /// The write that stores this subscription as it is now over the version `read` (`None`:
    /// a new one), on the renewal list while it renews.
    pub(crate) fn put_op(&self, read: Option<i64>) -> ApiResult<WriteOp> {
        let mut item = store::to_item(&keys::subscription(&self.user_id, &self.id), self)?;
        if self.status.renews() {
            keys::renewal_index(shard(&self.id), &self.current_period_end, &self.id)
                .put_on(&mut item);
        }
        Ok(match read {
            None => WriteOp::put_new(item),
            Some(version) => WriteOp::Put {
                item,
                cond: Cond::eq("version", version),
            },
        })
    }

    pub(crate) fn key(&self) -> store::Key {
        keys::subscription(&self.user_id, &self.id)
    }

    /// Starts a new period at `start` on `plan`: its price and length from now on.
    pub(crate) fn start_period(&mut self, plan: &Plan, start: OffsetDateTime) {
        self.plan_id = plan.id.clone();
        self.plan_name = plan.name.clone();
        self.price = plan.price;
        self.period_days = plan.period_days;
        self.current_period_start = rfc3339(start);
        self.current_period_end = rfc3339(start + days(plan.period_days));
        self.next_plan_id = None;
        self.periods_paid += 1;
        self.status = SubscriptionStatus::Active;
        self.past_due_since = None;
        self.paused_at = None;
    }

    /// Ends it at `at`: canceled, off the renewal list.
    pub(crate) fn end(&mut self, at: OffsetDateTime) {
        self.status = SubscriptionStatus::Canceled;
        self.canceled_at = Some(rfc3339(at));
    }

    /// The plan the next period is charged at.
    pub fn next_plan(&self) -> &str {
        self.next_plan_id.as_deref().unwrap_or(&self.plan_id)
    }

    pub(crate) fn touched(&mut self, now: OffsetDateTime) {
        self.updated_at = rfc3339(now);
        self.version += 1;
    }
}

/// The writes that free the user's live-subscription marker (only while it names `sub`).
pub(crate) fn release_marker(sub: &Subscription) -> WriteOp {
    WriteOp::Delete {
        key: keys::live_subscription(&sub.user_id),
        cond: Cond::eq("subscription_id", sub.id.clone()),
    }
}

/// The charge of one period of `sub` at `plan`: the balance change and its ledger entry.
pub(crate) fn charge(
    sub: &Subscription,
    plan: &Plan,
    now: OffsetDateTime,
    listening: Listening,
) -> ApiResult<Vec<WriteOp>> {
    Ok(Movement {
        user_id: &sub.user_id,
        amount: -plan.price,
        kind: EntryKind::Subscription,
        reference: &sub.id,
        description: Some(&plan.name),
        counterparty: None,
    }
    .ops(now, listening)?)
}

/// The activity entry of a change of `sub` (`change` names it), and its webhook event.
pub(crate) fn noted(
    state: &AppState,
    sub: &Subscription,
    change: &str,
    meta: Option<&RequestMeta>,
    listening: Listening,
) -> Result<Vec<WriteOp>, StoreError> {
    let mut ops = vec![activity::record(
        state,
        &sub.user_id,
        ActivityKind::SubscriptionChanged,
        meta,
        json!({
            "subscription_id": sub.id,
            "plan_id": sub.plan_id,
            "change": change,
            "status": sub.status.as_str(),
        }),
    )?];
    if let Some(event_type) = webhooks::EventType::of_subscription_change(change) {
        ops.extend(listening.announce(
            state.now(),
            event_type,
            &sub.user_id,
            Vec::new(),
            json!({
                "subscription_id": sub.id,
                "plan_id": sub.plan_id,
                "change": change,
                "status": sub.status.as_str(),
                "current_period_end": sub.current_period_end,
            }),
        ));
    }
    Ok(ops)
}

/// The mail telling the user about a change.
pub(crate) fn mailed(state: &AppState, to: &str, sub: &Subscription, change: &str) -> WriteOp {
    mail::enqueue(
        templates::subscription_changed(
            to,
            change,
            &sub.plan_name,
            sub.price,
            &sub.current_period_end,
        ),
        state.now(),
    )
}

/// Subscribes the user to an open plan, paying its first period in the same write. One live
/// subscription per user (409 `subscription_exists`); too few points → 402
/// `insufficient_points`.
pub async fn subscribe(
    state: &AppState,
    user: &User,
    plan_id: &str,
    meta: &RequestMeta,
) -> ApiResult<Subscription> {
    let plan = plans::open_for_subscribers(state, plan_id).await?;
    let now = state.now();
    let mut sub = Subscription {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user.id.clone(),
        plan_id: plan.id.clone(),
        plan_name: plan.name.clone(),
        price: plan.price,
        period_days: plan.period_days,
        status: SubscriptionStatus::Active,
        current_period_start: String::new(),
        current_period_end: String::new(),
        cancel_at_period_end: false,
        next_plan_id: None,
        periods_paid: 0,
        past_due_since: None,
        paused_at: None,
        canceled_at: None,
        created_at: rfc3339(now),
        updated_at: rfc3339(now),
        version: 1,
    };
    sub.start_period(&plan, now);
    let marker = keys::live_subscription(&user.id);
    let marker_item = store::to_item(&marker, &json!({ "subscription_id": sub.id }))?;
    let mut ops = vec![WriteOp::put_new(marker_item), sub.put_op(None)?];
    let listening = webhooks::listening(state).await;
    ops.extend(charge(&sub, &plan, now, listening)?);
    ops.extend(noted(state, &sub, "created", Some(meta), listening)?);
    ops.push(mailed(state, &user.email, &sub, "created"));
    match state.table.write(ops).await {
        Ok(()) => Ok(sub),
        Err(e) if e.failed_key() == Some(&marker) => Err(ApiError::conflict(
            "subscription_exists",
            "You already have a subscription: change its plan instead",
        )),
        Err(e) if e.failed_key() == Some(&keys::user(&user.id)) => Err(insufficient()),
        Err(e) => Err(e.into()),
    }
}

/// Every subscription of the user, newest first.
pub async fn list(state: &AppState, user_id: &str) -> ApiResult<Vec<Subscription>> {
    let query = Query::partition(keys::user_pk(user_id))
        .sk(SortKey::BeginsWith(keys::SUBSCRIPTION_PREFIX.into()))
        .reverse()
        .limit(100);
    Ok(store::query_all(state.table.as_ref(), query).await?)
}

/// The user's subscription with that id (none of anyone else's: the key holds the user).
pub async fn get(
    state: &AppState,
    user_id: &str,
    subscription_id: &str,
) -> ApiResult<Option<Subscription>> {
    if uuid::Uuid::parse_str(subscription_id).is_err() {
        return Ok(None);
    }
    match state
        .table
        .get(&keys::subscription(user_id, subscription_id))
        .await?
    {
        Some(item) => Ok(Some(store::from_item(item)?)),
        None => Ok(None),
    }
}

/// The user's live subscription, if any (the profile shows it).
pub async fn live(state: &AppState, user_id: &str) -> ApiResult<Option<Subscription>> {
    #[derive(Deserialize)]
    struct Marker {
        subscription_id: String,
    }
    let Some(item) = state.table.get(&keys::live_subscription(user_id)).await? else {
        return Ok(None);
    };
    let marker: Marker = store::from_item(item)?;
    get(state, user_id, &marker.subscription_id).await
}

/// What a change of a subscription does besides storing it.
struct Effects {
    /// The activity and mail name it; `None`: nothing changed, nothing is written.
    change: Option<&'static str>,
    /// Writes that go with it (a charge, freeing the marker).
    ops: Vec<WriteOp>,
}

impl Effects {
    /// Ends `sub` now: canceled, its marker freed.
    fn ended(sub: &mut Subscription, now: OffsetDateTime) -> Self {
        sub.end(now);
        Effects {
            change: Some("canceled"),
            ops: vec![release_marker(sub)],
        }
    }
    fn none() -> Self {
        Effects {
            change: None,
            ops: Vec::new(),
        }
    }
    fn named(change: &'static str) -> Self {
        Effects {
            change: Some(change),
            ops: Vec::new(),
        }
    }
}

/// Applies `apply` to the user's subscription and stores it in one write with its effects,
/// reading again when another change came first.
async fn change<F>(
    state: &AppState,
    user: &User,
    subscription_id: &str,
    meta: &RequestMeta,
    apply: F,
) -> ApiResult<Subscription>
where
    F: Fn(&mut Subscription, OffsetDateTime, Listening) -> ApiResult<Effects>,
{
    let listening = webhooks::listening(state).await;
    for _ in 0..ATTEMPTS {
        let read = get(state, &user.id, subscription_id)
            .await?
            .ok_or_else(not_found)?;
        let mut sub = read.clone();
        let now = state.now();
        let effects = apply(&mut sub, now, listening)?;
        let Some(name) = effects.change else {
            return Ok(read);
        };
        sub.touched(now);
        let mut ops = vec![sub.put_op(Some(read.version))?];
        ops.extend(effects.ops);
        ops.extend(noted(state, &sub, name, Some(meta), listening)?);
        ops.push(mailed(state, &user.email, &sub, name));
        match state.table.write(ops).await {
            Ok(()) => return Ok(sub),
            Err(e) if e.failed_key() == Some(&sub.key()) => continue,
            Err(e) if e.failed_key() == Some(&keys::user(&user.id)) => return Err(insufficient()),
            Err(e) => return Err(e.into()),
        }
    }
    Err(changed())
}

/// Moves the subscription to another open plan from its next period (the same plan as now:
/// undoes a pending change).
pub async fn change_plan(
    state: &AppState,
    user: &User,
    subscription_id: &str,
    plan_id: &str,
    meta: &RequestMeta,
) -> ApiResult<Subscription> {
    let plan = plans::open_for_subscribers(state, plan_id).await?;
    change(state, user, subscription_id, meta, |sub, _, _| {
        if sub.status == SubscriptionStatus::Canceled {
            return Err(canceled());
        }
        let next = (plan.id != sub.plan_id).then(|| plan.id.clone());
        if next == sub.next_plan_id {
            return Ok(Effects::none());
        }
        sub.next_plan_id = next;
        Ok(Effects::named("plan_changed"))
    })
    .await
}

/// Cancels the subscription: an active one at the end of its paid period, a paused or past-due
/// one now.
pub async fn cancel(
    state: &AppState,
    user: &User,
    subscription_id: &str,
    meta: &RequestMeta,
) -> ApiResult<Subscription> {
    change(
        state,
        user,
        subscription_id,
        meta,
        |sub, now, _| match sub.status {
            SubscriptionStatus::Canceled => Ok(Effects::none()),
            SubscriptionStatus::Active if sub.cancel_at_period_end => Ok(Effects::none()),
            SubscriptionStatus::Active => {
                sub.cancel_at_period_end = true;
                Ok(Effects::named("cancel_scheduled"))
            }
            SubscriptionStatus::Paused | SubscriptionStatus::PastDue => {
                Ok(Effects::ended(sub, now))
            }
        },
    )
    .await
}

/// Stops renewals of an active subscription until it is resumed.
pub async fn pause(
    state: &AppState,
    user: &User,
    subscription_id: &str,
    meta: &RequestMeta,
) -> ApiResult<Subscription> {
    change(
        state,
        user,
        subscription_id,
        meta,
        |sub, now, _| match sub.status {
            SubscriptionStatus::Paused => Ok(Effects::none()),
            SubscriptionStatus::Canceled => Err(canceled()),
            SubscriptionStatus::PastDue => Err(ApiError::conflict(
                "subscription_past_due",
                "A past-due subscription cannot be paused: add points or cancel it",
            )),
            SubscriptionStatus::Active => {
                sub.status = SubscriptionStatus::Paused;
                sub.paused_at = Some(rfc3339(now));
                Ok(Effects::named("paused"))
            }
        },
    )
    .await
}

/// Resumes a paused subscription. Inside its paid period it simply renews again; after it, a
/// new period starts now and is paid in the same write (402 `insufficient_points`).
pub async fn unpause(
    state: &AppState,
    user: &User,
    subscription_id: &str,
    meta: &RequestMeta,
) -> ApiResult<Subscription> {
    // The plan a new period would be charged at, read before the change.
    let Some(read) = get(state, &user.id, subscription_id).await? else {
        return Err(not_found());
    };
    let next_plan = plans::get(state, read.next_plan()).await?;
    change(
        state,
        user,
        subscription_id,
        meta,
        |sub, now, listening| match sub.status {
            SubscriptionStatus::Active | SubscriptionStatus::PastDue => Ok(Effects::none()),
            SubscriptionStatus::Canceled => Err(canceled()),
            SubscriptionStatus::Paused => {
                if now < parse_time(&sub.current_period_end)? {
                    sub.status = SubscriptionStatus::Active;
                    sub.paused_at = None;
                    return Ok(Effects::named("resumed"));
                }
                if sub.cancel_at_period_end {
                    return Ok(Effects::ended(sub, now));
                }
                let plan = next_plan
                    .as_ref()
                    .filter(|p| p.id == sub.next_plan())
                    .ok_or_else(changed)?;
                sub.start_period(plan, now);
                Ok(Effects {
                    change: Some("resumed"),
                    ops: charge(sub, plan, now, listening)?,
                })
            }
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::SubscriptionStatus;

    #[test]
    fn status_names_are_the_serialized_names() {
        for status in SubscriptionStatus::ALL {
            assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
        }
    }
}
