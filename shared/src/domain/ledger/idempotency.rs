//! `Idempotency-Key` for requests that move points: the same key and body again gets the
//! first answer and moves nothing; the same key with another body is refused (422). The record
//! is written in the same atomic write as the movement, so a movement and its record exist
//! together or not at all, also when retries race. The first request stores its answer before
//! it answers; a duplicate that arrives meanwhile waits for that answer, and when it does not
//! come soon answers 409 `idempotency_key_in_use` with `Retry-After` (as the IETF
//! Idempotency-Key header draft does) — never a body of its own making.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::crypto::hash_secret;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Cond, Key, Update, WriteOp, TTL};

/// How long a key is remembered.
pub const KEEP_SECONDS: i64 = 24 * 3600;

/// A record still without an answer this long after it was written belongs to a request that
/// died after moving the points (no request outlives `REQUEST_TIMEOUT_MS`, 4.5 s by default):
/// a retry then answers from the state now, and that answer is stored as the first.
pub const ABANDONED_AFTER_SECONDS: i64 = 10;

/// How long a duplicate waits for the first request's answer before answering 409.
const WAIT_FOR_FIRST: std::time::Duration = std::time::Duration::from_millis(1500);
const POLL_EVERY: std::time::Duration = std::time::Duration::from_millis(25);

/// A validated `Idempotency-Key`: 1 to 255 visible ASCII characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    pub fn parse(raw: &str) -> ApiResult<Self> {
        if raw.is_empty() || raw.len() > 255 || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::bad_request(
                "invalid_idempotency_key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            ));
        }
        Ok(IdempotencyKey(raw.to_string()))
    }
}

#[derive(Serialize, Deserialize)]
struct Record {
    request_hash: String,
    /// The first answer, once known (absent until then: storing it is conditional on that).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response: Option<Value>,
    /// When the movement was written (Unix seconds).
    #[serde(default)]
    created_at: i64,
}

/// What is known of a key.
pub enum Seen {
    /// Never used: the movement may go ahead.
    New,
    /// The first request's answer.
    Answered(Value),
    /// The points moved, the answer is not stored yet.
    InFlight { since: i64 },
}

/// One request's key, scoped to the app and user that sent it.
pub struct Claim {
    key: Key,
    request_hash: String,
}

fn mismatch() -> ApiError {
    ApiError::unprocessable(
        "idempotency_key_reused",
        "This Idempotency-Key was used with another request",
    )
}

impl Claim {
    /// `scope` names the endpoint; `request` is the canonical body.
    pub fn new(
        app_id: &str,
        user_id: &str,
        scope: &str,
        key: &IdempotencyKey,
        request: &Value,
    ) -> Self {
        Claim {
            key: keys::idempotency(
                app_id,
                user_id,
                &hash_secret(&format!("{scope}\n{}", key.0)),
            ),
            request_hash: hash_secret(&request.to_string()),
        }
    }

    /// What an earlier request with this key left; 422 when it had another body.
    pub async fn seen(&self, state: &AppState) -> ApiResult<Seen> {
        let Some(item) = state.table.get(&self.key).await? else {
            return Ok(Seen::New);
        };
        let record: Record = store::from_item(item)?;
        if record.request_hash != self.request_hash {
            return Err(mismatch());
        }
        Ok(match record.response {
            Some(answer) => Seen::Answered(answer),
            None => Seen::InFlight {
                since: record.created_at,
            },
        })
    }

    /// The first request's answer, once it is stored: waits a little for a request still
    /// in flight; rebuilds it by awaiting `rebuild` (and stores it as the first) for one that died
    /// after moving the points; else 409 `idempotency_key_in_use`.
    pub async fn first_answer(
        &self,
        state: &AppState,
        rebuild: impl std::future::Future<Output = ApiResult<Value>>,
    ) -> ApiResult<Value> {
        let deadline = tokio::time::Instant::now() + WAIT_FOR_FIRST;
        loop {
            match self.seen(state).await? {
                Seen::Answered(answer) => return Ok(answer),
                Seen::New => return Err(ApiError::internal("idempotency record vanished")),
                Seen::InFlight { since } => {
                    if state.now_unix() - since >= ABANDONED_AFTER_SECONDS {
                        let answer = rebuild.await?;
                        return self.remember(state, answer).await;
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ApiError::Busy {
                    code: "idempotency_key_in_use",
                    message:
                        "A request with this Idempotency-Key is still being processed; retry later"
                            .into(),
                    retry_after: 1,
                });
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }

    /// The write that records the key; put it in the movement's atomic write. It fails (on
    /// [`Claim::key`]) when a racing request with the key got there first.
    pub fn record_op(&self, state: &AppState) -> ApiResult<WriteOp> {
        self.put(state, None)
    }

    /// As [`Claim::record_op`], with the answer already known (the movement's outcome is
    /// decided by its own conditions): the key, its movement and its answer in one write, and
    /// nothing to remember afterwards.
    pub fn answered_op(&self, state: &AppState, response: Value) -> ApiResult<WriteOp> {
        self.put(state, Some(response))
    }

    fn put(&self, state: &AppState, response: Option<Value>) -> ApiResult<WriteOp> {
        let mut item = store::to_item(
            &self.key,
            &Record {
                request_hash: self.request_hash.clone(),
                response,
                created_at: state.now_unix(),
            },
        )?;
        item.insert(TTL.into(), (state.now_unix() + KEEP_SECONDS).into());
        Ok(WriteOp::put_new(item))
    }

    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Stores the first answer, unless one is stored already (then that one is the answer).
    /// Only a stored answer is ever given: a request that cannot store its answer fails, and
    /// its retry gets the answer stored for it.
    pub async fn remember(&self, state: &AppState, response: Value) -> ApiResult<Value> {
        let update = Update::new(self.key.clone())
            .set("response", response.clone())
            .when(Cond::Exists.and(Cond::attr_not_exists("response")));
        match state.table.write(vec![update.into_op()]).await {
            Ok(()) => Ok(response),
            Err(e) if e.failed_key() == Some(&self.key) => match self.seen(state).await? {
                Seen::Answered(first) => Ok(first),
                _ => Err(ApiError::internal("idempotency record vanished")),
            },
            Err(e) => Err(e.into()),
        }
    }
}
