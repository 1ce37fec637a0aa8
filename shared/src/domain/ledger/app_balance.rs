//! An operator app's earned points, spread over write shards (docs/architecture.md, "Hot
//! items"). Every spend at a popular app credits the app: one item would take at most about
//! 1,000 writes a second on DynamoDB, so each credit goes to one of N shards, chosen at
//! random, and the balance is their sum, read with one query.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::EntryKind;
use crate::clock::rfc3339;
use crate::error::ApiResult;
use crate::keys;
use crate::store::{self, Query, SortKey, StoreError, Table, Update, WriteOp};

/// What the app's ledger records of a credit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppLedgerEntry {
    pub id: String,
    pub app_id: String,
    pub kind: EntryKind,
    pub amount: i64,
    /// The user whose spend (or ad reward) paid it.
    pub user_id: String,
    pub reference: String,
    pub created_at: String,
}

/// The credit of `amount` to one shard of the app's balance, and its entry in that shard's
/// ledger partition.
pub fn credit_ops(
    app_id: &str,
    shards: u32,
    amount: i64,
    kind: EntryKind,
    user_id: &str,
    reference: &str,
    now: time::OffsetDateTime,
) -> Result<[WriteOp; 2], StoreError> {
    let shard = rand::thread_rng().gen_range(0..shards.max(1));
    let entry = AppLedgerEntry {
        id: uuid::Uuid::now_v7().to_string(),
        app_id: app_id.to_string(),
        kind,
        amount,
        user_id: user_id.to_string(),
        reference: reference.to_string(),
        created_at: rfc3339(now),
    };
    let key = keys::app_ledger(app_id, shard, &entry.created_at, &entry.id);
    Ok([
        Update::new(keys::app_balance_shard(app_id, shard))
            .add("points", amount)
            .into_op(),
        WriteOp::put_new(store::to_item(&key, &entry)?),
    ])
}

/// The app's balance: the sum of its shards.
pub async fn balance(table: &dyn Table, app_id: &str) -> ApiResult<i64> {
    let page = table
        .query(
            &Query::partition(keys::app_partition(app_id))
                .sk(SortKey::BeginsWith(keys::APP_BALANCE_PREFIX.into())),
        )
        .await?;
    Ok(page
        .items
        .iter()
        .filter_map(|item| item.get("points").and_then(|v| v.as_i64()))
        .sum())
}
