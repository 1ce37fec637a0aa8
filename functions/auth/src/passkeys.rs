//! `/api/auth/passkeys/*`: registering passkeys (WebAuthn), listing, renaming and removing
//! them, and signing in with one without typing a name.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use buddo_shared::domain::identity::passkeys::{self, Options, PasskeyRecord};
use buddo_shared::domain::RequestMeta;
use buddo_shared::http::openapi::{ErrorBody, Message};
use buddo_shared::http::{message, AuthUser, Json, Routes};
use buddo_shared::{ApiError, ApiResult, AppState};

use crate::views::LoginResponse;

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    registration_options,
    register_passkey,
    list_passkeys,
    rename_passkey,
    delete_passkey,
    sign_in_options,
    sign_in
))]
pub struct Api;

pub fn routes() -> Routes {
    Routes::new()
        .post("/api/auth/passkeys/register/options", registration_options)
        .post("/api/auth/passkeys/register", register_passkey)
        .get("/api/auth/passkeys", list_passkeys)
        .patch("/api/auth/passkeys/{id}", rename_passkey)
        .delete("/api/auth/passkeys/{id}", delete_passkey)
        .post("/api/auth/passkeys/login/options", sign_in_options)
        .post("/api/auth/passkeys/login", sign_in)
}

const RECENT_LOGIN_REQUIRED: &str =
    "`invalid_token`: the bearer token is missing, invalid, expired or revoked; `recent_login_required`: sign in again first";

/// A ceremony's challenge: send `challenge_id` back with the authenticator's answer.
#[derive(Serialize, ToSchema)]
struct OptionsResponse {
    /// Single use, for `PASSKEY_CHALLENGE_SECONDS` (300).
    challenge_id: String,
    /// What `navigator.credentials.create()` (registration) or `navigator.credentials.get()`
    /// (sign-in) takes: `{"publicKey": {…}}`, binary fields in base64url.
    #[schema(value_type = Object)]
    options: Value,
}

impl From<Options> for OptionsResponse {
    fn from(options: Options) -> Self {
        OptionsResponse {
            challenge_id: options.challenge_id,
            options: options.public_key,
        }
    }
}

/// A passkey of the user's.
#[derive(Serialize, ToSchema)]
struct PasskeyView {
    id: String,
    /// The owner's name for it (at first, the browser it was added from).
    name: String,
    /// RFC 3339.
    created_at: String,
    /// When it last signed in (RFC 3339); null before its first sign-in.
    #[schema(required = true)]
    last_used_at: Option<String>,
    /// The credential may be synced or backed up (not bound to one device).
    backup_eligible: bool,
    /// The credential is backed up or synced now.
    backup_state: bool,
}

impl PasskeyView {
    fn new(record: &PasskeyRecord) -> Self {
        PasskeyView {
            id: record.id.clone(),
            name: record.name.clone(),
            created_at: record.created_at.clone(),
            last_used_at: record.last_used_at.clone(),
            backup_eligible: record.backup_eligible,
            backup_state: record.backup_state,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct PasskeyResponse {
    passkey: PasskeyView,
}

#[derive(Serialize, ToSchema)]
struct PasskeyList {
    passkeys: Vec<PasskeyView>,
}

/// Starts adding a passkey to the signed-in account.
///
/// Needs a recent sign-in. The authenticator is asked for a discoverable credential with user
/// verification; the account's other passkeys are excluded.
#[utoipa::path(post, path = "/api/auth/passkeys/register/options", tag = "auth",
    security(("user_jwt" = [])),
    responses(
        (status = 200, description = "The challenge and the options for `navigator.credentials.create()`", body = OptionsResponse),
        (status = 401, description = RECENT_LOGIN_REQUIRED, body = ErrorBody),
        (status = 409, description = "`too_many_passkeys`: the account holds 20 already", body = ErrorBody),
    ))]
async fn registration_options(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<OptionsResponse>> {
    let options = passkeys::start_registration(&state, &auth).await?;
    Ok(Json(options.into()))
}

#[derive(Deserialize, ToSchema)]
struct RegisterBody {
    /// The `challenge_id` of `…/register/options`.
    #[schema(max_length = 64)]
    challenge_id: String,
    /// A name for the passkey, 1 to 64 characters; left out: the browser's name.
    #[serde(default)]
    #[schema(max_length = 64)]
    name: Option<String>,
    /// The `PublicKeyCredential` that `navigator.credentials.create()` answered, as JSON
    /// (`toJSON()`: binary fields in base64url).
    #[schema(value_type = Object)]
    credential: Value,
}

/// Adds a passkey with the authenticator's answer.
///
/// Needs a recent sign-in, and the challenge of `…/register/options` (single use, expires).
#[utoipa::path(post, path = "/api/auth/passkeys/register", tag = "auth",
    security(("user_jwt" = [])), request_body = RegisterBody,
    responses(
        (status = 201, description = "The passkey is added", body = PasskeyResponse),
        (status = 400, description = "`invalid_challenge`: unknown, expired or already used; `invalid_passkey`: the answer does not verify (origin, challenge, relying party, user verification); `validation_failed`, `malformed_json`, `invalid_request`", body = ErrorBody),
        (status = 401, description = RECENT_LOGIN_REQUIRED, body = ErrorBody),
        (status = 409, description = "`passkey_exists`: this credential is registered already", body = ErrorBody),
    ))]
async fn register_passkey(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Json(body): Json<RegisterBody>,
) -> ApiResult<(StatusCode, Json<PasskeyResponse>)> {
    let name = body.name.as_deref().map(passkeys::name).transpose()?;
    let credential = serde_json::from_value(body.credential)
        .map_err(|_| ApiError::field("credential", "is not a WebAuthn registration"))?;
    let record =
        passkeys::finish_registration(&state, &auth, &body.challenge_id, name, &credential, &meta)
            .await?;
    let passkey = PasskeyView::new(&record);
    Ok((StatusCode::CREATED, Json(PasskeyResponse { passkey })))
}

/// The signed-in user's passkeys.
#[utoipa::path(get, path = "/api/auth/passkeys", tag = "auth",
    security(("user_jwt" = [])),
    responses((status = 200, description = "The passkeys, oldest first", body = PasskeyList)))]
async fn list_passkeys(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<PasskeyList>> {
    let records = passkeys::list(&state, &auth.user.id).await?;
    Ok(Json(PasskeyList {
        passkeys: records.iter().map(PasskeyView::new).collect(),
    }))
}

#[derive(Deserialize, ToSchema)]
struct RenameBody {
    /// 1 to 64 characters.
    #[schema(min_length = 1, max_length = 64)]
    name: String,
}

/// Renames one of the user's passkeys.
#[utoipa::path(patch, path = "/api/auth/passkeys/{id}", tag = "auth",
    security(("user_jwt" = [])), request_body = RenameBody,
    params(("id" = String, Path, description = "The passkey's id (`GET /api/auth/passkeys`)")),
    responses(
        (status = 200, description = "Renamed", body = Message),
        (status = 400, description = "`validation_failed`, `malformed_json`, `invalid_request`", body = ErrorBody),
        (status = 404, description = "`passkey_not_found`", body = ErrorBody),
    ))]
async fn rename_passkey(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<RenameBody>,
) -> ApiResult<Json<Message>> {
    passkeys::rename(&state, &auth.user, &id, &body.name).await?;
    Ok(message("Passkey renamed"))
}

/// Removes one of the user's passkeys: it signs in no more, at once.
#[utoipa::path(delete, path = "/api/auth/passkeys/{id}", tag = "auth",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The passkey's id (`GET /api/auth/passkeys`)")),
    responses(
        (status = 200, description = "Removed", body = Message),
        (status = 404, description = "`passkey_not_found`", body = ErrorBody),
    ))]
async fn delete_passkey(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Path(id): Path<String>,
) -> ApiResult<Json<Message>> {
    passkeys::remove(&state, &auth.user, &id, &meta).await?;
    Ok(message("Passkey removed"))
}

/// Starts signing in with a passkey (no name typed: the authenticator offers the account's).
///
/// Counts against the sign-in limit of the caller's address.
#[utoipa::path(post, path = "/api/auth/passkeys/login/options", tag = "auth",
    responses(
        (status = 200, description = "The challenge and the options for `navigator.credentials.get()`", body = OptionsResponse),
        (status = 429, description = "`rate_limited`", body = ErrorBody),
    ))]
async fn sign_in_options(
    State(state): State<AppState>,
    meta: RequestMeta,
) -> ApiResult<Json<OptionsResponse>> {
    let options = passkeys::start_sign_in(&state, &meta).await?;
    Ok(Json(options.into()))
}

#[derive(Deserialize, ToSchema)]
struct SignInBody {
    /// The `challenge_id` of `…/login/options`.
    #[schema(max_length = 64)]
    challenge_id: String,
    /// The `PublicKeyCredential` that `navigator.credentials.get()` answered, as JSON
    /// (`toJSON()`: binary fields in base64url).
    #[schema(value_type = Object)]
    credential: Value,
}

/// Signs in with a passkey, starting a login session.
///
/// Answers as `POST /api/auth/login` does. A passkey is two factors: no TOTP code is asked,
/// even when two-factor authentication is on.
#[utoipa::path(post, path = "/api/auth/passkeys/login", tag = "auth",
    request_body = SignInBody,
    responses(
        (status = 200, description = "Signed in: the session's tokens and the user", body = LoginResponse),
        (status = 400, description = "`invalid_challenge`: unknown, expired or already used; `validation_failed`, `malformed_json`, `invalid_request`", body = ErrorBody),
        (status = 401, description = "`invalid_passkey`: not a passkey of this site's accounts (removed, another user's), or the answer does not verify (signature, origin, user verification), or its sign counter went back (a cloned authenticator); `session_revoked`", body = ErrorBody),
        (status = 403, description = "`account_disabled`", body = ErrorBody),
        (status = 429, description = "`rate_limited`", body = ErrorBody),
    ))]
async fn sign_in(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<SignInBody>,
) -> ApiResult<Json<LoginResponse>> {
    let credential = serde_json::from_value(body.credential)
        .map_err(|_| ApiError::field("credential", "is not a WebAuthn assertion"))?;
    let (user, tokens) = passkeys::sign_in(&state, &body.challenge_id, &credential, &meta).await?;
    Ok(Json(LoginResponse::new(&user, tokens, None, &state.config)))
}
