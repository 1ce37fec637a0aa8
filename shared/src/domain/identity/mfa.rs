//! TOTP two-factor authentication and recovery codes.
//!
//! A TOTP code is accepted at most once (the matched time step must be newer than the last
//! accepted one, checked atomically); a recovery code is a stored hash deleted on use. Turning
//! TOTP on or off, and reading new recovery codes, need a recent password login, and turning
//! it on needs a verified address: a stolen token, or an account registered on someone else's
//! address, cannot enrol an attacker's authenticator. Turning TOTP on or off ends every other
//! login session.

use serde_json::Value;

use super::attempts;
use super::sessions::{self, Authenticated};
use super::users::{self, User};
use crate::crypto::{hash_secret, random_base32};
use crate::domain::activity::{self, ActivityKind};
use crate::domain::input::OtpCode;
use crate::domain::RequestMeta;
use crate::error::{ApiError, ApiResult, OnCondition};
use crate::keys;
use crate::mail::{self, templates};
use crate::ratelimit::Counter;
use crate::state::AppState;
use crate::store::{self, Cond, Query, SortKey, Update, WriteOp};
use crate::totp;

pub const RECOVERY_CODE_COUNT: usize = 10;
/// Symbols of a recovery code: 16 of 32 = 80 bits, enough that the stored (unsalted) SHA-256
/// cannot be reversed by brute force.
const RECOVERY_CODE_SYMBOLS: usize = 16;

fn invalid_code() -> ApiError {
    ApiError::bad_request("invalid_code", "The code is invalid or was already used")
}

fn not_enabled() -> ApiError {
    ApiError::bad_request(
        "totp_not_enabled",
        "Two-factor authentication is not enabled",
    )
}

fn already_enabled() -> ApiError {
    ApiError::conflict(
        "totp_already_enabled",
        "Two-factor authentication is already enabled",
    )
}

/// What set-up returns: the secret and the `otpauth://` URI an authenticator app scans.
pub struct TotpSetup {
    pub secret: String,
    pub uri: String,
}

pub struct MfaStatus {
    pub enabled: bool,
    pub recovery_codes_remaining: usize,
}

/// Starts set-up: a new secret kept as pending until a code from it is confirmed.
pub async fn setup(state: &AppState, auth: &Authenticated) -> ApiResult<TotpSetup> {
    sessions::require_recent_login(state, auth)?;
    let user = &auth.user;
    users::require_verified_email(user)?;
    if user.totp_enabled {
        return Err(already_enabled());
    }
    let secret = totp::new_secret();
    let uri = totp::provisioning_uri(&secret, &state.config.totp_issuer, &user.email)?;
    let update = Update::new(keys::user(&user.id))
        .set("totp_pending_secret", secret.clone())
        .when(Cond::Exists.and(Cond::ne("totp_enabled", true)));
    state
        .table
        .write(vec![update.into_op()])
        .await
        .on_any_condition(already_enabled)?;
    Ok(TotpSetup { secret, uri })
}

/// New recovery codes: the raw codes for the user and the writes that store their hashes.
fn new_recovery_codes(user_id: &str) -> (Vec<String>, Vec<WriteOp>) {
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let raw = random_base32(RECOVERY_CODE_SYMBOLS);
            let display = raw
                .as_bytes()
                .chunks(4)
                .map(|c| std::str::from_utf8(c).expect("ASCII"))
                .collect::<Vec<_>>()
                .join("-");
            let key = keys::recovery_code(user_id, &hash_secret(&raw));
            let item = store::to_item(&key, &serde_json::Map::new()).expect("object");
            (display, WriteOp::put_new(item))
        })
        .unzip()
}

/// A recovery code as typed, in its stored form: case, spaces and dashes do not matter, and
/// the look-alikes O, I and L read as 0, 1 and 1 (Crockford's base32).
fn normalize_recovery(code: &str) -> Option<String> {
    let normalized: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect();
    (normalized.len() == RECOVERY_CODE_SYMBOLS
        && normalized
            .bytes()
            .all(|b| crate::crypto::BASE32.contains(&b)))
    .then_some(normalized)
}

pub(super) async fn recovery_keys(state: &AppState, user_id: &str) -> ApiResult<Vec<store::Key>> {
    let page = state
        .table
        .query(
            &Query::partition(keys::user_pk(user_id))
                .sk(SortKey::BeginsWith(keys::RECOVERY_PREFIX.into())),
        )
        .await?;
    page.items
        .iter()
        .map(|i| store::item_key(i).map_err(Into::into))
        .collect()
}

/// Confirms set-up with a code from the pending secret; returns the recovery codes. Every
/// other login session ends.
pub async fn enable(
    state: &AppState,
    auth: &Authenticated,
    code: &OtpCode,
    meta: &RequestMeta,
) -> ApiResult<Vec<String>> {
    sessions::require_recent_login(state, auth)?;
    let user = &auth.user;
    users::require_verified_email(user)?;
    if user.totp_enabled {
        return Err(already_enabled());
    }
    let Some(pending) = user.totp_pending_secret.clone() else {
        return Err(ApiError::bad_request(
            "totp_not_set_up",
            "Call POST /api/auth/totp/setup first",
        ));
    };
    let step =
        totp::matching_step(&pending, code.as_str(), state.now_unix()).ok_or_else(invalid_code)?;
    let (codes, mut ops) = new_recovery_codes(&user.id);
    for key in recovery_keys(state, &user.id).await? {
        ops.push(WriteOp::delete(key));
    }
    let user_key = keys::user(&user.id);
    let update = Update::new(user_key.clone())
        .set("totp_enabled", true)
        .set("totp_secret", pending.clone())
        .set("totp_last_step", step)
        .remove("totp_pending_secret")
        .when(Cond::eq("totp_pending_secret", pending).and(Cond::ne("totp_enabled", true)));
    let end = sessions::SessionsEnd::because(state, "totp_enabled").await;
    ops.extend(sessions::end_other_sessions(
        user,
        update,
        Some(&auth.session.id),
        end,
    ));
    ops.push(mail::enqueue(
        templates::totp_enabled(&user.email),
        state.now(),
    ));
    ops.push(activity::record(
        state,
        &user.id,
        ActivityKind::TotpEnabled,
        Some(meta),
        Value::Null,
    )?);
    state.table.write(ops).await.on_condition(&user_key, || {
        ApiError::conflict(
            "totp_setup_changed",
            "Set-up changed meanwhile; start again",
        )
    })?;
    sessions::remove_stale(state, &user.id, Some(&auth.session.id)).await;
    Ok(codes)
}

/// Checks a TOTP code or a recovery code and uses it up. `Ok(false)` when it is wrong or
/// was already used. Callers go through [`check_code`], which limits guessing.
pub(super) async fn use_code(state: &AppState, user: &User, code: &str) -> ApiResult<bool> {
    let code = code.trim();
    if !user.totp_enabled {
        return Err(not_enabled());
    }
    if totp::looks_like_code(code) {
        let Some(secret) = user.totp_secret.as_deref() else {
            return Ok(false);
        };
        let Some(step) = totp::matching_step(secret, code, state.now_unix()) else {
            return Ok(false);
        };
        let accept = Update::new(keys::user(&user.id))
            .set("totp_last_step", step)
            .when(Cond::lt("totp_last_step", step).and(Cond::eq("totp_enabled", true)));
        return match state.table.write(vec![accept.into_op()]).await {
            Ok(()) => Ok(true),
            Err(e) if e.is_condition_failed() => Ok(false),
            Err(e) => Err(e.into()),
        };
    }
    let Some(normalized) = normalize_recovery(code) else {
        return Ok(false);
    };
    let key = keys::recovery_code(&user.id, &hash_secret(&normalized));
    match state.table.write(vec![WriteOp::delete_existing(key)]).await {
        Ok(()) => Ok(true),
        Err(e) if e.is_condition_failed() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Accepts a TOTP or recovery code of a signed-in user (and uses it up), or refuses it;
/// wrong codes count against the account's limit.
pub async fn verify(state: &AppState, user: &User, code: &OtpCode) -> ApiResult<()> {
    if !user.totp_enabled {
        return Err(not_enabled());
    }
    if check_code(state, user, code.as_str()).await? {
        Ok(())
    } else {
        Err(invalid_code())
    }
}

pub async fn status(state: &AppState, user: &User) -> ApiResult<MfaStatus> {
    let recovery_codes_remaining = if user.totp_enabled {
        recovery_keys(state, &user.id).await?.len()
    } else {
        0
    };
    Ok(MfaStatus {
        enabled: user.totp_enabled,
        recovery_codes_remaining,
    })
}

/// Turns TOTP off after checking the password and a code, and drops the recovery codes.
/// Every other login session ends.
pub async fn disable(
    state: &AppState,
    auth: &Authenticated,
    password: String,
    code: &OtpCode,
    meta: &RequestMeta,
) -> ApiResult<()> {
    sessions::require_recent_login(state, auth)?;
    let user = &auth.user;
    if !user.totp_enabled {
        return Err(not_enabled());
    }
    attempts::confirm_password(state, user, password, meta).await?;
    verify(state, user, code).await?;
    let mut ops: Vec<WriteOp> = recovery_keys(state, &user.id)
        .await?
        .into_iter()
        .map(WriteOp::delete)
        .collect();
    let update = Update::new(keys::user(&user.id))
        .set("totp_enabled", false)
        .remove("totp_secret")
        .remove("totp_pending_secret")
        .when(Cond::eq("totp_enabled", true));
    let end = sessions::SessionsEnd::because(state, "totp_disabled").await;
    ops.extend(sessions::end_other_sessions(
        user,
        update,
        Some(&auth.session.id),
        end,
    ));
    ops.push(mail::enqueue(
        templates::totp_disabled(&user.email),
        state.now(),
    ));
    ops.push(activity::record(
        state,
        &user.id,
        ActivityKind::TotpDisabled,
        Some(meta),
        Value::Null,
    )?);
    state.table.write(ops).await.on_any_condition(not_enabled)?;
    sessions::remove_stale(state, &user.id, Some(&auth.session.id)).await;
    Ok(())
}

/// Replaces every recovery code with new ones, after checking a code.
pub async fn regenerate_recovery_codes(
    state: &AppState,
    auth: &Authenticated,
    code: &OtpCode,
) -> ApiResult<Vec<String>> {
    sessions::require_recent_login(state, auth)?;
    let user = &auth.user;
    verify(state, user, code).await?;
    let (codes, mut ops) = new_recovery_codes(&user.id);
    for key in recovery_keys(state, &user.id).await? {
        ops.push(WriteOp::delete(key));
    }
    ops.push(WriteOp::check(
        keys::user(&user.id),
        Cond::eq("totp_enabled", true),
    ));
    state.table.write(ops).await.on_any_condition(not_enabled)?;
    Ok(codes)
}

/// Checks a TOTP or recovery code of `user` and uses it up; `Ok(false)` when it is wrong or
/// was used before. 429 when the account's code counter is full.
pub async fn check_code(state: &AppState, user: &User, code: &str) -> ApiResult<bool> {
    let limit = state.config.rate_limits.failed_code;
    let reservation = state
        .limiter
        .reserve(&[Counter::new("code-fail", &user.id, limit)])
        .await?;
    let accepted = use_code(state, user, code).await?;
    if accepted {
        state.limiter.release(reservation).await;
    }
    Ok(accepted)
}
