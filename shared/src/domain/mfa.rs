//! TOTP two-factor authentication and recovery codes. A TOTP code is accepted at most once
//! (the matched time step must be newer than the last accepted one, checked atomically);
//! a recovery code is a stored hash deleted on use.

use crate::crypto::{hash_secret, random_code};
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::mail::{self, templates};
use crate::state::AppState;
use crate::store::{self, Cond, Query, SortKey, Update, WriteOp};
use crate::totp;

use super::users::User;

pub const RECOVERY_CODE_COUNT: usize = 10;

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

/// Starts set-up: a new secret kept as pending until a code from it is confirmed.
pub async fn setup(state: &AppState, user: &User) -> ApiResult<(String, String)> {
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
        .map_err(|e| {
            if e.is_condition_failed() {
                already_enabled()
            } else {
                e.into()
            }
        })?;
    Ok((secret, uri))
}

/// New recovery codes: the raw codes for the user and the writes that store their hashes.
fn new_recovery_codes(user_id: &str) -> (Vec<String>, Vec<WriteOp>) {
    (0..RECOVERY_CODE_COUNT)
        .map(|_| {
            let raw = random_code(10);
            let display = format!("{}-{}", &raw[..5], &raw[5..]);
            let item = store::to_item(
                &keys::recovery_code(user_id, &hash_secret(&raw)),
                &serde_json::json!({}),
            )
            .expect("object");
            (display, WriteOp::put_new(item))
        })
        .unzip()
}

fn normalize_recovery(code: &str) -> String {
    code.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(|c| c.to_uppercase())
        .collect()
}

async fn recovery_keys(state: &AppState, user_id: &str) -> ApiResult<Vec<store::Key>> {
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

/// Confirms set-up with a code from the pending secret; returns the recovery codes.
pub async fn enable(state: &AppState, user: &User, code: &str) -> ApiResult<Vec<String>> {
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
        totp::matching_step(&pending, code.trim(), state.now_unix()).ok_or_else(invalid_code)?;
    let (codes, mut ops) = new_recovery_codes(&user.id);
    for key in recovery_keys(state, &user.id).await? {
        ops.push(WriteOp::delete(key));
    }
    ops.push(
        Update::new(keys::user(&user.id))
            .set("totp_enabled", true)
            .set("totp_secret", pending.clone())
            .set("totp_last_step", step)
            .remove("totp_pending_secret")
            .when(Cond::eq("totp_pending_secret", pending).and(Cond::ne("totp_enabled", true)))
            .into_op(),
    );
    ops.push(mail::enqueue(
        templates::totp_enabled(&user.email),
        state.now(),
    ));
    let user_op = ops.len() - 2;
    state
        .table
        .write(ops)
        .await
        .map_err(|e| match e.failed_op() {
            Some(op) if op == user_op => ApiError::conflict(
                "totp_setup_changed",
                "Set-up changed meanwhile; start again",
            ),
            _ => e.into(),
        })?;
    Ok(codes)
}

/// Checks a TOTP code or a recovery code and uses it up. `Ok(false)` when it is wrong or
/// was already used.
pub async fn use_code(state: &AppState, user: &User, code: &str) -> ApiResult<bool> {
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
    let normalized = normalize_recovery(code);
    if normalized.len() != 10 {
        return Ok(false);
    }
    let key = keys::recovery_code(&user.id, &hash_secret(&normalized));
    match state.table.write(vec![WriteOp::delete_existing(key)]).await {
        Ok(()) => Ok(true),
        Err(e) if e.is_condition_failed() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Like [`use_code`] but an error when the code is not accepted. Wrong codes count against
/// the same per-account limit as failed logins, so a signed-in session cannot guess codes.
pub async fn require_code(state: &AppState, user: &User, code: &str) -> ApiResult<()> {
    let limit = state.config.rate_limits.failed_login_per_account;
    state.limiter.check("totp-fail", &user.id, limit).await?;
    if use_code(state, user, code).await? {
        Ok(())
    } else {
        state.limiter.record("totp-fail", &user.id, limit).await?;
        Err(invalid_code())
    }
}

pub async fn recovery_codes_left(state: &AppState, user: &User) -> ApiResult<usize> {
    Ok(recovery_keys(state, &user.id).await?.len())
}

/// Turns TOTP off (after the caller checked password and code) and drops recovery codes.
pub async fn disable(state: &AppState, user: &User) -> ApiResult<()> {
    let mut ops: Vec<WriteOp> = recovery_keys(state, &user.id)
        .await?
        .into_iter()
        .map(WriteOp::delete)
        .collect();
    ops.push(
        Update::new(keys::user(&user.id))
            .set("totp_enabled", false)
            .remove("totp_secret")
            .remove("totp_pending_secret")
            .when(Cond::eq("totp_enabled", true))
            .into_op(),
    );
    ops.push(mail::enqueue(
        templates::totp_disabled(&user.email),
        state.now(),
    ));
    state.table.write(ops).await.map_err(|e| {
        if e.is_condition_failed() {
            not_enabled()
        } else {
            e.into()
        }
    })
}

/// Replaces every recovery code with new ones.
pub async fn regenerate_recovery_codes(state: &AppState, user: &User) -> ApiResult<Vec<String>> {
    let (codes, mut ops) = new_recovery_codes(&user.id);
    for key in recovery_keys(state, &user.id).await? {
        ops.push(WriteOp::delete(key));
    }
    ops.push(WriteOp::check(
        keys::user(&user.id),
        Cond::eq("totp_enabled", true),
    ));
    state.table.write(ops).await.map_err(|e| {
        if e.is_condition_failed() {
            not_enabled()
        } else {
            e.into()
        }
    })?;
    Ok(codes)
}
