//! Checking credentials under the abuse limits (docs/architecture.md, "Abuse limits").
//!
//! Every check reserves its attempt first — one conditional increment per counter — and only
//! then verifies, so parallel guesses can never overshoot a limit. A right answer gives the
//! reservation back; a wrong one keeps it counted.
//!
//! * Wrong passwords count per account and source address, and per account overall with a
//!   higher ceiling: one attacker address locks out only itself, many addresses together
//!   meet the ceiling. Logins and the re-checks of sensitive changes share the counters.
//! * Wrong TOTP or recovery codes (the password was right) count per account.

use super::users::User;
use crate::config::Limit;
use crate::domain::RequestMeta;
use crate::error::{ApiError, ApiResult};
use crate::password::Verified;
use crate::ratelimit::{Counter, Reservation};
use crate::state::AppState;
use crate::store::{Cond, Update};

/// Checks `password` against `stored` (`None`: no such account, which costs the same work)
/// for the account named by `account` (its lower-case email). 429 when the account's
/// failure counters are full, before any hashing is done.
pub async fn check_password(
    state: &AppState,
    account: &str,
    meta: &RequestMeta,
    stored: Option<String>,
    password: String,
) -> ApiResult<Verified> {
    let reservation = reserve_password(state, account, meta).await?;
    let verified = state.passwords.verify_async(password, stored).await;
    if verified != Verified::No {
        state.limiter.release(reservation).await;
    }
    Ok(verified)
}

/// Reserves a wrong password of `account` from the caller's address in both counters (429
/// when either is full). Release it once the password turned out right; a wrong one keeps it.
pub async fn reserve_password(
    state: &AppState,
    account: &str,
    meta: &RequestMeta,
) -> ApiResult<Reservation> {
    let limits = &state.config.rate_limits;
    let account_ip = format!("{account}\n{}", meta.ip_subject());
    state
        .limiter
        .reserve(&[
            Counter::new(
                "password-fail-ip",
                &account_ip,
                limits.failed_password_per_ip,
            ),
            Counter::new("password-fail", account, limits.failed_password),
        ])
        .await
}

fn invalid_password() -> ApiError {
    ApiError::bad_request("invalid_password", "The current password is wrong")
}

/// Re-checks the password of a signed-in user before a sensitive change; wrong guesses count
/// against the same limits as wrong logins.
pub async fn confirm_password(
    state: &AppState,
    user: &User,
    password: String,
    meta: &RequestMeta,
) -> ApiResult<()> {
    if user.password_hash.is_empty() {
        return Err(ApiError::bad_request(
            "password_not_set",
            "This account signs in through a provider and has no password: set one with \
             POST /api/auth/forgot-password first",
        ));
    }
    let stored = Some(user.password_hash.clone());
    match check_password(state, &user.email, meta, stored, password).await? {
        Verified::No => Err(invalid_password()),
        Verified::Yes => Ok(()),
        Verified::YesRehashed(new_hash) => {
            keep_rehashed(state, user, new_hash).await;
            Ok(())
        }
    }
}

/// Stores the hash a right password was rehashed to (other Argon2 parameters, or a hash
/// imported from elsewhere), unless the password changed meanwhile. Best effort: the old
/// hash still verifies, so a failed write only delays the upgrade to the next check.
pub async fn keep_rehashed(state: &AppState, user: &User, new_hash: String) {
    let update = Update::new(crate::keys::user(&user.id))
        .set("password_hash", new_hash)
        .when(Cond::eq("password_hash", user.password_hash.clone()));
    if let Err(e) = state.table.write(vec![update.into_op()]).await {
        tracing::warn!(error = %e, "storing a rehashed password");
    }
}

/// A credential change (password, address): counted first against the account's own limit on
/// `bucket` — each change costs hashing and mail, whatever the password — then the password
/// re-checked as [`confirm_password`] does.
pub async fn confirm_change(
    state: &AppState,
    user: &User,
    bucket: &str,
    limit: Limit,
    password: String,
    meta: &RequestMeta,
) -> ApiResult<()> {
    state.limiter.hit(bucket, &user.id, limit).await?;
    confirm_password(state, user, password, meta).await
}
