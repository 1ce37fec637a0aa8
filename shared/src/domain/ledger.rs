//! The points ledger: every change of a balance is an entry written in the same atomic write
//! as the change itself.

use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::keys;
use crate::store::{self, Cond, StoreError, Update, WriteOp};

/// Why points moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    ReferralBonus,
    SessionEarning,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LedgerEntry {
    pub id: String,
    pub user_id: String,
    pub kind: EntryKind,
    /// Positive for credits, negative for debits.
    pub amount: i64,
    /// What caused it (e.g. the referred user's id).
    pub reference: String,
    /// Counts toward `total_earned`.
    pub earned: bool,
    pub created_at: String,
}

/// The entry of a credit to `user_id`, as a write to go with the balance change.
pub fn credit(
    user_id: &str,
    amount: i64,
    kind: EntryKind,
    reference: &str,
    now: time::OffsetDateTime,
) -> Result<WriteOp, StoreError> {
    let entry = LedgerEntry {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user_id.to_string(),
        kind,
        amount,
        reference: reference.to_string(),
        earned: true,
        created_at: rfc3339(now),
    };
    let key = keys::user_ledger(user_id, &entry.created_at, &entry.id);
    Ok(WriteOp::put_new(store::to_item(&key, &entry)?))
}

/// A credit of `amount` earned points to `user_id`: the balance change and its entry, to go
/// into one atomic write.
pub fn earn(
    user_id: &str,
    amount: i64,
    kind: EntryKind,
    reference: &str,
    now: time::OffsetDateTime,
) -> Result<[WriteOp; 2], StoreError> {
    Ok([
        Update::new(keys::user(user_id))
            .add("points", amount)
            .add("total_earned", amount)
            .when(Cond::Exists)
            .into_op(),
        credit(user_id, amount, kind, reference, now)?,
    ])
}
