//! Account workflows: registration, login, email verification, password reset and change,
//! email change, and admin promotion.

use serde_json::Value;

use super::email_tokens::{self, EmailToken, Purpose};
use super::input::{Email, Password, Username};
use super::mfa;
use super::sessions::{self, Tokens};
use super::users::{self, User};
use crate::clock::rfc3339;
use crate::crypto::random_code;
use crate::error::{ApiError, ApiResult};
use crate::http::ClientIp;
use crate::keys;
use crate::mail::{self, templates};
use crate::password::Verified;
use crate::state::AppState;
use crate::store::{self, Cond, Update, WriteOp};

pub struct Registration {
    pub email: Email,
    pub username: Username,
    pub password: Password,
    pub referral_code: Option<String>,
}

const REFERRAL_CODE_LEN: usize = 8;
/// Attempts at a fresh referral code when one collides.
const REFERRAL_CODE_TRIES: usize = 5;

fn invalid_referral() -> ApiError {
    ApiError::bad_request("invalid_referral_code", "Unknown referral code")
}

/// Registers a user, credits the referrer, and queues the verification mail, all in one
/// atomic write.
pub async fn register(state: &AppState, reg: Registration, ip: &ClientIp) -> ApiResult<User> {
    state
        .limiter
        .hit("register", &ip.subject(), state.config.rate_limits.register)
        .await?;
    let referrer = match reg
        .referral_code
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        None => None,
        Some(code) => {
            let code = code.to_uppercase();
            if code.len() > 32 {
                return Err(invalid_referral());
            }
            Some(
                users::find_by_referral_code(state.table.as_ref(), &code)
                    .await?
                    .ok_or_else(invalid_referral)?,
            )
        }
    };
    let table = state.table.as_ref();
    // Fail fast on taken names before paying for a hash; the write re-checks atomically.
    if users::email_taken(table, reg.email.as_str()).await? {
        return Err(email_taken());
    }
    if table
        .get(&keys::username_marker(&reg.username.lower()))
        .await?
        .is_some()
    {
        return Err(username_taken());
    }
    let password_hash = state
        .passwords
        .hash_async(reg.password.into_inner())
        .await?;
    let counter = table
        .update_returning(Update::new(keys::counter("registrations")).add("value", 1))
        .await?;
    let registration_number = counter.get("value").and_then(Value::as_u64).unwrap_or(1);
    let now = state.now();
    let mut user = User {
        id: uuid::Uuid::new_v4().to_string(),
        email: reg.email.as_str().to_string(),
        username: reg.username.as_str().to_string(),
        password_hash,
        email_verified: false,
        is_admin: false,
        points: 0,
        total_earned: 0,
        total_spent: 0,
        direct_referrals: 0,
        connected_apps: 0,
        referral_code: String::new(),
        referred_by: referrer.as_ref().map(|r| r.id.clone()),
        registration_number,
        signup_multiplier: state.config.signup_multiplier(registration_number),
        totp_enabled: false,
        totp_secret: None,
        totp_pending_secret: None,
        totp_last_step: 0,
        session_generation: 0,
        created_at: rfc3339(now),
    };

    for _ in 0..REFERRAL_CODE_TRIES {
        user.referral_code = random_code(REFERRAL_CODE_LEN);
        let verification = email_tokens::issue(
            state,
            EmailToken {
                purpose: Purpose::VerifyEmail,
                user_id: user.id.clone(),
                email: user.email.clone(),
                new_email: None,
            },
        );
        let mut ops = vec![
            WriteOp::put_new(store::to_item(&keys::user(&user.id), &user)?),
            WriteOp::put_new(users::marker_item(
                &keys::email_marker(&user.email),
                &user.id,
            )),
            WriteOp::put_new(users::marker_item(
                &keys::username_marker(&reg.username.lower()),
                &user.id,
            )),
            WriteOp::put_new(users::marker_item(
                &keys::referral_code(&user.referral_code),
                &user.id,
            )),
        ];
        ops.extend(verification);
        // Failed conditions are reported by position: 1 email, 2 username, 3 referral code.
        let referrer_op = ops.len();
        if let Some(referrer) = &referrer {
            let bonus = state.config.referral_bonus;
            ops.push(
                Update::new(keys::user(&referrer.id))
                    .add("points", bonus)
                    .add("total_earned", bonus)
                    .add("direct_referrals", 1)
                    .when(Cond::Exists)
                    .into_op(),
            );
            if bonus > 0 {
                ops.push(ledger_credit(
                    &referrer.id,
                    bonus,
                    "referral_bonus",
                    &user.id,
                    now,
                )?);
            }
        }
        match state.table.write(ops).await {
            Ok(()) => return Ok(user),
            Err(e) => match e.failed_op() {
                Some(1) => return Err(email_taken()),
                Some(2) => return Err(username_taken()),
                Some(3) => continue, // referral code collision: draw another
                Some(op) if op == referrer_op => return Err(invalid_referral()),
                _ => return Err(e.into()),
            },
        }
    }
    Err(ApiError::internal("could not allocate a referral code"))
}

/// A ledger entry for a credit to a user's balance (DESIGN.md §8).
fn ledger_credit(
    user_id: &str,
    amount: i64,
    kind: &str,
    reference: &str,
    now: time::OffsetDateTime,
) -> ApiResult<WriteOp> {
    let id = uuid::Uuid::now_v7().to_string();
    let at = rfc3339(now);
    let entry = serde_json::json!({
        "id": id,
        "user_id": user_id,
        "kind": kind,
        "amount": amount,
        "reference": reference,
        "earned": true,
        "created_at": at,
    });
    Ok(WriteOp::put_new(store::to_item(
        &keys::user_ledger(user_id, &at, &id),
        &entry,
    )?))
}

fn email_taken() -> ApiError {
    ApiError::conflict("email_taken", "An account with this email already exists")
}

fn username_taken() -> ApiError {
    ApiError::conflict("username_taken", "This username is taken")
}

fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("invalid_credentials", "Invalid email or password")
}

pub struct LoginAttempt {
    pub email: Email,
    pub password: String,
    pub totp_code: Option<String>,
}

/// Password login with optional TOTP. Unknown emails cost the same hashing work and get the
/// same answer as a wrong password; failures count per account as well as per address.
pub async fn login(
    state: &AppState,
    attempt: LoginAttempt,
    ip: &ClientIp,
    user_agent: Option<String>,
) -> ApiResult<(User, Tokens)> {
    let limits = &state.config.rate_limits;
    state
        .limiter
        .hit("login", &ip.subject(), limits.login)
        .await?;
    let account = attempt.email.as_str();
    state
        .limiter
        .check("login-fail", account, limits.failed_login_per_account)
        .await?;
    let user = users::find_by_email(state.table.as_ref(), account).await?;
    let verified = state
        .passwords
        .verify_async(
            attempt.password,
            user.as_ref().map(|u| u.password_hash.clone()),
        )
        .await;
    let failed = || async {
        state
            .limiter
            .record("login-fail", account, limits.failed_login_per_account)
            .await
    };
    let user = match (user, verified) {
        (Some(user), Verified::Yes) => user,
        (Some(user), Verified::YesRehashed(new_hash)) => {
            let update = Update::new(keys::user(&user.id))
                .set("password_hash", new_hash)
                .when(Cond::eq("password_hash", user.password_hash.clone()));
            if let Err(e) = state.table.write(vec![update.into_op()]).await {
                tracing::warn!(error = %e, "storing a rehashed password");
            }
            user
        }
        _ => {
            failed().await?;
            return Err(invalid_credentials());
        }
    };
    if user.totp_enabled {
        let Some(code) = attempt
            .totp_code
            .as_deref()
            .filter(|c| !c.trim().is_empty())
        else {
            return Err(ApiError::TotpRequired);
        };
        if !mfa::use_code(state, &user, code).await? {
            failed().await?;
            return Err(ApiError::unauthorized(
                "invalid_totp_code",
                "The TOTP or recovery code is invalid",
            ));
        }
    }
    let tokens = sessions::start(state, &user, ip, user_agent).await?;
    Ok((user, tokens))
}

pub const FORGOT_PASSWORD_MESSAGE: &str =
    "If an account exists for that email, a password reset link has been sent";

/// Queues a reset mail when the account exists. The caller answers the same either way.
pub async fn forgot_password(state: &AppState, email: Email, ip: &ClientIp) -> ApiResult<()> {
    state
        .limiter
        .hit(
            "forgot-password",
            &ip.subject(),
            state.config.rate_limits.forgot_password,
        )
        .await?;
    let Some(user) = users::find_by_email(state.table.as_ref(), email.as_str()).await? else {
        return Ok(());
    };
    let ops = email_tokens::issue(
        state,
        EmailToken {
            purpose: Purpose::ResetPassword,
            user_id: user.id.clone(),
            email: user.email.clone(),
            new_email: None,
        },
    );
    state.table.write(ops.into()).await?;
    Ok(())
}

/// Sets a new password from a reset token and signs out every session.
pub async fn reset_password(
    state: &AppState,
    raw_token: &str,
    password: Password,
) -> ApiResult<()> {
    let (token, token_key) = email_tokens::find(state, raw_token, Purpose::ResetPassword).await?;
    let user = users::get(state.table.as_ref(), &token.user_id)
        .await?
        .ok_or_else(email_tokens::invalid)?;
    let hash = state.passwords.hash_async(password.into_inner()).await?;
    let ops = vec![
        WriteOp::delete_existing(token_key),
        Update::new(keys::user(&user.id))
            .set("password_hash", hash)
            .add("session_generation", 1)
            .when(Cond::Exists)
            .into_op(),
        mail::enqueue(templates::password_changed(&user.email), state.now()),
    ];
    state.table.write(ops).await.map_err(|e| {
        if e.is_condition_failed() {
            email_tokens::invalid()
        } else {
            e.into()
        }
    })?;
    sessions::remove_stale(state, &user.id, None).await;
    Ok(())
}

/// Queues a new verification mail for the user's current address.
pub async fn send_verification(state: &AppState, user: &User) -> ApiResult<()> {
    if user.email_verified {
        return Err(ApiError::bad_request(
            "email_already_verified",
            "The email address is already verified",
        ));
    }
    state
        .limiter
        .hit(
            "send-verification",
            &user.id,
            state.config.rate_limits.forgot_password,
        )
        .await?;
    let ops = email_tokens::issue(
        state,
        EmailToken {
            purpose: Purpose::VerifyEmail,
            user_id: user.id.clone(),
            email: user.email.clone(),
            new_email: None,
        },
    );
    state.table.write(ops.into()).await?;
    Ok(())
}

/// Marks the address verified; configured admin addresses become admins here.
pub async fn verify_email(state: &AppState, raw_token: &str) -> ApiResult<()> {
    let (token, token_key) = email_tokens::find(state, raw_token, Purpose::VerifyEmail).await?;
    let mut update = Update::new(keys::user(&token.user_id))
        .set("email_verified", true)
        .when(Cond::eq("email", token.email.clone()));
    if state.config.admin_emails.iter().any(|a| a == &token.email) {
        update = update.set("is_admin", true);
    }
    state
        .table
        .write(vec![WriteOp::delete_existing(token_key), update.into_op()])
        .await
        .map_err(|e| {
            if e.is_condition_failed() {
                email_tokens::invalid()
            } else {
                e.into()
            }
        })
}

/// Re-checks the password of a signed-in user before a sensitive change.
pub async fn confirm_password(state: &AppState, user: &User, password: String) -> ApiResult<()> {
    match state
        .passwords
        .verify_async(password, Some(user.password_hash.clone()))
        .await
    {
        Verified::No => Err(ApiError::bad_request(
            "invalid_password",
            "The current password is wrong",
        )),
        _ => Ok(()),
    }
}

/// Changes the password; every other session is signed out, this one stays.
pub async fn change_password(
    state: &AppState,
    user: &User,
    session_id: &str,
    current: String,
    new: Password,
) -> ApiResult<()> {
    confirm_password(state, user, current).await?;
    let hash = state.passwords.hash_async(new.into_inner()).await?;
    let next = user.session_generation + 1;
    let ops = vec![
        Update::new(keys::user(&user.id))
            .set("password_hash", hash)
            .set("session_generation", next)
            .when(Cond::eq("session_generation", user.session_generation))
            .into_op(),
        Update::new(keys::login_session(&user.id, session_id))
            .set("generation", next)
            .when(Cond::Exists)
            .into_op(),
        mail::enqueue(templates::password_changed(&user.email), state.now()),
    ];
    state.table.write(ops).await.map_err(|e| {
        if e.is_condition_failed() {
            ApiError::invalid_token()
        } else {
            e.into()
        }
    })?;
    sessions::remove_stale(state, &user.id, Some(session_id)).await;
    Ok(())
}

/// Mails a confirmation link to the new address (and a notice to the old one).
pub async fn change_email(
    state: &AppState,
    user: &User,
    new_email: Email,
    password: String,
) -> ApiResult<()> {
    confirm_password(state, user, password).await?;
    if new_email.as_str() == user.email {
        return Err(ApiError::field(
            "new_email",
            "is already your email address",
        ));
    }
    if users::email_taken(state.table.as_ref(), new_email.as_str()).await? {
        return Err(email_taken());
    }
    let mut ops: Vec<WriteOp> = email_tokens::issue(
        state,
        EmailToken {
            purpose: Purpose::ChangeEmail,
            user_id: user.id.clone(),
            email: user.email.clone(),
            new_email: Some(new_email.as_str().to_string()),
        },
    )
    .into();
    let notice = templates::email_change_requested(&user.email, new_email.as_str());
    ops.push(mail::enqueue(notice, state.now()));
    state.table.write(ops).await?;
    Ok(())
}

/// Moves the account to the confirmed new address, which counts as verified.
pub async fn confirm_email_change(state: &AppState, raw_token: &str) -> ApiResult<()> {
    let (token, token_key) = email_tokens::find(state, raw_token, Purpose::ChangeEmail).await?;
    let new_email = token.new_email.clone().ok_or_else(email_tokens::invalid)?;
    let ops = vec![
        WriteOp::delete_existing(token_key),
        WriteOp::put_new(users::marker_item(
            &keys::email_marker(&new_email),
            &token.user_id,
        )),
        WriteOp::Delete {
            key: keys::email_marker(&token.email),
            cond: Cond::eq("user_id", token.user_id.clone()),
        },
        Update::new(keys::user(&token.user_id))
            .set("email", new_email)
            .set("email_verified", true)
            .when(Cond::eq("email", token.email.clone()))
            .into_op(),
    ];
    state
        .table
        .write(ops)
        .await
        .map_err(|e| match e.failed_op() {
            Some(1) => email_taken(),
            Some(_) => email_tokens::invalid(),
            None => e.into(),
        })
}

/// Makes the user with this email an admin (operator command).
pub async fn promote_admin(state: &AppState, email: &Email) -> ApiResult<User> {
    let user = users::find_by_email(state.table.as_ref(), email.as_str())
        .await?
        .ok_or_else(|| ApiError::not_found("user_not_found", "No user has that email"))?;
    let update = Update::new(keys::user(&user.id))
        .set("is_admin", true)
        .when(Cond::Exists);
    state.table.write(vec![update.into_op()]).await?;
    Ok(User {
        is_admin: true,
        ..user
    })
}
