//! `/api/auth/*`: registration, login, tokens, email verification, password reset and
//! change, email change, TOTP, passkeys. Handlers parse input into domain types, call one domain
//! function, and answer in the reference's shape (`views`).

mod passkeys;
mod social;
mod views;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Router;
use serde::Deserialize;
use utoipa::ToSchema;

use buddo_shared::domain::account::recovery;
use buddo_shared::domain::identity::accounts::{self, LoginAttempt, Registration, SecondFactor};
use buddo_shared::domain::identity::{mfa, sessions, trusted_devices};
use buddo_shared::domain::input::{self, Email, OtpCode, Password, Username};
use buddo_shared::domain::ledger::referrals::ReferralCredits;
use buddo_shared::domain::RequestMeta;
use buddo_shared::http::openapi::{ErrorBody, Message};
use buddo_shared::http::{message, AuthUser, Json, Routes};
use buddo_shared::{ApiError, ApiResult, AppState};

use views::*;

/// The group as a Lambda function serves it.
pub fn router(state: AppState) -> Router {
    buddo_shared::http::finish(routes(), state)
}

/// The group's operations, for the API's OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    register,
    login,
    refresh,
    logout,
    me,
    list_sessions,
    revoke_session,
    list_trusted_devices,
    revoke_trusted_device,
    forgot_password,
    reset_password,
    send_verification,
    verify_email,
    change_password,
    change_email,
    confirm_email_change,
    undo_email_change,
    totp_setup,
    totp_enable,
    totp_verify,
    totp_status,
    totp_disable,
    regenerate_recovery_codes,
))]
pub struct Api;

/// The group's routes, for the Lambda router, the local server and the route list.
pub fn routes() -> Routes {
    Routes::new()
        .post("/api/auth/register", register)
        .post("/api/auth/login", login)
        .post("/api/auth/refresh", refresh)
        .post("/api/auth/logout", logout)
        .get("/api/auth/me", me)
        .get("/api/auth/sessions", list_sessions)
        .delete("/api/auth/sessions/{id}", revoke_session)
        .get("/api/auth/trusted-devices", list_trusted_devices)
        .delete("/api/auth/trusted-devices/{id}", revoke_trusted_device)
        .post("/api/auth/forgot-password", forgot_password)
        .post("/api/auth/reset-password", reset_password)
        .post("/api/auth/send-verification", send_verification)
        .post("/api/auth/verify-email", verify_email)
        .post("/api/auth/change-password", change_password)
        .post("/api/auth/change-email", change_email)
        .post("/api/auth/change-email/confirm", confirm_email_change)
        .post("/api/auth/change-email/undo", undo_email_change)
        .post("/api/auth/totp/setup", totp_setup)
        .post("/api/auth/totp/enable", totp_enable)
        .post("/api/auth/totp/verify", totp_verify)
        .get("/api/auth/totp/status", totp_status)
        .post("/api/auth/totp/disable", totp_disable)
        .post("/api/auth/totp/recovery-codes", regenerate_recovery_codes)
        .merge(social::routes())
        .merge(passkeys::routes())
}

/// Sign-in with Google and GitHub, for the API's OpenAPI document.
pub use social::Api as SocialApi;

/// Passkeys, for the API's OpenAPI document.
pub use passkeys::Api as PasskeysApi;

/// The 401 of the operations that need a recent password login.
const RECENT_LOGIN_REQUIRED: &str =
    "`invalid_token`: the bearer token is missing, invalid, expired or revoked; `recent_login_required`: sign in again with the password first";

/// The 400 of the operations that take a TOTP or recovery code.
const INVALID_CODE: &str =
    "`invalid_code`: wrong or already used; `totp_not_enabled`; `validation_failed`, `malformed_json`, `invalid_request`";

/// A new account.
#[derive(Deserialize, ToSchema)]
struct RegistrationBody {
    /// An email address (at most 254 characters); it is the login.
    #[schema(format = "email", max_length = 254)]
    email: String,
    /// 8 to 128 characters, not one of the most common passwords.
    #[schema(min_length = 8, max_length = 128)]
    password: String,
    /// 3 to 30 letters, digits or underscores, starting with a letter; unique regardless of
    /// case, and some names are reserved.
    #[schema(min_length = 3, max_length = 30, pattern = "^[A-Za-z][A-Za-z0-9_]*$")]
    username: String,
    /// Another user's referral code, which credits them (any case; empty is none).
    #[serde(default)]
    referral_code: Option<String>,
    /// Agrees to marketing mail (recorded with its time; withdraw it in the settings).
    #[serde(default)]
    marketing_opt_in: bool,
}

/// Registers an account and mails a link to verify its address.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth",
    request_body = RegistrationBody,
    responses(
        (status = 201, description = "The account is created; sign in with `POST /api/auth/login`", body = RegisterResponse),
        (status = 400, description = "`validation_failed` (a reason per field in `fields`), `invalid_referral_code`, `malformed_json`, `invalid_request`", body = ErrorBody),
        (status = 409, description = "`email_taken`; `username_taken` (reserved names count as taken)", body = ErrorBody),
    ))]
async fn register(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<RegistrationBody>,
) -> ApiResult<(StatusCode, Json<RegisterResponse>)> {
    let registration = Registration {
        email: Email::parse("email", &body.email)?,
        username: Username::parse(&body.username)?,
        password: Password::parse("password", &body.password)?,
        referral_code: body.referral_code,
        marketing_opt_in: body.marketing_opt_in,
    };
    let user = accounts::register(&state, registration, &meta).await?;
    let user = RegisteredUser::new(&user, &state.config);
    Ok((StatusCode::CREATED, Json(RegisterResponse { user })))
}

#[derive(Deserialize, ToSchema)]
struct LoginBody {
    #[schema(format = "email", max_length = 254)]
    email: String,
    /// 1 to 128 characters.
    #[schema(min_length = 1, max_length = 128)]
    password: String,
    /// A 6-digit TOTP code or a recovery code (at most 32 characters); required when
    /// two-factor authentication is on, unless `device_token` names a trusted device (empty
    /// counts as left out).
    #[serde(default)]
    #[schema(max_length = 32)]
    totp_code: Option<String>,
    /// The `device_token` of an earlier login that asked to remember its device: while that
    /// device is trusted it stands in for `totp_code`, never for the password (empty counts
    /// as left out).
    #[serde(default)]
    #[schema(max_length = 128)]
    device_token: Option<String>,
    /// With a right `totp_code`: trust this device, answering a `device_token` for the logins
    /// that follow.
    #[serde(default)]
    remember_device: bool,
}

/// Signs in, starting a login session.
///
/// Email and password, and when two-factor authentication is on a TOTP or recovery code, or
/// the token of a trusted device. With a right code, `remember_device` trusts this device for
/// `TRUSTED_DEVICE_DAYS` (30): the answer holds its `device_token`.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Signed in: the session's tokens and the user, and the device token when a device was trusted", body = LoginResponse),
        (status = 401, description = "`invalid_credentials`: unknown email or wrong password; `totp_required` (with `totp_required: true`): the password was right and `totp_code` is needed (no device token, or not one of a trusted device); `invalid_totp_code`; `session_revoked`: the account changed meanwhile, sign in again", body = ErrorBody),
        (status = 403, description = "`account_disabled`", body = ErrorBody),
    ))]
async fn login(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<LoginBody>,
) -> ApiResult<Json<LoginResponse>> {
    let attempt = LoginAttempt {
        email: Email::parse("email", &body.email)?,
        password: input::login_password(&body.password)?,
        second_factor: second_factor(
            body.totp_code.as_deref(),
            body.device_token.as_deref(),
            body.remember_device,
        )?,
    };
    let (user, tokens, device) = accounts::login(&state, attempt, &meta).await?;
    Ok(Json(LoginResponse::new(
        &user,
        tokens,
        device,
        &state.config,
    )))
}

/// A sign-in's second factor as sent: a TOTP or recovery code, a trusted device's token (empty
/// counts as left out for both), and whether to trust this device.
fn second_factor(
    totp_code: Option<&str>,
    device_token: Option<&str>,
    remember_device: bool,
) -> ApiResult<SecondFactor> {
    let totp_code = match totp_code.map(str::trim) {
        None | Some("") => None,
        Some(code) => Some(OtpCode::parse("totp_code", code)?),
    };
    let device_token = match device_token.map(str::trim) {
        None | Some("") => None,
        Some(token) if token.len() > 128 => {
            return Err(ApiError::field("device_token", "is not a device token"))
        }
        Some(token) => Some(token.to_string()),
    };
    Ok(SecondFactor {
        totp_code,
        device_token,
        remember_device,
    })
}

#[derive(Deserialize, ToSchema)]
struct RefreshTokenBody {
    /// The `refresh_token` of the login or of the last refresh.
    #[schema(min_length = 1, max_length = 128)]
    refresh_token: String,
}

/// Trades a refresh token for a new token pair.
///
/// The old refresh token stops working; using it again ends its session.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth",
    request_body = RefreshTokenBody,
    responses(
        (status = 200, description = "The new tokens", body = TokenPair),
        (status = 401, description = "`invalid_refresh_token`: unknown, expired, already used (which ends its session), or its session has ended", body = ErrorBody),
    ))]
async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshTokenBody>,
) -> ApiResult<Json<TokenPair>> {
    let token = input::token("refresh_token", &body.refresh_token)?;
    Ok(Json(TokenPair::from(
        sessions::refresh(&state, &token).await?,
    )))
}

/// Ends the login session of the request's token.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    security(("user_jwt" = [])),
    responses((status = 200, description = "Signed out: the session's tokens no longer work", body = Message)))]
async fn logout(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<Message>> {
    sessions::revoke(&state, &auth.user.id, &auth.session.id).await?;
    Ok(message("Logged out"))
}

/// The signed-in user, with their points, tier and counts.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth",
    security(("user_jwt" = [])),
    responses((status = 200, description = "The signed-in user", body = MeResponse)))]
async fn me(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<MeResponse>> {
    Ok(Json(MeResponse {
        user: CurrentUser::new(&auth.user, &state.config),
    }))
}

/// The user's live login sessions.
#[utoipa::path(get, path = "/api/auth/sessions", tag = "auth",
    security(("user_jwt" = [])),
    responses((status = 200, description = "The sessions, the request's own marked `current`", body = LoginSessionList)))]
async fn list_sessions(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<LoginSessionList>> {
    let live = sessions::list_live(&state, &auth.user).await?;
    Ok(Json(LoginSessionList {
        sessions: live
            .iter()
            .map(|s| LoginSessionView::new(s, &auth.session.id))
            .collect(),
    }))
}

/// Ends one of the user's login sessions (the request's own too).
#[utoipa::path(delete, path = "/api/auth/sessions/{id}", tag = "auth",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The session's id (`GET /api/auth/sessions`)")),
    responses(
        (status = 200, description = "The session has ended", body = Message),
        (status = 404, description = "`session_not_found`", body = ErrorBody),
    ))]
async fn revoke_session(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> ApiResult<Json<Message>> {
    if id.len() > 64 || !sessions::revoke_by_owner(&state, &auth.user.id, &id, &meta).await? {
        return Err(ApiError::not_found("session_not_found", "No such session"));
    }
    Ok(message("Session revoked"))
}

/// The user's trusted devices: those that stand in for the TOTP code at login.
///
/// Devices trusted with `remember_device` and still live: not expired, not revoked, and not
/// ended by a password change or reset, TOTP turned off or an email change.
#[utoipa::path(get, path = "/api/auth/trusted-devices", tag = "auth",
    security(("user_jwt" = [])),
    responses((status = 200, description = "The trusted devices, newest first", body = TrustedDeviceList)))]
async fn list_trusted_devices(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<TrustedDeviceList>> {
    let devices = trusted_devices::list_live(&state, &auth.user).await?;
    Ok(Json(TrustedDeviceList {
        trusted_devices: devices.iter().map(TrustedDeviceView::new).collect(),
    }))
}

/// Stops trusting one of the user's devices: its token no longer stands in for the code.
#[utoipa::path(delete, path = "/api/auth/trusted-devices/{id}", tag = "auth",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The device's id (`GET /api/auth/trusted-devices`)")),
    responses(
        (status = 200, description = "The device is no longer trusted", body = Message),
        (status = 404, description = "`trusted_device_not_found`", body = ErrorBody),
    ))]
async fn revoke_trusted_device(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> ApiResult<Json<Message>> {
    let not_found = || ApiError::not_found("trusted_device_not_found", "No such trusted device");
    let id = input::id("id", &id).map_err(|_| not_found())?;
    if !trusted_devices::revoke_by_owner(&state, &auth.user, &id, &meta).await? {
        return Err(not_found());
    }
    Ok(message("Device no longer trusted"))
}

#[derive(Deserialize, ToSchema)]
struct ForgotPasswordBody {
    /// The account's email address.
    #[schema(format = "email", max_length = 254)]
    email: String,
}

/// Mails a password reset link.
///
/// The mail goes only if an account has this address; the answer is the same either way.
#[utoipa::path(post, path = "/api/auth/forgot-password", tag = "auth",
    request_body = ForgotPasswordBody,
    responses((status = 200, description = "Accepted (whether or not an account exists)", body = Message)))]
async fn forgot_password(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<ForgotPasswordBody>,
) -> ApiResult<Json<Message>> {
    let email = Email::parse("email", &body.email)?;
    accounts::forgot_password(&state, email, &meta).await?;
    Ok(message(accounts::FORGOT_PASSWORD_MESSAGE))
}

#[derive(Deserialize, ToSchema)]
struct ResetPasswordBody {
    /// The new password: 8 to 128 characters, not one of the most common passwords.
    #[schema(min_length = 8, max_length = 128)]
    password: String,
    /// The token of the reset link (letters, digits, `-` and `_`, at most 128).
    #[schema(min_length = 1, max_length = 128)]
    token: String,
}

/// Sets a new password with the token of a reset mail; every login session ends.
#[utoipa::path(post, path = "/api/auth/reset-password", tag = "auth",
    request_body = ResetPasswordBody,
    responses(
        (status = 200, description = "The password is reset", body = Message),
        (status = 400, description = "`invalid_token`: the reset token is invalid, expired or already used; `validation_failed`, `malformed_json`, `invalid_request`", body = ErrorBody),
    ))]
async fn reset_password(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<ResetPasswordBody>,
) -> ApiResult<Json<Message>> {
    let token = input::token("token", &body.token)?;
    let password = Password::parse("password", &body.password)?;
    accounts::reset_password(&state, &ReferralCredits, &token, password, &meta).await?;
    Ok(message(
        "Your password has been reset; sign in with the new one",
    ))
}

/// Mails a new link to verify the user's address.
#[utoipa::path(post, path = "/api/auth/send-verification", tag = "auth",
    security(("user_jwt" = [])),
    responses(
        (status = 200, description = "The mail is on its way", body = Message),
        (status = 400, description = "`email_already_verified`", body = ErrorBody),
    ))]
async fn send_verification(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<Message>> {
    accounts::send_verification(&state, &auth.user).await?;
    Ok(message("Verification email sent"))
}

#[derive(Deserialize, ToSchema)]
struct MailTokenBody {
    /// The token of the mailed link (letters, digits, `-` and `_`, at most 128).
    #[schema(min_length = 1, max_length = 128)]
    token: String,
}

/// Verifies the user's address with the token of a verification mail.
#[utoipa::path(post, path = "/api/auth/verify-email", tag = "auth",
    request_body = MailTokenBody,
    responses(
        (status = 200, description = "The address is verified", body = Message),
        (status = 400, description = "`invalid_token`: the token is invalid, expired or already used; `validation_failed`, `malformed_json`, `invalid_request`", body = ErrorBody),
    ))]
async fn verify_email(
    State(state): State<AppState>,
    Json(body): Json<MailTokenBody>,
) -> ApiResult<Json<Message>> {
    let token = input::token("token", &body.token)?;
    accounts::verify_email(&state, &ReferralCredits, &token).await?;
    Ok(message("Email verified"))
}

#[derive(Deserialize, ToSchema)]
struct ChangePasswordBody {
    /// 1 to 128 characters.
    #[schema(min_length = 1, max_length = 128)]
    current_password: String,
    /// 8 to 128 characters, not one of the most common passwords.
    #[schema(min_length = 8, max_length = 128)]
    new_password: String,
}

/// Changes the password; every other login session ends, this one stays.
#[utoipa::path(post, path = "/api/auth/change-password", tag = "auth",
    security(("user_jwt" = [])), request_body = ChangePasswordBody,
    responses(
        (status = 200, description = "The password is changed", body = Message),
        (status = 400, description = "`invalid_password`: the current password is wrong; `validation_failed`, `malformed_json`, `invalid_request`", body = ErrorBody),
    ))]
async fn change_password(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Json(body): Json<ChangePasswordBody>,
) -> ApiResult<Json<Message>> {
    let current = input::login_password(&body.current_password)
        .map_err(|_| ApiError::field("current_password", "is required"))?;
    let new = Password::parse("new_password", &body.new_password)?;
    accounts::change_password(&state, &auth, current, new, &meta).await?;
    Ok(message("Password changed; other sessions were signed out"))
}

#[derive(Deserialize, ToSchema)]
struct ChangeEmailBody {
    /// The address to move to (not the current one).
    #[schema(format = "email", max_length = 254)]
    new_email: String,
    /// The current password, 1 to 128 characters.
    #[schema(min_length = 1, max_length = 128)]
    password: String,
}

/// Starts moving the account to a new address.
///
/// A confirmation link goes to the new address (the answer is the same whether it is free or
/// taken). Needs a recent password login.
#[utoipa::path(post, path = "/api/auth/change-email", tag = "auth",
    security(("user_jwt" = [])), request_body = ChangeEmailBody,
    responses(
        (status = 200, description = "The confirmation mail is on its way", body = Message),
        (status = 400, description = "`invalid_password`: the password is wrong; `validation_failed` (also when `new_email` is the current address), `malformed_json`, `invalid_request`", body = ErrorBody),
        (status = 401, description = RECENT_LOGIN_REQUIRED, body = ErrorBody),
    ))]
async fn change_email(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Json(body): Json<ChangeEmailBody>,
) -> ApiResult<Json<Message>> {
    let new_email = Email::parse("new_email", &body.new_email)?;
    let password = input::login_password(&body.password)?;
    accounts::change_email(&state, &auth, new_email, password, &meta).await?;
    Ok(message("A confirmation link was sent to the new address"))
}

/// Confirms an email change with the token of the confirmation mail.
///
/// Every login session but the one that asked for the change ends.
#[utoipa::path(post, path = "/api/auth/change-email/confirm", tag = "auth",
    request_body = MailTokenBody,
    responses(
        (status = 200, description = "The address is changed", body = Message),
        (status = 400, description = "`invalid_token`: the token is invalid, expired or already used, or the account changed since; `validation_failed`, `malformed_json`, `invalid_request`", body = ErrorBody),
        (status = 409, description = "`email_taken`: another account took the address meanwhile; `conflict`", body = ErrorBody),
    ))]
async fn confirm_email_change(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<MailTokenBody>,
) -> ApiResult<Json<Message>> {
    let token = input::token("token", &body.token)?;
    accounts::confirm_email_change(&state, &ReferralCredits, &token, &meta).await?;
    Ok(message("Email address changed"))
}

/// Takes the account back to the address a confirmed change moved it from, with the token of
/// the notice mailed there (valid 7 days, once).
///
/// The address is the account's again; every login session and trusted device ends, every
/// app's tokens die and its grant is revoked, TOTP turned on since the change is turned off,
/// and the undo links of later changes end. A password-reset link goes to the restored address.
#[utoipa::path(post, path = "/api/auth/change-email/undo", tag = "auth",
    request_body = MailTokenBody,
    responses(
        (status = 200, description = "The address is restored; a password-reset link is on its way to it", body = Message),
        (status = 400, description = "`invalid_token`: the token is invalid, expired or already used, or an earlier change was undone since; `validation_failed`, `malformed_json`, `invalid_request`", body = ErrorBody),
    ))]
async fn undo_email_change(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<MailTokenBody>,
) -> ApiResult<Json<Message>> {
    let token = input::token("token", &body.token)?;
    recovery::undo_email_change(&state, &token, &meta).await?;
    Ok(message(
        "Email address restored; every session was signed out and a password-reset link was sent to it",
    ))
}

/// Starts turning on two-factor authentication.
///
/// A new secret for an authenticator app, pending until `POST /api/auth/totp/enable`. Needs
/// a recent password login and a verified address.
#[utoipa::path(post, path = "/api/auth/totp/setup", tag = "auth",
    security(("user_jwt" = [])),
    responses(
        (status = 200, description = "The pending secret", body = TotpSetupResponse),
        (status = 401, description = RECENT_LOGIN_REQUIRED, body = ErrorBody),
        (status = 403, description = "`email_not_verified`", body = ErrorBody),
        (status = 409, description = "`totp_already_enabled`", body = ErrorBody),
    ))]
async fn totp_setup(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<TotpSetupResponse>> {
    let setup = mfa::setup(&state, &auth).await?;
    Ok(Json(TotpSetupResponse {
        secret: setup.secret,
        uri: setup.uri,
    }))
}

#[derive(Deserialize, ToSchema)]
struct TotpCodeBody {
    /// A 6-digit TOTP code from the authenticator app, or a recovery code (at most 32
    /// characters); enabling takes a TOTP code only.
    #[schema(min_length = 1, max_length = 32)]
    code: String,
}

/// Turns on two-factor authentication with a code from the pending secret.
///
/// Every other login session ends. Needs a recent password login and a verified address.
#[utoipa::path(post, path = "/api/auth/totp/enable", tag = "auth",
    security(("user_jwt" = [])), request_body = TotpCodeBody,
    responses(
        (status = 200, description = "Two-factor authentication is on; the recovery codes are shown this once", body = TotpEnabled),
        (status = 400, description = "`invalid_code`: the code does not match the pending secret; `totp_not_set_up`: call `POST /api/auth/totp/setup` first; `validation_failed` (`code` must be 6 digits), `malformed_json`, `invalid_request`", body = ErrorBody),
        (status = 401, description = RECENT_LOGIN_REQUIRED, body = ErrorBody),
        (status = 403, description = "`email_not_verified`", body = ErrorBody),
        (status = 409, description = "`totp_already_enabled`; `totp_setup_changed`: set-up changed meanwhile, start again; `conflict`", body = ErrorBody),
    ))]
async fn totp_enable(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Json(body): Json<TotpCodeBody>,
) -> ApiResult<Json<TotpEnabled>> {
    let code = OtpCode::parse_totp("code", &body.code)?;
    let recovery_codes = mfa::enable(&state, &auth, &code, &meta).await?;
    Ok(Json(TotpEnabled {
        message: "Two-factor authentication enabled; store the recovery codes safely",
        recovery_codes,
    }))
}

/// Checks a TOTP or recovery code of the signed-in user, and uses it up.
#[utoipa::path(post, path = "/api/auth/totp/verify", tag = "auth",
    security(("user_jwt" = [])), request_body = TotpCodeBody,
    responses(
        (status = 200, description = "The code is right", body = Message),
        (status = 400, description = INVALID_CODE, body = ErrorBody),
    ))]
async fn totp_verify(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<TotpCodeBody>,
) -> ApiResult<Json<Message>> {
    mfa::verify(&state, &auth.user, &OtpCode::parse("code", &body.code)?).await?;
    Ok(message("Code verified"))
}

/// Whether two-factor authentication is on, and how many recovery codes are left.
#[utoipa::path(get, path = "/api/auth/totp/status", tag = "auth",
    security(("user_jwt" = [])),
    responses((status = 200, description = "The two-factor status", body = TotpStatus)))]
async fn totp_status(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Json<TotpStatus>> {
    let status = mfa::status(&state, &auth.user).await?;
    Ok(Json(TotpStatus {
        enabled: status.enabled,
        recovery_codes_remaining: status.recovery_codes_remaining,
    }))
}

#[derive(Deserialize, ToSchema)]
struct TotpDisableBody {
    /// The current password, 1 to 128 characters.
    #[schema(min_length = 1, max_length = 128)]
    password: String,
    /// A 6-digit TOTP code or a recovery code (at most 32 characters).
    #[schema(min_length = 1, max_length = 32)]
    code: String,
}

/// Turns off two-factor authentication.
///
/// The recovery codes are dropped and every other login session ends. Needs a recent
/// password login, the password and a code.
#[utoipa::path(post, path = "/api/auth/totp/disable", tag = "auth",
    security(("user_jwt" = [])), request_body = TotpDisableBody,
    responses(
        (status = 200, description = "Two-factor authentication is off", body = Message),
        (status = 400, description = "`invalid_password`; `invalid_code`: wrong or already used; `totp_not_enabled`; `validation_failed`, `malformed_json`, `invalid_request`", body = ErrorBody),
        (status = 401, description = RECENT_LOGIN_REQUIRED, body = ErrorBody),
    ))]
async fn totp_disable(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Json(body): Json<TotpDisableBody>,
) -> ApiResult<Json<Message>> {
    let password = input::login_password(&body.password)?;
    let code = OtpCode::parse("code", &body.code)?;
    mfa::disable(&state, &auth, password, &code, &meta).await?;
    Ok(message("Two-factor authentication disabled"))
}

/// Replaces every recovery code with new ones.
///
/// Takes a TOTP or recovery code; needs a recent password login.
#[utoipa::path(post, path = "/api/auth/totp/recovery-codes", tag = "auth",
    security(("user_jwt" = [])), request_body = TotpCodeBody,
    responses(
        (status = 200, description = "The new recovery codes, shown this once", body = RecoveryCodes),
        (status = 400, description = INVALID_CODE, body = ErrorBody),
        (status = 401, description = RECENT_LOGIN_REQUIRED, body = ErrorBody),
    ))]
async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<TotpCodeBody>,
) -> ApiResult<Json<RecoveryCodes>> {
    let code = OtpCode::parse("code", &body.code)?;
    let recovery_codes = mfa::regenerate_recovery_codes(&state, &auth, &code).await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}
