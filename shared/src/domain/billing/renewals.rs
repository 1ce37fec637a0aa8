//! Renewals: every subscription whose paid period has ended is charged for the next one, once.
//! A run reads the due subscriptions off the renewal list and renews each in one atomic write
//! (the charge, its ledger entry, the subscription's next period, the activity entry and the
//! mail) conditional on the subscription's version: two runs that overlap charge a period once,
//! and a run that dies half-way leaves every subscription either renewed or untouched, for the
//! next run to finish.

use futures::stream::{self, StreamExt};
use serde::Serialize;
use time::OffsetDateTime;

use super::plans;
use super::subscriptions::{
    charge, mailed, noted, parse_time, release_marker, Subscription, SubscriptionStatus,
    RENEWAL_SHARDS,
};
use crate::clock::rfc3339;
use crate::domain::identity::users;
use crate::domain::webhooks::{self, Listening};
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Query, SortKey, StoreError};

/// Periods one run charges one subscription at most (a schedule that stopped for a while
/// catches up over the next runs).
const MAX_PERIODS_PER_RUN: usize = 12;
/// Subscriptions renewed at once.
const CONCURRENCY: usize = 8;

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RenewalReport {
    /// Periods charged.
    pub renewed: u64,
    /// Subscriptions that became past due.
    pub past_due: u64,
    /// Subscriptions that ended (canceled at period end, or unpaid after the grace period).
    pub canceled: u64,
    /// Subscriptions that failed (the store), left for the next run.
    pub failed: u64,
}

impl RenewalReport {
    fn add(&mut self, other: &RenewalReport) {
        self.renewed += other.renewed;
        self.past_due += other.past_due;
        self.canceled += other.canceled;
        self.failed += other.failed;
    }
}

/// Renews every subscription due now. Errors of single subscriptions are logged and counted
/// (`failed`); an error reading the list ends the run with it.
pub async fn run(state: &AppState) -> ApiResult<RenewalReport> {
    let now = state.now();
    // Sort keys are `<period end>#<id>`: `$` sorts right after `#`, so this takes every
    // period that ended at or before now.
    let due_before = format!("{}$", rfc3339(now));
    let mut report = RenewalReport::default();
    for shard in 0..RENEWAL_SHARDS {
        let mut cursor = None;
        loop {
            let page = state
                .table
                .query(
                    &Query::gsi1(keys::renewal_shard(shard))
                        .sk(SortKey::Lt(due_before.clone()))
                        .limit(100)
                        .cursor(cursor),
                )
                .await?;
            let subs: Vec<Subscription> = page
                .items
                .into_iter()
                .map(store::from_item)
                .collect::<Result<_, _>>()?;
            let results: Vec<RenewalReport> = stream::iter(subs)
                .map(|sub| async move {
                    let id = sub.id.clone();
                    renew(state, sub).await.unwrap_or_else(|e| {
                        tracing::error!(subscription = %id, error = %e, "renewing a subscription");
                        RenewalReport {
                            failed: 1,
                            ..Default::default()
                        }
                    })
                })
                .buffer_unordered(CONCURRENCY)
                .collect()
                .await;
            for r in &results {
                report.add(r);
            }
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    Ok(report)
}

/// What one step of a due subscription is.
enum Step {
    /// Over: canceled at period end, or unpaid after the grace period.
    End(&'static str),
    Charge,
}

/// Renews one subscription as far as it is due, a period at a time. `sub` may be stale (the
/// index is read eventually consistently): every write is conditional on its version, and a
/// failed condition reads it again.
async fn renew(state: &AppState, mut sub: Subscription) -> ApiResult<RenewalReport> {
    let mut report = RenewalReport::default();
    let listening = webhooks::listening(state).await;
    let email = users::get(state.table.as_ref(), &sub.user_id)
        .await?
        .map(|u| u.email);
    for _ in 0..MAX_PERIODS_PER_RUN {
        let now = state.now();
        if !matches!(
            sub.status,
            SubscriptionStatus::Active | SubscriptionStatus::PastDue
        ) || parse_time(&sub.current_period_end)? > now
        {
            break;
        }
        let grace_over = match &sub.past_due_since {
            Some(since) if sub.status == SubscriptionStatus::PastDue => {
                parse_time(since)? + state.config.subscription_grace <= now
            }
            _ => false,
        };
        let step = if sub.cancel_at_period_end {
            Step::End("canceled")
        } else if grace_over {
            Step::End("canceled_unpaid")
        } else {
            Step::Charge
        };
        let plan = match step {
            Step::Charge => plans::get(state, sub.next_plan()).await?,
            Step::End(_) => None,
        };
        let read = sub.version;
        let mut next = sub.clone();
        let mut ops = Vec::new();
        let change = match (&step, &plan) {
            (Step::Charge, Some(plan)) => {
                // The next period starts where the paid one ended: the same anchor every time.
                let start = parse_time(&sub.current_period_end)?;
                next.start_period(plan, start);
                ops.extend(charge(&next, plan, now, listening)?);
                "renewed"
            }
            (Step::End(change), _) => {
                next.end(now);
                ops.push(release_marker(&next));
                change
            }
            (Step::Charge, None) => {
                return Err(ApiError::internal(format!(
                    "subscription {} names a plan that is gone",
                    sub.id
                )))
            }
        };
        next.touched(now);
        ops.insert(0, next.put_op(Some(read))?);
        ops.extend(noted(state, &next, change, None, listening)?);
        if let Some(to) = &email {
            ops.push(mailed(state, to, &next, change));
        }
        match state.table.write(ops).await {
            Ok(()) => {
                match step {
                    Step::Charge => report.renewed += 1,
                    Step::End(_) => report.canceled += 1,
                }
                sub = next;
            }
            Err(e) if e.failed_key() == Some(&keys::user(&sub.user_id)) => {
                // Too few points (or the user is gone): past due, once.
                if sub.status == SubscriptionStatus::Active {
                    mark_past_due(state, &sub, email.as_deref(), now, listening).await?;
                    report.past_due += 1;
                }
                break;
            }
            Err(e) if e.failed_key() == Some(&sub.key()) || is_unknown(&e) => {
                // Another run (or the user) changed it, or the write's fate is unknown: read
                // it again and go on from what it is now.
                match super::subscriptions::get(state, &sub.user_id, &sub.id).await? {
                    Some(current) => sub = current,
                    None => break,
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(report)
}

fn is_unknown(e: &StoreError) -> bool {
    matches!(e, StoreError::OutcomeUnknown(_))
}

/// Marks a subscription whose renewal found too few points past due. A failed condition means
/// something else changed it first; the next run sees what it is.
async fn mark_past_due(
    state: &AppState,
    sub: &Subscription,
    email: Option<&str>,
    now: OffsetDateTime,
    listening: Listening,
) -> ApiResult<()> {
    let mut next = sub.clone();
    next.status = SubscriptionStatus::PastDue;
    next.past_due_since = Some(rfc3339(now));
    next.touched(now);
    let mut ops = vec![next.put_op(Some(sub.version))?];
    ops.extend(noted(state, &next, "past_due", None, listening)?);
    if let Some(to) = email {
        ops.push(mailed(state, to, &next, "past_due"));
    }
    match state.table.write(ops).await {
        Ok(()) => Ok(()),
        Err(e) if e.failed_key() == Some(&sub.key()) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
