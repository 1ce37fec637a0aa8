//! Single-use tokens sent by mail: email verification, password reset, email change and its
//! undo.
//!
//! Stored by hash with an expiry. Each is bound to the state it was issued for — the user's
//! address and credential generation at the time — and is refused once either has moved on:
//! a reset link dies when the password or the address changes, a pending email change dies
//! with a password reset. Consuming one is a conditional delete in the same atomic write as
//! its effect, so a token works once even under concurrent use.

use serde::{Deserialize, Serialize};

use super::users::User;
use crate::crypto::{hash_secret, random_token};
use crate::error::{ApiError, ApiResult, OnCondition};
use crate::keys;
use crate::mail::{self, templates, Mail};
use crate::ratelimit::{Counter, Window};
use crate::state::AppState;
use crate::store::{self, Cond, Key, WriteOp, TTL};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
    ChangeEmail,
    /// Sent to the address an account left: takes it back (see `accounts::undo_email_change`).
    UndoEmailChange,
}

/// How long the address an account left can take it back.
pub const UNDO_EMAIL_CHANGE_DAYS: u64 = 7;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MailToken {
    pub purpose: Purpose,
    pub user_id: String,
    /// The user's address when the token was issued.
    pub email: String,
    /// The user's credential generation when the token was issued.
    #[serde(default)]
    pub credential_generation: i64,
    /// Email change: the address to move to.
    #[serde(default)]
    pub new_email: Option<String>,
    /// Email change: the login session that asked, which stays signed in.
    #[serde(default)]
    pub session_id: Option<String>,
    /// Email change undo: the change it undoes (a UUIDv7, the sort key of its `EMAILUNDO#`
    /// item), the address the account moved to, and whether TOTP was on before it.
    #[serde(default)]
    pub change_id: Option<String>,
    #[serde(default)]
    pub moved_to: Option<String>,
    #[serde(default)]
    pub totp_was_enabled: bool,
}

impl MailToken {
    pub fn new(purpose: Purpose, user: &User) -> Self {
        MailToken {
            purpose,
            user_id: user.id.clone(),
            email: user.email.clone(),
            credential_generation: user.credential_generation,
            new_email: None,
            session_id: None,
            change_id: None,
            moved_to: None,
            totp_was_enabled: user.totp_enabled,
        }
    }

    /// Where the mail goes.
    pub fn recipient(&self) -> &str {
        self.new_email.as_deref().unwrap_or(&self.email)
    }

    /// What the user item must still hold for this token to apply.
    pub fn still_current(&self) -> Cond {
        Cond::eq("email", self.email.clone()).and(Cond::eq(
            "credential_generation",
            self.credential_generation,
        ))
    }
}

/// The counter of mail sent to one address (whether it has an account or not).
pub fn mail_window(state: &AppState, address: &str) -> Window {
    state.limiter.window(Counter::new(
        "mail",
        address,
        state.config.rate_limits.mail_per_address,
    ))
}

/// Writes `ops` (the mail to `address` among them) together with one count of mail to that
/// address; 429 when it has had its mail for the window.
pub async fn write_counting_mail(
    state: &AppState,
    address: &str,
    ops: impl IntoIterator<Item = WriteOp>,
) -> ApiResult<()> {
    let window = mail_window(state, address);
    let mut all = vec![window.count_op()];
    all.extend(ops);
    state
        .table
        .write(all)
        .await
        .on_condition(&window.key, || window.exceeded(state.now_unix()))
}

/// A new token and the mail that carries it: the writes that store the token's hash and
/// queue the mail, to go into one atomic write with whatever else the caller changes.
pub fn issue(state: &AppState, token: MailToken) -> [WriteOp; 2] {
    issue_keyed(state, token).1
}

/// [`issue`], also answering the key the token is stored under.
pub fn issue_keyed(state: &AppState, token: MailToken) -> (Key, [WriteOp; 2]) {
    let config = &state.config;
    let raw = random_token();
    let to = token.recipient();
    let (ttl, mail): (_, Mail) = match token.purpose {
        Purpose::VerifyEmail => (
            config.verification_ttl,
            templates::verification(
                to,
                &config.public_web_url,
                &raw,
                config.verification_ttl.as_secs() / 3600,
            ),
        ),
        Purpose::ResetPassword => (
            config.reset_ttl,
            templates::password_reset(
                to,
                &config.public_web_url,
                &raw,
                config.reset_ttl.as_secs() / 60,
            ),
        ),
        Purpose::ChangeEmail => (
            config.email_change_ttl,
            templates::email_change(
                to,
                &config.public_web_url,
                &raw,
                config.email_change_ttl.as_secs() / 60,
            ),
        ),
        Purpose::UndoEmailChange => (
            std::time::Duration::from_secs(UNDO_EMAIL_CHANGE_DAYS * 24 * 3600),
            templates::email_changed_undo(
                to,
                token.moved_to.as_deref().unwrap_or_default(),
                &config.public_web_url,
                &raw,
                UNDO_EMAIL_CHANGE_DAYS,
            ),
        ),
    };
    let key = keys::email_token(&hash_secret(&raw));
    let mut item = store::to_item(&key, &token).expect("token is an object");
    item.insert(TTL.into(), (state.now_unix() + ttl.as_secs() as i64).into());
    (
        key,
        [WriteOp::put_new(item), mail::enqueue(mail, state.now())],
    )
}

/// Finds a live token of the given purpose; the key is for the consuming delete.
pub async fn find(state: &AppState, raw: &str, purpose: Purpose) -> ApiResult<(MailToken, Key)> {
    let key = keys::email_token(&hash_secret(raw));
    let token: Option<MailToken> = match state.table.get(&key).await? {
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
