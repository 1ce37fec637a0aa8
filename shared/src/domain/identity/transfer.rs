//! Moving users in and out with their passwords (`buddo admin import|export`,
//! `POST /api/admin/users/import`, `GET /api/admin/users/export`).
//!
//! One JSON object per line, the same both ways ([`UserLine`]). A password hash made elsewhere
//! is kept as it is (within the cost bounds of `password::foreign`) and replaced by our Argon2id
//! at the first right password. Each user is written all or nothing by the same code as a
//! registration (its account, the markers of its address, username and referral code, in one
//! transaction); a user already there — the same address with the same username — is skipped,
//! so a file can be imported again after a partial run. Addresses are not mailed: an unverified
//! one asks for its verification mail when its owner wants it.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::accounts;
use super::usernames;
use super::users::{self, User};
use crate::clock::rfc3339;
use crate::domain::input::{Email, Username};
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::password::foreign;
use crate::state::AppState;
use crate::store::{self, Query, StoreError, Update};
use crate::totp;

/// Lines one `POST /api/admin/users/import` may carry (the CLI takes any number).
pub const MAX_LINES_PER_REQUEST: usize = 200;

/// A user as exported and imported: one line of the file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserLine {
    pub email: String,
    pub username: String,
    #[serde(default)]
    pub email_verified: bool,
    /// RFC 3339; the time of the import when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    /// Base32, at least 128 bits: TOTP is on for the user with this secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp_secret: Option<String>,
    /// bcrypt, `$scrypt$`, `$firebase-scrypt$`, `$argon2i$`/`$argon2id$` or Django's
    /// `pbkdf2_sha256$`; left out or `null`: the user has no password and must reset it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    #[serde(default)]
    pub disabled: bool,
}

impl UserLine {
    pub fn of(user: &User) -> Self {
        UserLine {
            email: user.email.clone(),
            username: user.username.clone(),
            email_verified: user.email_verified,
            created_at: Some(user.created_at.clone()),
            totp_secret: user.totp_secret.clone().filter(|_| user.totp_enabled),
            password_hash: Some(user.password_hash.clone()).filter(|h| !h.is_empty()),
            disabled: user.disabled,
        }
    }
}

/// A line of the file: its number (from 1) and what it held.
pub struct NumberedLine {
    pub line: usize,
    pub parsed: Result<UserLine, String>,
}

/// The lines of a JSON-lines text; blank lines are left out (and still counted).
pub fn parse_lines(text: &str) -> Vec<NumberedLine> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| NumberedLine {
            line: i + 1,
            parsed: serde_json::from_str(l).map_err(|e| format!("not a user line: {e}")),
        })
        .collect()
}

/// What an import did.
#[derive(Debug, Default, Serialize)]
pub struct ImportReport {
    pub imported: usize,
    pub skipped: usize,
    pub failed: usize,
    /// The lines of users already there.
    pub skipped_lines: Vec<usize>,
    /// Every line that failed, and why.
    pub failures: Vec<LineFailure>,
}

#[derive(Debug, Serialize)]
pub struct LineFailure {
    pub line: usize,
    /// `malformed_line`, `validation_failed`, `invalid_password_hash`, `invalid_totp_secret`,
    /// `email_taken`, `username_taken`, or the store's error.
    pub code: String,
    pub reason: String,
}

enum Outcome {
    Imported,
    Skipped,
}

struct Failure {
    code: String,
    reason: String,
}

impl Failure {
    fn new(code: &str, reason: impl Into<String>) -> Self {
        Failure {
            code: code.into(),
            reason: reason.into(),
        }
    }
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        let (code, reason) = e.describe();
        Failure::new(code, reason)
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        ApiError::from(e).into()
    }
}

/// Imports the lines one user at a time, each all or nothing.
pub async fn import(state: &AppState, lines: Vec<NumberedLine>) -> ImportReport {
    let mut report = ImportReport::default();
    for NumberedLine { line, parsed } in lines {
        let outcome = match parsed {
            Err(reason) => Err(Failure::new("malformed_line", reason)),
            Ok(user) => import_one(state, user).await,
        };
        match outcome {
            Ok(Outcome::Imported) => report.imported += 1,
            Ok(Outcome::Skipped) => {
                report.skipped += 1;
                report.skipped_lines.push(line);
            }
            Err(Failure { code, reason }) => {
                report.failed += 1;
                report.failures.push(LineFailure { line, code, reason });
            }
        }
    }
    report
}

/// A line's fields checked: what the user will be.
struct Checked {
    email: Email,
    username: Username,
    created_at: Option<String>,
    totp_secret: Option<String>,
    password_hash: String,
}

fn check(state: &AppState, line: &UserLine) -> Result<Checked, Failure> {
    let email = Email::parse("email", &line.email)?;
    let username = Username::parse(&line.username)?;
    let created_at = match line.created_at.as_deref() {
        None => None,
        Some(text) => {
            let at = OffsetDateTime::parse(text, &Rfc3339)
                .map_err(|_| ApiError::field("created_at", "must be an RFC 3339 time"))?;
            if at > state.now() {
                return Err(ApiError::field("created_at", "must not be in the future").into());
            }
            Some(rfc3339(at))
        }
    };
    let totp_secret = match line.totp_secret.as_deref() {
        None => None,
        Some(secret) => {
            let secret = secret.trim().trim_end_matches('=').to_uppercase();
            if secret.len() > 128 || totp::code_at(&secret, 0).is_err() {
                return Err(Failure::new(
                    "invalid_totp_secret",
                    "the TOTP secret must be base32 of 128 to 640 bits",
                ));
            }
            Some(secret)
        }
    };
    let password_hash = match line.password_hash.as_deref().map(str::trim) {
        None | Some("") => String::new(),
        Some(hash) => {
            foreign::validate(hash).map_err(|e| Failure::new("invalid_password_hash", e))?;
            hash.to_string()
        }
    };
    Ok(Checked {
        email,
        username,
        created_at,
        totp_secret,
        password_hash,
    })
}

async fn import_one(state: &AppState, line: UserLine) -> Result<Outcome, Failure> {
    let checked = check(state, &line)?;
    let table = state.table.as_ref();
    let lower = checked.username.lower();
    if usernames::is_reserved(&lower) {
        return Err(Failure::new("username_taken", "the username is reserved"));
    }
    let username_key = keys::username_marker(&lower);
    let (by_email, by_username) = tokio::join!(
        users::find_by_email(table, checked.email.as_str()),
        table.get(&username_key),
    );
    if let Some(existing) = by_email? {
        if existing.username.to_lowercase() == lower {
            return Ok(Outcome::Skipped);
        }
        return Err(Failure::new(
            "email_taken",
            "another user has this email address",
        ));
    }
    if by_username?.is_some() {
        return Err(Failure::new(
            "username_taken",
            "another user has this username",
        ));
    }
    let counter = table
        .update_returning(Update::new(keys::counter("registrations")).add("value", 1))
        .await?;
    let registration_number = counter.get("value").and_then(Value::as_u64).unwrap_or(1);
    let mut user = accounts::new_account(
        state,
        &checked.email,
        &checked.username,
        checked.password_hash,
        None,
        registration_number,
    );
    user.email_verified = line.email_verified;
    user.disabled = line.disabled;
    if let Some(at) = checked.created_at {
        user.created_at = at;
    }
    if let Some(secret) = checked.totp_secret {
        user.totp_enabled = true;
        user.totp_secret = Some(secret);
    }
    accounts::write_new(state, &mut user, &checked.username, Vec::new(), false).await?;
    Ok(Outcome::Imported)
}

/// A page of users to export, and where the next one starts.
pub struct ExportPage {
    pub users: Vec<UserLine>,
    pub next_cursor: Option<String>,
}

/// Up to `limit` users in username order, from `cursor` (a page's `next_cursor`): the
/// username markers, one index partition per initial letter, then each user.
pub async fn export_page(
    state: &AppState,
    limit: usize,
    cursor: Option<String>,
) -> ApiResult<ExportPage> {
    let bad_cursor = || ApiError::field("cursor", "is not a cursor of this export");
    let (mut initial, mut inner) = match cursor.as_deref() {
        None => ('a', None),
        Some(text) => {
            let mut chars = text.chars();
            let initial = chars
                .next()
                .filter(char::is_ascii_lowercase)
                .ok_or_else(bad_cursor)?;
            let rest = chars.as_str();
            (initial, Some(rest.to_string()).filter(|r| !r.is_empty()))
        }
    };
    let table = state.table.as_ref();
    let mut users = Vec::new();
    loop {
        let page = table
            .query(
                &Query::gsi1(keys::usernames_by_initial(initial))
                    .limit(limit - users.len())
                    .cursor(inner.take()),
            )
            .await
            .map_err(|e| match e {
                StoreError::Invalid(_) => bad_cursor(),
                other => other.into(),
            })?;
        let ids: Vec<String> = page
            .items
            .into_iter()
            .map(|item| store::from_item::<usernames::UsernameMarker>(item).map(|m| m.user_id))
            .collect::<Result<_, _>>()?;
        let found =
            futures::future::try_join_all(ids.iter().map(|id| users::get(table, id))).await?;
        users.extend(found.iter().flatten().map(UserLine::of));
        let next = match page.cursor {
            Some(c) => Some(format!("{initial}{c}")),
            None if initial < 'z' => {
                initial = (initial as u8 + 1) as char;
                Some(initial.to_string())
            }
            None => None,
        };
        match next {
            None => {
                return Ok(ExportPage {
                    users,
                    next_cursor: None,
                })
            }
            Some(next) if users.len() >= limit => {
                return Ok(ExportPage {
                    users,
                    next_cursor: Some(next),
                })
            }
            Some(next) => {
                let mut chars = next.chars();
                initial = chars.next().expect("not empty");
                inner = Some(chars.as_str().to_string()).filter(|r| !r.is_empty());
            }
        }
    }
}
