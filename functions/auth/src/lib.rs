//! `/api/auth/*`: registration, login, tokens, email verification, password reset and
//! change, email change, TOTP. Handlers parse input and call the domain in `buddo_shared`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};

use buddo_shared::domain::accounts::{self, LoginAttempt, Registration};
use buddo_shared::domain::input::{self, Email, Password, Username};
use buddo_shared::domain::{mfa, sessions};
use buddo_shared::http::{AuthUser, ClientIp, Json, UserAgent};
use buddo_shared::{totp, ApiError, ApiResult, AppState};

type JsonValue = axum::Json<Value>;

/// The group as a Lambda function serves it.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    buddo_shared::http::finish(routes(state), &config)
}

/// The bare routes, for merging with other groups into one local server.
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/api/auth/register", post(register))
        .route("/api/auth/login", post(login))
        .route("/api/auth/refresh", post(refresh))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/me", get(me))
        .route("/api/auth/sessions", get(list_sessions))
        .route("/api/auth/sessions/{id}", delete(revoke_session))
        .route("/api/auth/forgot-password", post(forgot_password))
        .route("/api/auth/reset-password", post(reset_password))
        .route("/api/auth/send-verification", post(send_verification))
        .route("/api/auth/verify-email", post(verify_email))
        .route("/api/auth/change-password", post(change_password))
        .route("/api/auth/change-email", post(change_email))
        .route("/api/auth/change-email/confirm", post(confirm_email_change))
        .route("/api/auth/totp/setup", post(totp_setup))
        .route("/api/auth/totp/enable", post(totp_enable))
        .route("/api/auth/totp/verify", post(totp_verify))
        .route("/api/auth/totp/status", get(totp_status))
        .route("/api/auth/totp/disable", post(totp_disable))
        .route(
            "/api/auth/totp/recovery-codes",
            post(regenerate_recovery_codes),
        )
        .with_state(state)
}

fn message(text: &str) -> JsonValue {
    axum::Json(json!({ "message": text }))
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
    ip: ClientIp,
    Json(body): Json<RegisterBody>,
) -> ApiResult<(StatusCode, JsonValue)> {
    let registration = Registration {
        email: Email::parse("email", &body.email)?,
        username: Username::parse(&body.username)?,
        password: Password::parse("password", &body.password)?,
        referral_code: body.referral_code,
    };
    let user = accounts::register(&state, registration, &ip).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "user": user.registered(&state.config) })),
    ))
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
    ip: ClientIp,
    UserAgent(user_agent): UserAgent,
    Json(body): Json<LoginBody>,
) -> ApiResult<JsonValue> {
    let attempt = LoginAttempt {
        email: Email::parse("email", &body.email)?,
        password: input::login_password(&body.password)?,
        totp_code: body.totp_code,
    };
    let (user, tokens) = accounts::login(&state, attempt, &ip, user_agent).await?;
    let mut out = tokens.to_json();
    out["user"] = user.summary(&state.config);
    Ok(axum::Json(out))
}

#[derive(Deserialize)]
struct RefreshBody {
    refresh_token: String,
}

async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshBody>,
) -> ApiResult<JsonValue> {
    let token = input::token("refresh_token", &body.refresh_token)?;
    Ok(axum::Json(
        sessions::refresh(&state, &token).await?.to_json(),
    ))
}

async fn logout(State(state): State<AppState>, auth: AuthUser) -> ApiResult<JsonValue> {
    sessions::revoke(&state, &auth.user.id, &auth.session.id).await?;
    Ok(message("Logged out"))
}

async fn me(State(state): State<AppState>, auth: AuthUser) -> JsonValue {
    axum::Json(json!({ "user": auth.user.profile(&state.config) }))
}

async fn list_sessions(State(state): State<AppState>, auth: AuthUser) -> ApiResult<JsonValue> {
    let list = sessions::list(&state, &auth.user.id).await?;
    // Sessions of an older generation no longer count, even before they are tidied away.
    let views: Vec<Value> = list
        .iter()
        .filter(|s| s.generation == auth.user.session_generation)
        .map(|s| s.view(&auth.session.id))
        .collect();
    Ok(axum::Json(json!({ "sessions": views })))
}

async fn revoke_session(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<JsonValue> {
    if id.len() > 64 || !sessions::revoke(&state, &auth.user.id, &id).await? {
        return Err(ApiError::not_found("session_not_found", "No such session"));
    }
    Ok(message("Session revoked"))
}

#[derive(Deserialize)]
struct EmailBody {
    email: String,
}

async fn forgot_password(
    State(state): State<AppState>,
    ip: ClientIp,
    Json(body): Json<EmailBody>,
) -> ApiResult<JsonValue> {
    let email = Email::parse("email", &body.email)?;
    accounts::forgot_password(&state, email, &ip).await?;
    Ok(message(accounts::FORGOT_PASSWORD_MESSAGE))
}

#[derive(Deserialize)]
struct ResetBody {
    password: String,
    token: String,
}

async fn reset_password(
    State(state): State<AppState>,
    Json(body): Json<ResetBody>,
) -> ApiResult<JsonValue> {
    let token = input::token("token", &body.token)?;
    let password = Password::parse("password", &body.password)?;
    accounts::reset_password(&state, &token, password).await?;
    Ok(message(
        "Your password has been reset; sign in with the new one",
    ))
}

async fn send_verification(State(state): State<AppState>, auth: AuthUser) -> ApiResult<JsonValue> {
    accounts::send_verification(&state, &auth.user).await?;
    Ok(message("Verification email sent"))
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
}

async fn verify_email(
    State(state): State<AppState>,
    Json(body): Json<TokenBody>,
) -> ApiResult<JsonValue> {
    let token = input::token("token", &body.token)?;
    accounts::verify_email(&state, &token).await?;
    Ok(message("Email verified"))
}

#[derive(Deserialize)]
struct ChangePasswordBody {
    current_password: String,
    new_password: String,
}

async fn change_password(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<ChangePasswordBody>,
) -> ApiResult<JsonValue> {
    let current = input::login_password(&body.current_password)
        .map_err(|_| ApiError::field("current_password", "is required"))?;
    let new = Password::parse("new_password", &body.new_password)?;
    accounts::change_password(&state, &auth.user, &auth.session.id, current, new).await?;
    Ok(message("Password changed; other sessions were signed out"))
}

#[derive(Deserialize)]
struct ChangeEmailBody {
    new_email: String,
    password: String,
}

async fn change_email(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<ChangeEmailBody>,
) -> ApiResult<JsonValue> {
    let new_email = Email::parse("new_email", &body.new_email)?;
    let password = input::login_password(&body.password)?;
    accounts::change_email(&state, &auth.user, new_email, password).await?;
    Ok(message("A confirmation link was sent to the new address"))
}

async fn confirm_email_change(
    State(state): State<AppState>,
    Json(body): Json<TokenBody>,
) -> ApiResult<JsonValue> {
    let token = input::token("token", &body.token)?;
    accounts::confirm_email_change(&state, &token).await?;
    Ok(message("Email address changed"))
}

async fn totp_setup(State(state): State<AppState>, auth: AuthUser) -> ApiResult<JsonValue> {
    let (secret, uri) = mfa::setup(&state, &auth.user).await?;
    Ok(axum::Json(json!({ "secret": secret, "uri": uri })))
}

#[derive(Deserialize)]
struct CodeBody {
    code: String,
}

fn code(raw: &str) -> ApiResult<&str> {
    let c = raw.trim();
    if c.is_empty() || c.len() > 32 {
        return Err(ApiError::field(
            "code",
            "must be a 6-digit TOTP code or a recovery code",
        ));
    }
    Ok(c)
}

async fn totp_enable(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<CodeBody>,
) -> ApiResult<JsonValue> {
    let code = code(&body.code)?;
    if !totp::looks_like_code(code) {
        return Err(ApiError::field(
            "code",
            "must be the 6-digit code from the authenticator app",
        ));
    }
    let recovery_codes = mfa::enable(&state, &auth.user, code).await?;
    Ok(axum::Json(json!({
        "message": "Two-factor authentication enabled; store the recovery codes safely",
        "recovery_codes": recovery_codes,
    })))
}

async fn totp_verify(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<CodeBody>,
) -> ApiResult<JsonValue> {
    mfa::require_code(&state, &auth.user, code(&body.code)?).await?;
    Ok(message("Code verified"))
}

async fn totp_status(State(state): State<AppState>, auth: AuthUser) -> ApiResult<JsonValue> {
    let left = if auth.user.totp_enabled {
        mfa::recovery_codes_left(&state, &auth.user).await?
    } else {
        0
    };
    Ok(axum::Json(json!({
        "enabled": auth.user.totp_enabled,
        "recovery_codes_remaining": left,
    })))
}

#[derive(Deserialize)]
struct DisableBody {
    password: String,
    code: String,
}

async fn totp_disable(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<DisableBody>,
) -> ApiResult<JsonValue> {
    let password = input::login_password(&body.password)?;
    let code = code(&body.code)?;
    if !auth.user.totp_enabled {
        return Err(ApiError::bad_request(
            "totp_not_enabled",
            "Two-factor authentication is not enabled",
        ));
    }
    accounts::confirm_password(&state, &auth.user, password).await?;
    mfa::require_code(&state, &auth.user, code).await?;
    mfa::disable(&state, &auth.user).await?;
    Ok(message("Two-factor authentication disabled"))
}

async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<CodeBody>,
) -> ApiResult<JsonValue> {
    mfa::require_code(&state, &auth.user, code(&body.code)?).await?;
    let codes = mfa::regenerate_recovery_codes(&state, &auth.user).await?;
    Ok(axum::Json(json!({ "recovery_codes": codes })))
}
