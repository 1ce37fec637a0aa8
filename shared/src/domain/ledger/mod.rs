//! The points ledger (docs/architecture.md, "Points"). Points are integers and never negative;
//! every change of a balance is an entry written in the same atomic write as the change, and a
//! debit is conditional on the balance covering it, so concurrent spends can never overdraw.

pub mod app_balance;
pub mod idempotency;
pub mod operator;
pub mod referrals;

use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::domain::activity::{self, ActivityKind};
use crate::domain::input;
use crate::domain::webhooks::{self, EventType, Listening};
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Cond, Query, SortKey, StoreError, Update, WriteOp};

/// Why points moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    ReferralBonus,
    SessionEarning,
    AdReward,
    AdminGrant,
    AdminDeduction,
    Spend,
    TransferOut,
    TransferIn,
    /// A period of a subscription, paid in points.
    Subscription,
}

impl EntryKind {
    pub const ALL: [EntryKind; 9] = [
        EntryKind::ReferralBonus,
        EntryKind::SessionEarning,
        EntryKind::AdReward,
        EntryKind::AdminGrant,
        EntryKind::AdminDeduction,
        EntryKind::Spend,
        EntryKind::TransferOut,
        EntryKind::TransferIn,
        EntryKind::Subscription,
    ];

    /// The name the API shows.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::ReferralBonus => "referral_bonus",
            EntryKind::SessionEarning => "session_earning",
            EntryKind::AdReward => "ad_reward",
            EntryKind::AdminGrant => "admin_grant",
            EntryKind::AdminDeduction => "admin_deduction",
            EntryKind::Spend => "spend",
            EntryKind::TransferOut => "transfer_out",
            EntryKind::TransferIn => "transfer_in",
            EntryKind::Subscription => "subscription",
        }
    }

    /// Counts toward `total_earned`: what the user earned, not what others sent.
    pub fn is_earning(self) -> bool {
        matches!(
            self,
            EntryKind::ReferralBonus
                | EntryKind::SessionEarning
                | EntryKind::AdReward
                | EntryKind::AdminGrant
        )
    }

    /// Counts toward `total_spent`.
    pub fn is_spending(self) -> bool {
        matches!(
            self,
            EntryKind::Spend | EntryKind::TransferOut | EntryKind::Subscription
        )
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub id: String,
    pub user_id: String,
    pub kind: EntryKind,
    /// Positive for credits, negative for debits.
    pub amount: i64,
    /// What caused it: the referred user, the app, the campaign, the admin.
    pub reference: String,
    #[serde(default)]
    pub description: Option<String>,
    /// The other side of a transfer.
    #[serde(default)]
    pub counterparty: Option<String>,
    /// Counts toward `total_earned`.
    pub earned: bool,
    pub created_at: String,
}

/// One change of one user's balance.
pub struct Movement<'a> {
    pub user_id: &'a str,
    /// Positive credits, negative debits.
    pub amount: i64,
    pub kind: EntryKind,
    pub reference: &'a str,
    pub description: Option<&'a str>,
    pub counterparty: Option<&'a str>,
}

impl Movement<'_> {
    /// The balance change and its entry, to go into one atomic write. A debit holds only
    /// while the balance covers it; a failed condition on `keys::user(user_id)` means it did
    /// not (or the user is gone). With them its webhook event (`points.credited` or
    /// `points.debited`), when some endpoint listens.
    pub fn ops(
        &self,
        now: time::OffsetDateTime,
        listening: Listening,
    ) -> Result<Vec<WriteOp>, StoreError> {
        let (balance, entry, event) = self.parts(now, listening)?;
        let mut ops = vec![balance.into_op(), entry];
        ops.extend(event);
        Ok(ops)
    }

    /// As [`Movement::ops`], the balance change still open to more changes of the same item
    /// (a counter that moves with it).
    pub fn parts(
        &self,
        now: time::OffsetDateTime,
        listening: Listening,
    ) -> Result<(Update, WriteOp, Option<WriteOp>), StoreError> {
        let mut balance = Update::new(keys::user(self.user_id)).add("points", self.amount);
        if self.kind.is_earning() {
            balance = balance.add("total_earned", self.amount);
        }
        if self.kind.is_spending() {
            balance = balance.add("total_spent", -self.amount);
        }
        let cond = if self.amount < 0 {
            Cond::Exists.and(Cond::ge("points", -self.amount))
        } else {
            Cond::Exists
        };
        let entry = LedgerEntry {
            id: uuid::Uuid::now_v7().to_string(),
            user_id: self.user_id.to_string(),
            kind: self.kind,
            amount: self.amount,
            reference: self.reference.to_string(),
            description: self.description.map(str::to_string),
            counterparty: self.counterparty.map(str::to_string),
            earned: self.kind.is_earning(),
            created_at: rfc3339(now),
        };
        let key = keys::user_ledger(self.user_id, &entry.created_at, &entry.id);
        let event_type = if self.amount < 0 {
            EventType::PointsDebited
        } else {
            EventType::PointsCredited
        };
        let event = listening.announce(
            now,
            event_type,
            self.user_id,
            Vec::new(),
            serde_json::json!({
                "entry_id": entry.id,
                "amount": self.amount.abs(),
                "kind": entry.kind,
                "reference": entry.reference,
            }),
        );
        Ok((
            balance.when(cond),
            WriteOp::put_new(store::to_item(&key, &entry)?),
            event,
        ))
    }
}

impl Movement<'_> {
    /// The entry of the movement in the user's activity log (for movements someone else made
    /// on the user's behalf or to them: spends, transfers, admin adjustments — not the steady
    /// trickle of earnings, which the points history shows).
    pub fn noted(&self, state: &AppState) -> Result<WriteOp, StoreError> {
        activity::record(
            state,
            self.user_id,
            ActivityKind::PointsMoved,
            None,
            serde_json::json!({
                "amount": self.amount,
                "type": self.kind,
                "reference": self.reference,
                "counterparty": self.counterparty,
            }),
        )
    }
}

/// A credit of `amount` earned points to `user_id`: the balance change and its entry.
pub fn earn(
    user_id: &str,
    amount: i64,
    kind: EntryKind,
    reference: &str,
    now: time::OffsetDateTime,
    listening: Listening,
) -> Result<Vec<WriteOp>, StoreError> {
    Movement {
        user_id,
        amount,
        kind,
        reference,
        description: None,
        counterparty: None,
    }
    .ops(now, listening)
}

/// A user's entries, newest first, a page at a time.
pub async fn history(
    state: &AppState,
    user_id: &str,
    limit: usize,
    cursor: Option<String>,
) -> ApiResult<input::Listing<LedgerEntry>> {
    let query = Query::partition(keys::user_pk(user_id))
        .sk(SortKey::BeginsWith(keys::LEDGER_PREFIX.into()))
        .reverse()
        .limit(limit)
        .cursor(cursor);
    input::page(state.table.as_ref(), &query).await
}

/// An admin grants (`amount > 0`) or deducts (`amount < 0`) points with a reason; a deduction
/// never takes a balance below zero. Returns the balance after it.
pub async fn adjust_by_admin(
    state: &AppState,
    admin_id: &str,
    user_id: &str,
    amount: i64,
    reason: &str,
) -> ApiResult<i64> {
    let not_found = || ApiError::not_found("user_not_found", "No user has that id");
    // An admin never mints or takes their own points.
    crate::domain::identity::users::not_own_account(admin_id, user_id)?;
    if uuid::Uuid::parse_str(user_id).is_err() {
        return Err(not_found());
    }
    let kind = if amount > 0 {
        EntryKind::AdminGrant
    } else {
        EntryKind::AdminDeduction
    };
    let movement = Movement {
        user_id,
        amount,
        kind,
        reference: admin_id,
        description: Some(reason),
        counterparty: None,
    };
    let listening = webhooks::listening(state).await;
    let mut ops = movement.ops(state.now(), listening)?;
    ops.push(movement.noted(state)?);
    let user_key = keys::user(user_id);
    let table = state.table.as_ref();
    match table.write(ops).await {
        Ok(()) => {}
        Err(e) if e.failed_key() == Some(&user_key) => {
            // Gone, or not enough points for the deduction.
            return Err(
                if crate::domain::identity::users::get(table, user_id)
                    .await?
                    .is_some()
                {
                    ApiError::bad_request(
                        "insufficient_points",
                        "The user does not have that many points",
                    )
                } else {
                    not_found()
                },
            );
        }
        Err(e) => return Err(e.into()),
    }
    Ok(crate::domain::identity::users::require(table, user_id)
        .await?
        .points)
}

#[cfg(test)]
mod kind_tests {
    use super::EntryKind;

    #[test]
    fn names_are_the_serialized_names() {
        for kind in EntryKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }
}
