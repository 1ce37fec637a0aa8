//! Single-use tokens sent by mail: email verification, password reset, email change.
//! Stored by hash with an expiry; consuming one is a conditional delete in the same atomic
//! write as its effect, so a token works once even under concurrent use.

use serde::{Deserialize, Serialize};

use crate::crypto::{hash_secret, random_token};
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::mail::{self, templates};
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

/// A new token and the mail that carries it: the writes that store the token's hash and
/// queue the mail, to go into one atomic write with whatever else the caller changes.
pub fn issue(state: &AppState, token: EmailToken) -> [WriteOp; 2] {
    let config = &state.config;
    let raw = random_token();
    let (ttl, mail) = match token.purpose {
        Purpose::VerifyEmail => (
            config.verification_ttl,
            templates::verification(
                &token.email,
                &config.public_web_url,
                &raw,
                config.verification_ttl.as_secs() / 3600,
            ),
        ),
        Purpose::ResetPassword => (
            config.reset_ttl,
            templates::password_reset(
                &token.email,
                &config.public_web_url,
                &raw,
                config.reset_ttl.as_secs() / 60,
            ),
        ),
        Purpose::ChangeEmail => (
            config.email_change_ttl,
            templates::email_change(
                token.new_email.as_deref().unwrap_or(&token.email),
                &config.public_web_url,
                &raw,
                config.email_change_ttl.as_secs() / 60,
            ),
        ),
    };
    let mut item =
        store::to_item(&keys::email_token(&hash_secret(&raw)), &token).expect("token is an object");
    item.insert(TTL.into(), (state.now_unix() + ttl.as_secs() as i64).into());
    [WriteOp::put_new(item), mail::enqueue(mail, state.now())]
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
