//! Account workflows: registration, login, email verification, password reset and change,
//! email change, and admin promotion.

use serde_json::{json, Value};

use super::attempts;
use super::mail_tokens::{self, MailToken, Purpose};
use super::mfa;
use super::referrals::{write_verifying, ReferralCredit};
use super::sessions::{self, Authenticated, Proof, SessionsEnd, Tokens};
use super::trusted_devices::{self, Checked, DeviceGrant};
use super::users::{self, User};
use crate::clock::rfc3339;
use crate::crypto::{hash_secret, random_code, random_token};
use crate::domain::activity::{self, ActivityKind};
use crate::domain::identity::usernames;
use crate::domain::input::{Email, OtpCode, Password, Username};
use crate::domain::webhooks::{self, EventType, Listening};
use crate::domain::RequestMeta;
use crate::error::{ApiError, ApiResult, OnCondition};
use crate::keys;
use crate::mail::{self, templates};
use crate::password::Verified;
use crate::ratelimit::Reservation;
use crate::state::AppState;
use crate::store::{self, Cond, Update, WriteOp};

pub struct Registration {
    pub email: Email,
    pub username: Username,
    pub password: Password,
    pub referral_code: Option<String>,
    /// Agrees to marketing mail (recorded with its time).
    pub marketing_opt_in: bool,
}

const REFERRAL_CODE_LEN: usize = 8;
/// Attempts at a fresh referral code when one collides.
const REFERRAL_CODE_TRIES: usize = 5;

fn invalid_referral() -> ApiError {
    ApiError::bad_request("invalid_referral_code", "Unknown referral code")
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

async fn find_referrer(state: &AppState, code: Option<&str>) -> ApiResult<Option<User>> {
    let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let code = code.to_uppercase();
    if code.len() > 32 {
        return Err(invalid_referral());
    }
    users::find_by_referral_code(state.table.as_ref(), &code)
        .await?
        .map(Some)
        .ok_or_else(invalid_referral)
}

/// Registers a user and queues the verification mail in one atomic write. A referral code must
/// name an account; the referrer is paid only once the new account verifies an address
/// (`identity::referrals`), so throwaway sign-ups mint nothing.
pub async fn register(state: &AppState, reg: Registration, meta: &RequestMeta) -> ApiResult<User> {
    let limit = state.config.rate_limits.register;
    let table = state.table.as_ref();
    let email_key = keys::email_marker(reg.email.as_str());
    let username_key = keys::username_marker(&reg.username.lower());
    // The address's count, the referrer and both names are read together; their answers are
    // told in this order: 429, a reserved name, the referral code, a taken email, a taken name.
    // Taken names fail fast before paying for a hash; the write re-checks atomically.
    let source = meta.ip_subject();
    let (counted, referrer, email, username) = tokio::join!(
        state.limiter.hit("register", &source, limit),
        find_referrer(state, reg.referral_code.as_deref()),
        table.get(&email_key),
        table.get(&username_key),
    );
    counted?;
    // Reserved names count as taken: no account may look like staff or shadow a route.
    if usernames::is_reserved(&reg.username.lower()) {
        return Err(username_taken());
    }
    let referrer = referrer?;
    if email?.is_some() {
        return Err(email_taken());
    }
    if username?.is_some() {
        return Err(username_taken());
    }
    // The registration number is drawn while the password is hashed.
    let (password_hash, counter) = tokio::join!(
        state.passwords.hash_async(reg.password.into_inner()),
        table.update_returning(Update::new(keys::counter("registrations")).add("value", 1)),
    );
    let (password_hash, counter) = (password_hash?, counter?);
    let registration_number = counter.get("value").and_then(Value::as_u64).unwrap_or(1);
    let mut user = new_account(
        state,
        &reg.email,
        &reg.username,
        password_hash,
        referrer.as_ref(),
        registration_number,
    );
    if reg.marketing_opt_in {
        user.marketing_opt_in = true;
        user.marketing_opt_in_at = Some(user.created_at.clone());
    }
    let referrer_check = referrer
        .as_ref()
        .map(|r| WriteOp::check(keys::user(&r.id), Cond::Exists));
    let referrer_key = referrer.as_ref().map(|r| keys::user(&r.id));
    // The referrer must still exist when the account is created (nothing is paid yet).
    let written = create(
        state,
        &mut user,
        &reg.username,
        referrer_check.into_iter().collect(),
    )
    .await;
    match referrer_key {
        Some(key) => written.on_condition(&key, invalid_referral),
        None => written,
    }
    .map(|()| user)
}

/// Writes a new account with `extra` in one transaction: the account, the markers of its
/// address, username and a fresh referral code (drawn again when one collides), and the
/// verification mail unless the address is verified already. A taken address or name is 409.
pub(super) async fn create(
    state: &AppState,
    user: &mut User,
    username: &Username,
    extra: Vec<WriteOp>,
) -> ApiResult<()> {
    write_new(state, user, username, extra, true).await
}

/// [`create`], with or without the verification mail of an unverified address (users moved in
/// from elsewhere are not mailed: `transfer`).
pub(super) async fn write_new(
    state: &AppState,
    user: &mut User,
    username: &Username,
    extra: Vec<WriteOp>,
    verification_mail: bool,
) -> ApiResult<()> {
    let email_key = keys::email_marker(&user.email);
    let username_key = keys::username_marker(&username.lower());
    let listening = webhooks::listening(state).await;
    for _ in 0..REFERRAL_CODE_TRIES {
        user.referral_code = random_code(REFERRAL_CODE_LEN);
        let referral_key = keys::referral_code(&user.referral_code);
        let mut ops = registration_ops(state, listening, user, username, verification_mail)?;
        ops.extend(extra.iter().cloned());
        let written = state.table.write(ops).await;
        if written.as_ref().err().and_then(|e| e.failed_key()) == Some(&referral_key) {
            continue; // referral code collision: draw another
        }
        return written
            .on_condition(&email_key, email_taken)
            .on_condition(&username_key, username_taken);
    }
    Err(ApiError::internal("could not allocate a referral code"))
}

/// A new account as registration creates it (its referral code is drawn when written).
pub(super) fn new_account(
    state: &AppState,
    email: &Email,
    username: &Username,
    password_hash: String,
    referrer: Option<&User>,
    registration_number: u64,
) -> User {
    User {
        id: uuid::Uuid::new_v4().to_string(),
        email: email.as_str().to_string(),
        username: username.as_str().to_string(),
        password_hash,
        email_verified: false,
        is_admin: false,
        points: 0,
        total_earned: 0,
        total_spent: 0,
        direct_referrals: 0,
        connected_apps: 0,
        referral_code: String::new(),
        referred_by: referrer.map(|r| r.id.clone()),
        referral_pending: referrer.is_some(),
        registration_number,
        signup_multiplier: state.config.signup_multiplier(registration_number),
        totp_enabled: false,
        totp_secret: None,
        totp_pending_secret: None,
        totp_last_step: 0,
        session_generation: 0,
        credential_generation: 0,
        created_at: rfc3339(state.now()),
        display_name: None,
        bio: None,
        avatar_url: None,
        banner_url: None,
        profile_updated_at: None,
        disabled: false,
        linked_providers: 0,
        marketing_opt_in: false,
        marketing_opt_in_at: None,
    }
}

/// The writes that create `user`: the account, the markers of its address, username and
/// referral code (each a conditional put, so a taken one fails the write), and the
/// verification mail when the address is not verified yet.
fn registration_ops(
    state: &AppState,
    listening: Listening,
    user: &User,
    username: &Username,
    verification_mail: bool,
) -> ApiResult<Vec<WriteOp>> {
    let mut ops = vec![
        WriteOp::put_new(store::to_item(&keys::user(&user.id), user)?),
        WriteOp::put_new(users::marker_item(
            &keys::email_marker(&user.email),
            &user.id,
        )),
        WriteOp::put_new(usernames::username_marker(&user.id, username)?),
        WriteOp::put_new(users::marker_item(
            &keys::referral_code(&user.referral_code),
            &user.id,
        )),
    ];
    ops.extend(listening.announce(
        state.now(),
        EventType::UserCreated,
        &user.id,
        Vec::new(),
        json!({
            "email": user.email,
            "username": user.username,
            "email_verified": user.email_verified,
            "created_at": user.created_at,
        }),
    ));
    if verification_mail && !user.email_verified {
        ops.extend(mail_tokens::issue(
            state,
            MailToken::new(Purpose::VerifyEmail, user),
        ));
    }
    Ok(ops)
}

pub struct LoginAttempt {
    pub email: Email,
    pub password: String,
    pub second_factor: SecondFactor,
}

/// Password login, then the [`second_factor`] when the account asks for one. Unknown emails
/// cost the same hashing work and get the same answer as a wrong password; failures count
/// against the account's limits whether or not it exists. The grant is that of a device the
/// user asked to remember.
pub async fn login(
    state: &AppState,
    attempt: LoginAttempt,
    meta: &RequestMeta,
) -> ApiResult<(User, Tokens, Option<DeviceGrant>)> {
    let (user, reservation) = password_step(state, &attempt.email, attempt.password, meta).await?;
    if user.totp_enabled || user.disabled {
        state.limiter.release(reservation).await;
        let (proof, device) = second_factor(state, &user, &attempt.second_factor, meta).await?;
        let tokens = sessions::start(state, &user, proof, meta).await?;
        return Ok((user, tokens, device));
    }
    // The right password's reservation goes back while the session starts.
    let (_, tokens) = tokio::join!(
        state.limiter.release(reservation),
        sessions::start(state, &user, Proof::Password, meta),
    );
    Ok((user, tokens?, None))
}

/// The first step of every sign-in: the account whose password this is, and the reservation
/// of a wrong password to give back (the password was right). The request's count, the
/// account's lookup and the reservation go out together; only then is the password hashed.
async fn password_step(
    state: &AppState,
    email: &Email,
    password: String,
    meta: &RequestMeta,
) -> ApiResult<(User, Reservation)> {
    let account = email.as_str();
    let source = meta.ip_subject();
    let (counted, user, reservation) = tokio::join!(
        state
            .limiter
            .hit("login", &source, state.config.rate_limits.login),
        users::find_by_email(state.table.as_ref(), account),
        attempts::reserve_password(state, account, meta),
    );
    let looked_up = counted.and(user);
    let (user, reservation) = match (looked_up, reservation) {
        (Ok(user), Ok(reservation)) => (user, reservation),
        (Err(e), Ok(reservation)) => {
            state.limiter.release(reservation).await;
            return Err(e);
        }
        (Err(e), Err(_)) | (Ok(_), Err(e)) => return Err(e),
    };
    let stored = user.as_ref().map(|u| u.password_hash.clone());
    let verified = state.passwords.verify_async(password, stored).await;
    match (user, verified) {
        (Some(user), Verified::Yes) => Ok((user, reservation)),
        (Some(user), Verified::YesRehashed(new_hash)) => {
            attempts::keep_rehashed(state, &user, new_hash).await;
            Ok((user, reservation))
        }
        (Some(user), Verified::No) => {
            // A wrong password keeps its reservation: it counts.
            drop(reservation);
            note_failed_login(state, &user, meta, "password").await;
            Err(invalid_credentials())
        }
        (None, verified) => {
            if verified != Verified::No {
                state.limiter.release(reservation).await;
            }
            Err(invalid_credentials())
        }
    }
}

/// What a sign-in offers besides its first factor (the password, or another one that names
/// the user): a TOTP or recovery code, the token of a device the user trusted, and whether to
/// trust this device once the code is right.
#[derive(Clone, Debug, Default)]
pub struct SecondFactor {
    pub totp_code: Option<OtpCode>,
    /// `<device id>.<secret>` from an earlier sign-in that asked to remember its device.
    pub device_token: Option<String>,
    pub remember_device: bool,
}

/// The second step of every sign-in, once its first factor named `user`. An account without
/// TOTP asks for nothing more. With TOTP, a live trusted device of the user's stands in for the
/// code (no device is trusted anew); otherwise a TOTP or recovery code is needed: 401
/// `totp_required` without one, `invalid_totp_code` when it is wrong. Wrong codes and wrong
/// device secrets count against the account's code limit (429 once it is full). A right code
/// with `remember_device` trusts the request's device: the grant holds its token, shown this
/// once. A disabled account is refused (403 `account_disabled`) once the factor is proven, and
/// then no device is trusted. The proof names the password as the first factor
/// (`Proof::Password`, `PasswordAndCode`, `PasswordAndDevice`): it tells what the second step
/// took.
pub async fn second_factor(
    state: &AppState,
    user: &User,
    factor: &SecondFactor,
    meta: &RequestMeta,
) -> ApiResult<(Proof, Option<DeviceGrant>)> {
    if !user.totp_enabled {
        still_enabled(user)?;
        return Ok((Proof::Password, None));
    }
    if let Some(token) = factor.device_token.as_deref() {
        match trusted_devices::check(state, user, token).await? {
            Checked::Trusted => {
                still_enabled(user)?;
                return Ok((Proof::PasswordAndDevice, None));
            }
            Checked::Wrong => note_failed_login(state, user, meta, "device_token").await,
            Checked::NotTrusted => {}
        }
    }
    let Some(code) = &factor.totp_code else {
        return Err(ApiError::TotpRequired);
    };
    let proof = code_step(state, user, code, meta).await?;
    still_enabled(user)?;
    let device = match factor.remember_device {
        true => Some(trusted_devices::trust(state, user, meta).await?),
        false => None,
    };
    Ok((proof, device))
}

/// The code step when the account has TOTP: a TOTP or recovery code.
async fn code_step(
    state: &AppState,
    user: &User,
    code: &OtpCode,
    meta: &RequestMeta,
) -> ApiResult<Proof> {
    if mfa::check_code(state, user, code.as_str()).await? {
        return Ok(Proof::PasswordAndCode);
    }
    note_failed_login(state, user, meta, "totp").await;
    Err(ApiError::unauthorized(
        "invalid_totp_code",
        "The TOTP or recovery code is invalid",
    ))
}

pub(super) fn still_enabled(user: &User) -> ApiResult<()> {
    if user.disabled {
        return Err(ApiError::forbidden(
            "account_disabled",
            "This account has been disabled",
        ));
    }
    Ok(())
}

/// Where a browser's sign-in stands after its password.
pub enum BrowserSignIn {
    /// Signed in: the secret of the browser's session cookie.
    Done(String),
    /// The password was right; the account wants a TOTP or recovery code next. The secret
    /// names the half-done sign-in for a few minutes.
    NeedsCode(String),
}

/// A half-done browser sign-in: the password was right.
#[derive(serde::Serialize, serde::Deserialize)]
struct PendingSignIn {
    user_id: String,
    credential_generation: i64,
    /// How the first step was passed (a password, or a provider).
    #[serde(default)]
    first: Proof,
}

/// How long a browser has to send the code after the password.
const PENDING_SIGN_IN_SECONDS: i64 = 300;

/// A sign-in on the hosted pages: the same password step, limits and lockouts as the API's,
/// then the same [`second_factor`]: the token of a device the browser was trusted as (its
/// cookie) stands in for the code.
pub async fn browser_sign_in(
    state: &AppState,
    email: &Email,
    password: String,
    device_token: Option<String>,
    meta: &RequestMeta,
) -> ApiResult<BrowserSignIn> {
    let (user, reservation) = password_step(state, email, password, meta).await?;
    state.limiter.release(reservation).await;
    browser_second_step(state, &user, Proof::Password, device_token, meta).await
}

/// A browser's sign-in once its first factor (`first`) named the user: the same
/// [`second_factor`], done at once (no TOTP, or a trusted device's token) or waiting for a
/// code on the page's code step.
pub(super) async fn browser_second_step(
    state: &AppState,
    user: &User,
    first: Proof,
    device_token: Option<String>,
    meta: &RequestMeta,
) -> ApiResult<BrowserSignIn> {
    let factor = SecondFactor {
        device_token,
        ..SecondFactor::default()
    };
    match second_factor(state, user, &factor, meta).await {
        Ok((proof, _)) => {
            let cookie = sessions::start_browser(state, user, proof.after(first), meta).await?;
            Ok(BrowserSignIn::Done(cookie))
        }
        Err(ApiError::TotpRequired) => {
            let secret = random_token();
            let pending = PendingSignIn {
                user_id: user.id.clone(),
                credential_generation: user.credential_generation,
                first,
            };
            let key = keys::pending_sign_in(&hash_secret(&secret));
            let mut item = store::to_item(&key, &pending)?;
            item.insert(
                store::TTL.into(),
                (state.now_unix() + PENDING_SIGN_IN_SECONDS).into(),
            );
            state.table.write(vec![WriteOp::put_new(item)]).await?;
            Ok(BrowserSignIn::NeedsCode(secret))
        }
        Err(e) => Err(e),
    }
}

/// The code step of a browser sign-in; the answer is the session cookie's secret, and the
/// grant of the device when the browser asked to be remembered.
pub async fn browser_sign_in_code(
    state: &AppState,
    pending: &str,
    code: &OtpCode,
    remember_device: bool,
    meta: &RequestMeta,
) -> ApiResult<(String, Option<DeviceGrant>)> {
    let expired = || {
        ApiError::unauthorized(
            "sign_in_expired",
            "The sign-in took too long: enter your email and password again",
        )
    };
    let key = keys::pending_sign_in(&hash_secret(pending));
    let item = state.table.get(&key).await?.ok_or_else(expired)?;
    let expires = item.get(store::TTL).and_then(|v| v.as_i64()).unwrap_or(0);
    let pending: PendingSignIn = store::from_item(item)?;
    let user = users::get(state.table.as_ref(), &pending.user_id)
        .await?
        .filter(|u| u.credential_generation == pending.credential_generation)
        .filter(|_| expires > state.now_unix())
        .ok_or_else(expired)?;
    let factor = SecondFactor {
        totp_code: Some(code.clone()),
        device_token: None,
        remember_device,
    };
    let (proof, device) = second_factor(state, &user, &factor, meta).await?;
    let proof = proof.after(pending.first);
    state
        .table
        .write(vec![WriteOp::delete_existing(key)])
        .await
        .map_err(|_| expired())?;
    let cookie = sessions::start_browser(state, &user, proof, meta).await?;
    Ok((cookie, device))
}

/// A failed sign-in, in the account's activity: the owner sees who tried and from where.
async fn note_failed_login(state: &AppState, user: &User, meta: &RequestMeta, reason: &str) {
    let details = json!({ "reason": reason });
    activity::record_alone(
        state,
        &user.id,
        ActivityKind::LoginFailed,
        Some(meta),
        details,
    )
    .await;
}

pub const FORGOT_PASSWORD_MESSAGE: &str =
    "If an account exists for that email, a password reset link has been sent";

/// Queues a reset mail when the account exists and the address has not had too much mail.
/// Known and unknown addresses cost the same reads and one atomic write each (the address's
/// mail counter, with the token and mail when there is an account), and the caller answers
/// the same in every case.
pub async fn forgot_password(state: &AppState, email: Email, meta: &RequestMeta) -> ApiResult<()> {
    let limit = state.config.rate_limits.forgot_password;
    state
        .limiter
        .hit("forgot-password", &meta.ip_subject(), limit)
        .await?;
    let user = users::find_by_email_evenly(state.table.as_ref(), email.as_str()).await?;
    let window = mail_tokens::mail_window(state, email.as_str());
    let mut ops = vec![window.count_op()];
    match &user {
        Some(user) => ops.extend(mail_tokens::issue(
            state,
            MailToken::new(Purpose::ResetPassword, user),
        )),
        None => ops.push(WriteOp::check(
            keys::email_marker(email.as_str()),
            Cond::NotExists,
        )),
    }
    match state.table.write(ops).await {
        Err(e) if e.failed_key() == Some(&window.key) => {
            tracing::info!("password reset mail not sent: the address had enough mail this hour");
            Ok(())
        }
        // Registered meanwhile: nothing was sent, as if the request came a moment earlier.
        Err(e) if e.is_condition_failed() => Ok(()),
        other => other.map_err(Into::into),
    }
}

/// Sets a new password from a reset token. The mailbox got the token, so the address counts
/// as verified (paying a pending referral bonus); every login session ends.
pub async fn reset_password(
    state: &AppState,
    credit: &dyn ReferralCredit,
    raw_token: &str,
    password: Password,
    meta: &RequestMeta,
) -> ApiResult<()> {
    let (token, token_key) = mail_tokens::find(state, raw_token, Purpose::ResetPassword).await?;
    let hash = state.passwords.hash_async(password.into_inner()).await?;
    let user = users::get(state.table.as_ref(), &token.user_id)
        .await?
        .ok_or_else(mail_tokens::invalid)?;
    let user_id = user.id.clone();
    write_verifying(state, credit, user, |user, payout, listening| {
        let update = Update::new(keys::user(&user.id))
            .set("email_verified", true)
            .when(token.still_current());
        let consume = WriteOp::delete_existing(token_key.clone());
        let logged = activity::record(
            state,
            &user.id,
            ActivityKind::PasswordReset,
            Some(meta),
            Value::Null,
        )?;
        let mut also = vec![consume, logged];
        also.extend(password_event(state, listening, &user.id, true));
        let end = SessionsEnd {
            reason: "password_reset",
            listening,
            now: state.now(),
        };
        Ok(password_ops(
            state,
            user,
            hash.clone(),
            payout.on_user(update),
            also,
            None,
            end,
        ))
    })
    .await?
    .on_any_condition(mail_tokens::invalid)?;
    sessions::remove_stale(state, &user_id, None).await;
    Ok(())
}

/// The write that stores a new password hash with `update` (and `also`): a new credential
/// generation (older mail tokens die), the next session generation (every session but `keep`
/// ends), and a notice to the owner.
fn password_ops(
    state: &AppState,
    user: &User,
    hash: String,
    update: Update,
    also: Vec<WriteOp>,
    keep: Option<&str>,
    end: SessionsEnd,
) -> Vec<WriteOp> {
    let update = update
        .set("password_hash", hash)
        .add("credential_generation", 1);
    let mut ops = also;
    ops.extend(sessions::end_other_sessions(user, update, keep, end));
    ops.push(mail::enqueue(
        templates::password_changed(&user.email),
        state.now(),
    ));
    ops
}

/// Queues a new verification mail for the user's current address.
pub async fn send_verification(state: &AppState, user: &User) -> ApiResult<()> {
    if user.email_verified {
        return Err(ApiError::bad_request(
            "email_already_verified",
            "The email address is already verified",
        ));
    }
    let ops = mail_tokens::issue(state, MailToken::new(Purpose::VerifyEmail, user));
    mail_tokens::write_counting_mail(state, &user.email, ops).await
}

/// Marks the address verified (paying a pending referral bonus); configured admin addresses
/// become admins here.
pub async fn verify_email(
    state: &AppState,
    credit: &dyn ReferralCredit,
    raw_token: &str,
) -> ApiResult<()> {
    let (token, token_key) = mail_tokens::find(state, raw_token, Purpose::VerifyEmail).await?;
    let user = users::get(state.table.as_ref(), &token.user_id)
        .await?
        .ok_or_else(mail_tokens::invalid)?;
    let make_admin = state.config.admin_emails.iter().any(|a| a == &token.email);
    write_verifying(state, credit, user, |user, payout, _| {
        let mut update = Update::new(keys::user(&user.id))
            .set("email_verified", true)
            .when(token.still_current());
        if make_admin {
            update = update.set("is_admin", true);
        }
        Ok(vec![
            WriteOp::delete_existing(token_key.clone()),
            payout.on_user(update).into_op(),
        ])
    })
    .await?
    .on_any_condition(mail_tokens::invalid)
}

/// Changes the password; every other session is signed out, this one stays. Each attempt
/// counts against the account's password-change limit before any hashing (a change costs two
/// hashes and a mail).
pub async fn change_password(
    state: &AppState,
    auth: &Authenticated,
    current: String,
    new: Password,
    meta: &RequestMeta,
) -> ApiResult<()> {
    let user = &auth.user;
    let limit = state.config.rate_limits.password_change;
    attempts::confirm_change(state, user, "password-change", limit, current, meta).await?;
    let hash = state.passwords.hash_async(new.into_inner()).await?;
    // The kept session must still exist when the change lands (its carry-over requires it).
    let update = Update::new(keys::user(&user.id));
    let logged = activity::record(
        state,
        &user.id,
        ActivityKind::PasswordChanged,
        Some(meta),
        Value::Null,
    )?;
    let keep = Some(auth.session.id.as_str());
    let end = SessionsEnd::because(state, "password_changed").await;
    let mut also = vec![logged];
    also.extend(password_event(state, end.listening, &user.id, false));
    let ops = password_ops(state, user, hash, update, also, keep, end);
    state
        .table
        .write(ops)
        .await
        .on_any_condition(ApiError::invalid_token)?;
    sessions::remove_stale(state, &user.id, keep).await;
    Ok(())
}

/// Starts moving the account to a new address. The answer is the same whether the address is
/// free or not: a free address gets a confirmation link, a taken one a notice that someone
/// tried to use it. The current address is told either way. Each attempt counts against the
/// account's email-change limit before the password is checked: the per-address mail limit
/// alone would let one account mail any number of different addresses.
pub async fn change_email(
    state: &AppState,
    auth: &Authenticated,
    new_email: Email,
    password: String,
    meta: &RequestMeta,
) -> ApiResult<()> {
    sessions::require_recent_login(state, auth)?;
    let user = &auth.user;
    let limit = state.config.rate_limits.email_change;
    attempts::confirm_change(state, user, "email-change", limit, password, meta).await?;
    if new_email.as_str() == user.email {
        return Err(ApiError::field(
            "new_email",
            "is already your email address",
        ));
    }
    let taken = users::email_taken(state.table.as_ref(), new_email.as_str(), &user.id).await?;
    let mut ops = Vec::new();
    if taken {
        ops.push(mail::enqueue(
            templates::email_in_use(new_email.as_str()),
            state.now(),
        ));
    } else {
        let mut token = MailToken::new(Purpose::ChangeEmail, user);
        token.new_email = Some(new_email.as_str().to_string());
        token.session_id = Some(auth.session.id.clone());
        ops.extend(mail_tokens::issue(state, token));
    }
    ops.push(mail::enqueue(
        templates::email_change_requested(&user.email, new_email.as_str()),
        state.now(),
    ));
    mail_tokens::write_counting_mail(state, new_email.as_str(), ops).await
}

/// Moves the account to the confirmed new address, which counts as verified (paying a pending
/// referral bonus). Every login session but the one that asked for the change ends.
///
/// The address left behind gets a link that takes the account back for
/// [`UNDO_EMAIL_CHANGE_DAYS`](mail_tokens::UNDO_EMAIL_CHANGE_DAYS) days
/// ([`undo_email_change`]); its marker stays the account's as long, so no one else can take the
/// address meanwhile, while it no longer signs anyone in.
pub async fn confirm_email_change(
    state: &AppState,
    credit: &dyn ReferralCredit,
    raw_token: &str,
    meta: &RequestMeta,
) -> ApiResult<()> {
    let (token, token_key) = mail_tokens::find(state, raw_token, Purpose::ChangeEmail).await?;
    let new_email = token.new_email.clone().ok_or_else(mail_tokens::invalid)?;
    let table = state.table.as_ref();
    let user = users::get(table, &token.user_id)
        .await?
        .ok_or_else(mail_tokens::invalid)?;
    // The session that asked stays signed in, if it still exists.
    let keep = match token.session_id.as_deref() {
        Some(id)
            if table
                .get(&keys::login_session(&user.id, id))
                .await?
                .is_some() =>
        {
            Some(id)
        }
        _ => None,
    };
    let user_id = user.id.clone();
    let user_key = keys::user(&user.id);
    let new_marker = keys::email_marker(&new_email);
    let old_marker = keys::email_marker(&token.email);
    let undo_until = state.now_unix() + undo_seconds();
    let change_id = uuid::Uuid::now_v7().to_string();
    write_verifying(state, credit, user, |user, payout, listening| {
        let update = Update::new(user_key.clone())
            .set("email", new_email.clone())
            .set("email_verified", true)
            .when(token.still_current());
        let mut undo = MailToken::new(Purpose::UndoEmailChange, user);
        undo.change_id = Some(change_id.clone());
        undo.moved_to = Some(new_email.clone());
        let (undo_key, undo_ops) = mail_tokens::issue_keyed(state, undo);
        let mut ops = vec![
            WriteOp::delete_existing(token_key.clone()),
            users::claim_marker(&new_email, &user.id),
            users::held_marker(&token.email, &user.id, undo_until),
            undo_link_item(&user.id, &change_id, &token.email, &undo_key, undo_until),
            activity::record(
                state,
                &user.id,
                ActivityKind::EmailChanged,
                Some(meta),
                Value::Null,
            )?,
        ];
        ops.extend(listening.announce(
            state.now(),
            EventType::UserEmailChanged,
            &user.id,
            Vec::new(),
            json!({ "email": new_email, "previous_email": token.email, "undone": false }),
        ));
        ops.extend(undo_ops);
        let end = SessionsEnd {
            reason: "email_changed",
            listening,
            now: state.now(),
        };
        ops.extend(sessions::end_other_sessions(
            user,
            payout.on_user(update),
            keep,
            end,
        ));
        Ok(ops)
    })
    .await?
    .on_condition(&new_marker, email_taken)
    .on_condition(&token_key, mail_tokens::invalid)
    .on_condition(&old_marker, mail_tokens::invalid)
    .on_condition(&user_key, mail_tokens::invalid)?;
    sessions::remove_stale(state, &user_id, keep).await;
    Ok(())
}

fn undo_seconds() -> i64 {
    (mail_tokens::UNDO_EMAIL_CHANGE_DAYS * 24 * 3600) as i64
}

/// The `EMAILUNDO#` item of a change's undo link: lists the link in the user's partition, so
/// the undo of an earlier change can end it.
fn undo_link_item(
    user_id: &str,
    change_id: &str,
    restores: &str,
    token_key: &store::Key,
    until: i64,
) -> WriteOp {
    let mut item = store::Item::new();
    let key = keys::email_undo(user_id, change_id);
    item.insert(store::PK.into(), key.pk.clone().into());
    item.insert(store::SK.into(), key.sk.clone().into());
    item.insert("user_id".into(), user_id.into());
    item.insert("restores".into(), restores.into());
    item.insert("token_pk".into(), token_key.pk.clone().into());
    item.insert(store::TTL.into(), until.into());
    WriteOp::put_new(item)
}

/// Takes the account back to the address a confirmed change moved it from, with the link mailed
/// there: whoever moved the account cannot keep it. In one write: the address is the
/// account's again (verified), the address it had is released, every login session and trusted
/// device ends, every token issued to apps dies with the credential generation, TOTP turned on
/// since the change is turned off, and the undo links of every later change end (a chain of
/// changes cannot be used to take the account back again). A password-reset link goes to the
/// restored address. Answers the account's id: the apps' grants are the caller's to revoke
/// (`account::recovery::undo_email_change`), as grants live on a layer above this one.
pub async fn undo_email_change(
    state: &AppState,
    raw_token: &str,
    meta: &RequestMeta,
) -> ApiResult<String> {
    let (token, token_key) = mail_tokens::find(state, raw_token, Purpose::UndoEmailChange).await?;
    let change_id = token.change_id.clone().ok_or_else(mail_tokens::invalid)?;
    let table = state.table.as_ref();
    let user = users::get(table, &token.user_id)
        .await?
        .ok_or_else(mail_tokens::invalid)?;
    if user.email == token.email {
        return Err(mail_tokens::invalid());
    }
    let user_key = keys::user(&user.id);
    let this_link = keys::email_undo(&user.id, &change_id);
    let links: Vec<store::Item> = store::query_all(
        table,
        store::Query::partition(keys::user_pk(&user.id))
            .sk(store::SortKey::BeginsWith(keys::EMAIL_UNDO_PREFIX.into())),
    )
    .await?;
    let mut ops = vec![WriteOp::delete_existing(token_key.clone())];
    let mut found = false;
    for link in &links {
        let key = store::item_key(link)?;
        if key.sk < this_link.sk {
            continue;
        }
        found |= key == this_link;
        let token_pk = link.get("token_pk").and_then(Value::as_str);
        ops.push(WriteOp::delete_existing(key));
        if let Some(pk) = token_pk.filter(|pk| *pk != token_key.pk) {
            ops.push(WriteOp::delete(store::Key::new(pk, &token_key.sk)));
        }
    }
    if !found {
        return Err(mail_tokens::invalid());
    }
    let restored = token.email.clone();
    let restored_marker = keys::email_marker(&restored);
    let left_marker = keys::email_marker(&user.email);
    ops.push(
        Update::new(restored_marker.clone())
            .remove(store::TTL)
            .when(Cond::eq("user_id", user.id.clone()))
            .into_op(),
    );
    ops.push(WriteOp::Delete {
        key: left_marker,
        cond: Cond::eq("user_id", user.id.clone()),
    });
    let mut update = Update::new(user_key.clone())
        .set("email", restored.clone())
        .set("email_verified", true)
        .add("credential_generation", 1)
        .when(Cond::eq("email", user.email.clone()));
    if user.totp_enabled && !token.totp_was_enabled {
        update = update
            .set("totp_enabled", false)
            .remove("totp_secret")
            .remove("totp_pending_secret");
        ops.extend(
            mfa::recovery_keys(state, &user.id)
                .await?
                .into_iter()
                .map(WriteOp::delete),
        );
    }
    let end = SessionsEnd::because(state, "email_change_undone").await;
    ops.extend(sessions::end_other_sessions(&user, update, None, end));
    let mut restored_user = user.clone();
    restored_user.email = restored.clone();
    restored_user.credential_generation += 1;
    ops.extend(mail_tokens::issue(
        state,
        MailToken::new(Purpose::ResetPassword, &restored_user),
    ));
    ops.push(activity::record(
        state,
        &user.id,
        ActivityKind::EmailChangeUndone,
        Some(meta),
        json!({ "restored": restored }),
    )?);
    ops.extend(end.listening.announce(
        state.now(),
        EventType::UserEmailChanged,
        &user.id,
        Vec::new(),
        json!({ "email": restored, "previous_email": user.email, "undone": true }),
    ));
    table
        .write(ops)
        .await
        .on_any_condition(mail_tokens::invalid)?;
    sessions::remove_stale(state, &user.id, None).await;
    Ok(user.id)
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

/// The `user.password_changed` event of a change (`reset`: through a reset link).
fn password_event(
    state: &AppState,
    listening: Listening,
    user_id: &str,
    reset: bool,
) -> Option<WriteOp> {
    listening.announce(
        state.now(),
        EventType::UserPasswordChanged,
        user_id,
        Vec::new(),
        json!({ "reset": reset }),
    )
}
