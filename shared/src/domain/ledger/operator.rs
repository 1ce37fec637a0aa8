//! What an operator app does with a user's points (with the scopes to do it): spend them at
//! the app, transfer them to another user. Both accept an `Idempotency-Key`.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::idempotency::{Claim, IdempotencyKey, Seen};
use super::{app_balance, EntryKind, Movement};
use crate::domain::identity::users;
use crate::domain::identity::User;
use crate::domain::input::Amount;
use crate::domain::oauth::{Scope, Scopes};
use crate::domain::webhooks;
use crate::error::{ApiError, ApiResult, OnCondition};
use crate::keys;
use crate::state::AppState;
use crate::store::{Cond, StoreError, Update, WriteOp};

/// The result of a spend.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Spent {
    pub amount_spent: i64,
    /// The user's balance after it.
    pub points: i64,
}

/// The result of a transfer.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Transferred {
    pub amount_transferred: i64,
    /// The sender's balance after it.
    pub points: i64,
}

fn insufficient() -> ApiError {
    ApiError::bad_request(
        "insufficient_points",
        "The user does not have that many points",
    )
}

async fn balance(state: &AppState, user_id: &str) -> ApiResult<i64> {
    Ok(users::get(state.table.as_ref(), user_id)
        .await?
        .map(|u| u.points)
        .unwrap_or(0))
}

/// The answer of a movement: `make` given the user's balance now, as JSON.
async fn answer_now<T: Serialize>(
    state: &AppState,
    user_id: &str,
    make: &(impl Fn(i64) -> T + Sync),
) -> ApiResult<serde_json::Value> {
    serde_json::to_value(make(balance(state, user_id).await?)).map_err(ApiError::internal)
}

/// The writes of a movement while the user's balance is still the one the request read: the
/// debit is conditional on exactly that balance, so the answer (the balance after it) is known
/// before anything is written, and goes into the same write as the movement and its key.
struct Exact<T> {
    ops: Vec<WriteOp>,
    answer: T,
}

/// `debit` conditional on the balance the request read instead of on covering the amount (a
/// stricter condition: it holds only when the balance still covers it).
fn exact_debit(debit: &Update, read: i64) -> WriteOp {
    debit.clone().when(Cond::eq("points", read)).into_op()
}

/// Runs one movement write, once per idempotency key. A request seen before gets exactly its
/// first answer (waiting for it while the first request is still in flight); the first
/// request stores its answer before giving it. `make` builds the answer from the user's
/// balance after the movement.
///
/// `exact` goes first when the balance read covers the debit: one write of the movement, its
/// key and its answer. When the key was used before, the balance changed meanwhile, or (with a
/// key) the store did not confirm the write, the general way follows: the key's record read,
/// the movement conditional on covering the debit, the balance read back, the answer stored.
async fn once<T: Serialize + serde::de::DeserializeOwned>(
    state: &AppState,
    user_id: &str,
    claim: Option<Claim>,
    exact: Option<Exact<T>>,
    mut ops: Vec<WriteOp>,
    on_failed: impl Fn(ApiResult<()>) -> ApiResult<()>,
    make: impl Fn(i64) -> T + Sync,
) -> ApiResult<T> {
    let decode = |v: serde_json::Value| serde_json::from_value(v).map_err(ApiError::internal);
    if let Some(Exact {
        ops: mut writes,
        answer,
    }) = exact
    {
        if let Some(claim) = &claim {
            let value = serde_json::to_value(&answer).map_err(ApiError::internal)?;
            writes.insert(0, claim.answered_op(state, value)?);
        }
        let debited = keys::user(user_id);
        match state.table.write(writes).await {
            Ok(()) => return Ok(answer),
            Err(e)
                if claim
                    .as_ref()
                    .is_some_and(|c| e.failed_key() == Some(c.key())) => {}
            Err(e) if e.failed_key() == Some(&debited) => {}
            Err(StoreError::OutcomeUnknown(_)) if claim.is_some() => {}
            Err(e) => {
                on_failed(Err(e.into()))?;
                return Err(ApiError::internal("a refused movement was not named"));
            }
        }
    }
    let Some(claim) = claim else {
        on_failed(state.table.write(ops).await.map_err(Into::into))?;
        return Ok(make(balance(state, user_id).await?));
    };
    match claim.seen(state).await? {
        Seen::Answered(first) => return decode(first),
        Seen::InFlight { .. } => {
            let rebuild = answer_now(state, user_id, &make);
            return decode(claim.first_answer(state, rebuild).await?);
        }
        Seen::New => ops.push(claim.record_op(state)?),
    }
    let written = match state.table.write(ops).await {
        // No answer from the store: the key's record tells whether the movement happened.
        Err(StoreError::OutcomeUnknown(detail)) => match claim.seen(state).await {
            Ok(Seen::InFlight { .. }) => Ok(()),
            Ok(Seen::Answered(first)) => return decode(first),
            _ => Err(StoreError::OutcomeUnknown(detail)),
        },
        other => other,
    };
    if written.as_ref().err().and_then(|e| e.failed_key()) == Some(claim.key()) {
        // The same key, at the same time: the other request moved the points.
        let rebuild = answer_now(state, user_id, &make);
        return decode(claim.first_answer(state, rebuild).await?);
    }
    on_failed(written.map_err(Into::into))?;
    let answer = answer_now(state, user_id, &make).await?;
    decode(claim.remember(state, answer).await?)
}

/// Who moves a user's points: the user, through an app, with the scopes its token carries.
pub struct PointsCaller<'a> {
    pub user: &'a User,
    pub app_id: &'a str,
    pub scopes: &'a Scopes,
}

impl PointsCaller<'_> {
    /// The request's claim on its idempotency key, if it sent one.
    fn claim(&self, key: Option<IdempotencyKey>, action: &str, request: Value) -> Option<Claim> {
        key.map(|k| Claim::new(self.app_id, &self.user.id, action, &k, &request))
    }
}

/// Moves `amount` points from the user to the app (its sharded balance); needs
/// `points:spend`.
pub async fn spend(
    state: &AppState,
    caller: PointsCaller<'_>,
    amount: Amount,
    description: Option<String>,
    key: Option<IdempotencyKey>,
) -> ApiResult<Spent> {
    let amount = amount.get();
    caller.scopes.require(Scope::PointsSpend)?;
    let (user, app_id) = (caller.user, caller.app_id);
    let claim = caller.claim(
        key,
        "spend",
        json!({ "amount": amount, "description": description }),
    );
    let now = state.now();
    let movement = Movement {
        user_id: &user.id,
        amount: -amount,
        kind: EntryKind::Spend,
        reference: app_id,
        description: description.as_deref(),
        counterparty: None,
    };
    let (debit, entry, event) = movement.parts(now, webhooks::listening(state).await)?;
    let mut rest = vec![entry, movement.noted(state)?];
    rest.extend(event);
    rest.extend(app_balance::credit_ops(
        app_id,
        state.config.economy.app_balance_shards,
        amount,
        EntryKind::Spend,
        &user.id,
        &user.id,
        now,
    )?);
    let exact = (user.points >= amount).then(|| Exact {
        ops: [vec![exact_debit(&debit, user.points)], rest.clone()].concat(),
        answer: Spent {
            amount_spent: amount,
            points: user.points - amount,
        },
    });
    let ops = [vec![debit.into_op()], rest].concat();
    let user_key = keys::user(&user.id);
    once(
        state,
        &user.id,
        claim,
        exact,
        ops,
        |r| r.on_condition(&user_key, insufficient),
        |points| Spent {
            amount_spent: amount,
            points,
        },
    )
    .await
}

/// Moves `amount` points from the user to another user; needs `points:transfer`.
pub async fn transfer(
    state: &AppState,
    caller: PointsCaller<'_>,
    to_user_id: &str,
    amount: Amount,
    description: Option<String>,
    key: Option<IdempotencyKey>,
) -> ApiResult<Transferred> {
    let amount = amount.get();
    caller.scopes.require(Scope::PointsTransfer)?;
    let (user, app_id) = (caller.user, caller.app_id);
    let not_found = || ApiError::not_found("recipient_not_found", "No user has that id");
    if uuid::Uuid::parse_str(to_user_id).is_err() {
        return Err(ApiError::field("to_user_id", "must be a user id"));
    }
    if to_user_id == user.id {
        return Err(ApiError::field("to_user_id", "must be another user"));
    }
    // A balance that covers the amount goes the exact way, where the recipient's condition
    // tells whether it exists; otherwise an unknown recipient is told before the balance.
    let covered = user.points >= amount;
    if !covered
        && users::get(state.table.as_ref(), to_user_id)
            .await?
            .is_none()
    {
        return Err(not_found());
    }
    let claim = caller.claim(
        key,
        "transfer",
        json!({ "amount": amount, "description": description, "to_user_id": to_user_id }),
    );
    let now = state.now();
    let sent = Movement {
        user_id: &user.id,
        amount: -amount,
        kind: EntryKind::TransferOut,
        reference: app_id,
        description: description.as_deref(),
        counterparty: Some(to_user_id),
    };
    let received = Movement {
        user_id: to_user_id,
        amount,
        kind: EntryKind::TransferIn,
        reference: app_id,
        description: description.as_deref(),
        counterparty: Some(&user.id),
    };
    let listening = webhooks::listening(state).await;
    let (debit, sent_entry, sent_event) = sent.parts(now, listening)?;
    let (credit, received_entry, received_event) = received.parts(now, listening)?;
    let credit = credit.into_op();
    let mut rest = vec![sent_entry, sent.noted(state)?, received.noted(state)?];
    rest.extend(sent_event);
    rest.extend(received_event);
    // The recipient's condition comes before the debit's: an unknown recipient is named first.
    let exact = covered.then(|| Exact {
        ops: [
            vec![
                credit.clone(),
                received_entry.clone(),
                exact_debit(&debit, user.points),
            ],
            rest.clone(),
        ]
        .concat(),
        answer: Transferred {
            amount_transferred: amount,
            points: user.points - amount,
        },
    });
    let ops = [vec![debit.into_op(), credit, received_entry], rest].concat();
    let (from_key, to_key) = (keys::user(&user.id), keys::user(to_user_id));
    once(
        state,
        &user.id,
        claim,
        exact,
        ops,
        |r| {
            r.on_condition(&from_key, insufficient)
                .on_condition(&to_key, not_found)
        },
        |points| Transferred {
            amount_transferred: amount,
            points,
        },
    )
    .await
}
