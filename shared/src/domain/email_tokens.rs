//! Single-use tokens sent by mail: email verification, password reset, email change.
//! Stored by hash with an expiry; consuming one is a conditional delete in the same atomic
//! write as its effect, so a token works once even under concurrent use.

use serde::{Deserialize, Serialize};

use crate::crypto::{hash_secret, random_token};
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Key, WriteOp, TTL};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
    ChangeEmail,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EmailToken {
    pub purpose: Purpose,
    pub user_id: String,
    /// The address the mail went to: verification holds only while it is still the user's.
    pub email: String,
    #[serde(default)]
    pub new_email: Option<String>,
}

/// A new token: the raw value for the mail and the write that stores its hash.
pub fn issue(state: &AppState, token: EmailToken) -> (String, WriteOp) {
    let ttl = match token.purpose {
        Purpose::VerifyEmail => state.config.verification_ttl,
        Purpose::ResetPassword => state.config.reset_ttl,
        Purpose::ChangeEmail => state.config.email_change_ttl,
    };
    let raw = random_token();
    let mut item =
        store::to_item(&keys::email_token(&hash_secret(&raw)), &token).expect("token is an object");
    item.insert(TTL.into(), (state.now_unix() + ttl.as_secs() as i64).into());
    (raw, WriteOp::put_new(item))
}

/// Finds a live token of the given purpose; the key is for the consuming delete.
pub async fn find(state: &AppState, raw: &str, purpose: Purpose) -> ApiResult<(EmailToken, Key)> {
    let key = keys::email_token(&hash_secret(raw));
    let token: Option<EmailToken> = match state.table.get(&key).await? {
        Some(item) => Some(store::from_item(item)?),
        None => None,
    };
    match token {
        Some(t) if t.purpose == purpose => Ok((t, key)),
        _ => Err(invalid()),
    }
}

pub fn invalid() -> ApiError {
    ApiError::bad_request(
        "invalid_token",
        "The token is invalid, expired or already used",
    )
}
