//! `Idempotency-Key` for requests that move points: the same key and body again gets the
//! first answer and moves nothing; the same key with another body is refused (422). The record
//! is written in the same atomic write as the movement, so a movement and its record exist
//! together or not at all, also when retries race.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::crypto::hash_secret;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Key, Update, WriteOp, TTL};

/// How long a key is remembered.
pub const KEEP_SECONDS: i64 = 24 * 3600;

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
    /// The first answer, once known.
    #[serde(default)]
    response: Option<Value>,
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

    /// The first answer of an earlier request with this key, if there was one; 422 when that
    /// request had another body.
    pub async fn replay(&self, state: &AppState) -> ApiResult<Option<Value>> {
        let Some(item) = state.table.get(&self.key).await? else {
            return Ok(None);
        };
        let record: Record = store::from_item(item)?;
        if record.request_hash != self.request_hash {
            return Err(mismatch());
        }
        Ok(Some(record.response.unwrap_or(Value::Null)))
    }

    /// The write that records the key; put it in the movement's atomic write. It fails (on
    /// [`Claim::key`]) when a racing request with the key got there first.
    pub fn record_op(&self, state: &AppState) -> ApiResult<WriteOp> {
        let mut item = store::to_item(
            &self.key,
            &Record {
                request_hash: self.request_hash.clone(),
                response: None,
            },
        )?;
        item.insert(TTL.into(), (state.now_unix() + KEEP_SECONDS).into());
        Ok(WriteOp::put_new(item))
    }

    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Stores the first answer once the movement is done. A lost answer is rebuilt from the
    /// current state on replay, so a failure here is logged, not returned.
    pub async fn remember(&self, state: &AppState, response: &Value) {
        let update = Update::new(self.key.clone())
            .set("response", response.clone())
            .when(crate::store::Cond::Exists);
        if let Err(e) = state.table.write(vec![update.into_op()]).await {
            tracing::warn!(error = %e, "storing an idempotent answer");
        }
    }
}
