//! `/api/auth/*`: registration, login, tokens, email verification, password reset and
//! change, email change, TOTP. Handlers parse input into domain types, call one domain
//! function, and answer in the reference's shape (`views`).

mod views;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json as Body;
use axum::Router;
use serde::Deserialize;

use buddo_shared::domain::identity::accounts::{self, LoginAttempt, Registration};
use buddo_shared::domain::identity::{mfa, sessions};
use buddo_shared::domain::input::{self, Email, OtpCode, Password, Username};
use buddo_shared::domain::RequestMeta;
use buddo_shared::http::{AuthUser, Json, Routes};
use buddo_shared::{ApiError, ApiResult, AppState};

use views::*;

/// The group as a Lambda function serves it.
pub fn router(state: AppState) -> Router {
    buddo_shared::http::finish(routes(), state)
}

/// The group's operations, for the API's OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths())]
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
        .post("/api/auth/forgot-password", forgot_password)
        .post("/api/auth/reset-password", reset_password)
        .post("/api/auth/send-verification", send_verification)
        .post("/api/auth/verify-email", verify_email)
        .post("/api/auth/change-password", change_password)
        .post("/api/auth/change-email", change_email)
        .post("/api/auth/change-email/confirm", confirm_email_change)
        .post("/api/auth/totp/setup", totp_setup)
        .post("/api/auth/totp/enable", totp_enable)
        .post("/api/auth/totp/verify", totp_verify)
        .get("/api/auth/totp/status", totp_status)
        .post("/api/auth/totp/disable", totp_disable)
        .post("/api/auth/totp/recovery-codes", regenerate_recovery_codes)
}

/// A JSON answer. Views borrow from what the domain returned, so they are serialized here.
fn json<T: serde::Serialize>(status: StatusCode, body: T) -> Response {
    (status, Body(body)).into_response()
}

fn ok<T: serde::Serialize>(body: T) -> ApiResult<Response> {
    Ok(json(StatusCode::OK, body))
}

fn message(message: &'static str) -> ApiResult<Response> {
    ok(Message { message })
}

#[derive(Deserialize)]
struct RegisterBody {
    email: String,
    password: String,
    username: String,
    #[serde(default)]
    referral_code: Option<String>,
}

async fn register(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<RegisterBody>,
) -> ApiResult<Response> {
    let registration = Registration {
        email: Email::parse("email", &body.email)?,
        username: Username::parse(&body.username)?,
        password: Password::parse("password", &body.password)?,
        referral_code: body.referral_code,
    };
    let user = accounts::register(&state, registration, &meta).await?;
    let user = RegisteredUser::new(&user, &state.config);
    Ok(json(StatusCode::CREATED, UserEnvelope { user }))
}

#[derive(Deserialize)]
struct LoginBody {
    email: String,
    password: String,
    #[serde(default)]
    totp_code: Option<String>,
}

async fn login(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<LoginBody>,
) -> ApiResult<Response> {
    let totp_code = match body.totp_code.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(code) => Some(OtpCode::parse("totp_code", code)?),
    };
    let attempt = LoginAttempt {
        email: Email::parse("email", &body.email)?,
        password: input::login_password(&body.password)?,
        totp_code,
    };
    let (user, tokens) = accounts::login(&state, attempt, &meta).await?;
    ok(LoginResponse {
        tokens: tokens.into(),
        user: LoginUser::new(&user, &state.config),
    })
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshBody>,
) -> ApiResult<Response> {
    let token = input::token("refresh_token", &body.refresh_token)?;
    ok(TokenPair::from(sessions::refresh(&state, &token).await?))
}

async fn logout(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Response> {
    sessions::revoke(&state, &auth.user.id, &auth.session.id).await?;
    message("Logged out")
}

async fn me(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Response> {
    ok(UserEnvelope {
        user: Profile::new(&auth.user, &state.config),
    })
}

async fn list_sessions(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Response> {
    let live = sessions::list_live(&state, &auth.user).await?;
    ok(SessionList {
        sessions: live
            .iter()
            .map(|s| SessionView::new(s, &auth.session.id))
            .collect(),
    })
}

async fn revoke_session(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    if id.len() > 64 || !sessions::revoke_by_owner(&state, &auth.user.id, &id, &meta).await? {
        return Err(ApiError::not_found("session_not_found", "No such session"));
    }
    message("Session revoked")
}

#[derive(Deserialize)]
struct EmailBody {
    email: String,
}

async fn forgot_password(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<EmailBody>,
) -> ApiResult<Response> {
    let email = Email::parse("email", &body.email)?;
    accounts::forgot_password(&state, email, &meta).await?;
    message(accounts::FORGOT_PASSWORD_MESSAGE)
}

#[derive(Deserialize)]
struct ResetBody {
    password: String,
    token: String,
}

async fn reset_password(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<ResetBody>,
) -> ApiResult<Response> {
    let token = input::token("token", &body.token)?;
    let password = Password::parse("password", &body.password)?;
    accounts::reset_password(&state, &token, password, &meta).await?;
    message("Your password has been reset; sign in with the new one")
}

async fn send_verification(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Response> {
    accounts::send_verification(&state, &auth.user).await?;
    message("Verification email sent")
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
}

async fn verify_email(
    State(state): State<AppState>,
    Json(body): Json<TokenBody>,
) -> ApiResult<Response> {
    let token = input::token("token", &body.token)?;
    accounts::verify_email(&state, &token).await?;
    message("Email verified")
}

#[derive(Deserialize)]
struct ChangePasswordBody {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Json(body): Json<ChangePasswordBody>,
) -> ApiResult<Response> {
    let current = input::login_password(&body.current_password)
        .map_err(|_| ApiError::field("current_password", "is required"))?;
    let new = Password::parse("new_password", &body.new_password)?;
    accounts::change_password(&state, &auth, current, new, &meta).await?;
    message("Password changed; other sessions were signed out")
}

#[derive(Deserialize)]
struct ChangeEmailBody {
    new_email: String,
    password: String,
}

async fn change_email(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Json(body): Json<ChangeEmailBody>,
) -> ApiResult<Response> {
    let new_email = Email::parse("new_email", &body.new_email)?;
    let password = input::login_password(&body.password)?;
    accounts::change_email(&state, &auth, new_email, password, &meta).await?;
    message("A confirmation link was sent to the new address")
}

async fn confirm_email_change(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<TokenBody>,
) -> ApiResult<Response> {
    let token = input::token("token", &body.token)?;
    accounts::confirm_email_change(&state, &token, &meta).await?;
    message("Email address changed")
}

async fn totp_setup(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Response> {
    let setup = mfa::setup(&state, &auth).await?;
    ok(TotpSetupResponse {
        secret: setup.secret,
        uri: setup.uri,
    })
}

#[derive(Deserialize)]
struct CodeBody {
    code: String,
}

async fn totp_enable(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Json(body): Json<CodeBody>,
) -> ApiResult<Response> {
    let code = OtpCode::parse_totp("code", &body.code)?;
    let recovery_codes = mfa::enable(&state, &auth, &code, &meta).await?;
    ok(TotpEnabled {
        message: "Two-factor authentication enabled; store the recovery codes safely",
        recovery_codes,
    })
}

async fn totp_verify(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<CodeBody>,
) -> ApiResult<Response> {
    mfa::verify(&state, &auth.user, &OtpCode::parse("code", &body.code)?).await?;
    message("Code verified")
}

async fn totp_status(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Response> {
    let status = mfa::status(&state, &auth.user).await?;
    ok(TotpStatus {
        enabled: status.enabled,
        recovery_codes_remaining: status.recovery_codes_remaining,
    })
}

#[derive(Deserialize)]
struct DisableBody {
    password: String,
    code: String,
}

async fn totp_disable(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Json(body): Json<DisableBody>,
) -> ApiResult<Response> {
    let password = input::login_password(&body.password)?;
    let code = OtpCode::parse("code", &body.code)?;
    mfa::disable(&state, &auth, password, &code, &meta).await?;
    message("Two-factor authentication disabled")
}

async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<CodeBody>,
) -> ApiResult<Response> {
    let code = OtpCode::parse("code", &body.code)?;
    let recovery_codes = mfa::regenerate_recovery_codes(&state, &auth, &code).await?;
    ok(RecoveryCodes { recovery_codes })
}
