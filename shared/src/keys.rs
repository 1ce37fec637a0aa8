//! The one place that builds table keys (docs/architecture.md, "Table design"). Secrets
//! appear here only as hashes.

use crate::store::Key;

pub const PROFILE: &str = "PROFILE";

pub fn user_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}

pub fn user(user_id: &str) -> Key {
    Key::new(user_pk(user_id), PROFILE)
}

/// An id no user has (user ids are UUIDs): read where an unknown account must cost the same
/// reads as a known one.
pub const NO_USER: &str = "-";

/// Uniqueness marker: one per lower-cased email.
pub fn email_marker(email_lower: &str) -> Key {
    Key::new(format!("EMAIL#{email_lower}"), "EMAIL")
}

/// Uniqueness marker: one per lower-cased username.
pub fn username_marker(username_lower: &str) -> Key {
    Key::new(format!("USERNAME#{username_lower}"), "USERNAME")
}

/// Uniqueness marker and lookup: referral code → user.
pub fn referral_code(code: &str) -> Key {
    Key::new(format!("REFCODE#{code}"), "REFCODE")
}

pub const LOGIN_PREFIX: &str = "LOGIN#";

pub fn login_session(user_id: &str, session_id: &str) -> Key {
    Key::new(user_pk(user_id), format!("{LOGIN_PREFIX}{session_id}"))
}

pub fn refresh_token(token_hash: &str) -> Key {
    Key::new(format!("REFRESH#{token_hash}"), "REFRESH")
}

/// Email verification, password reset and email change tokens.
pub fn email_token(token_hash: &str) -> Key {
    Key::new(format!("EMAILTOKEN#{token_hash}"), "EMAILTOKEN")
}

pub const RECOVERY_PREFIX: &str = "RECOVERY#";

pub fn recovery_code(user_id: &str, code_hash: &str) -> Key {
    Key::new(user_pk(user_id), format!("{RECOVERY_PREFIX}{code_hash}"))
}

pub const LEDGER_PREFIX: &str = "LEDGER#";

/// `at` is an RFC 3339 timestamp so entries sort by time.
pub fn user_ledger(user_id: &str, at: &str, entry_id: &str) -> Key {
    Key::new(user_pk(user_id), format!("{LEDGER_PREFIX}{at}#{entry_id}"))
}

pub fn counter(name: &str) -> Key {
    Key::new(format!("COUNTER#{name}"), "COUNTER")
}

pub fn rate_window(bucket: &str, subject: &str, window_start: i64) -> Key {
    Key::new(
        format!("RATE#{bucket}#{subject}"),
        format!("W#{window_start}"),
    )
}

const OUTBOX_PREFIX: &str = "OUTBOX#";
const OUTBOX_SK: &str = "OUTBOX";

pub fn outbox(message_id: &str) -> Key {
    Key::new(format!("{OUTBOX_PREFIX}{message_id}"), OUTBOX_SK)
}

/// The key, when `(pk, sk)` is an outbox message's.
pub fn as_outbox(pk: &str, sk: &str) -> Option<Key> {
    (pk.starts_with(OUTBOX_PREFIX) && sk == OUTBOX_SK).then(|| Key::new(pk, sk))
}

/// GSI1 partition of mail not yet sent.
pub const OUTBOX_PENDING: &str = "OUTBOX#PENDING";
/// GSI1 partition of mail given up after every attempt failed (`buddo admin mail retry`).
pub const OUTBOX_FAILED: &str = "OUTBOX#FAILED";
