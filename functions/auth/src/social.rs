//! `/api/auth/oauth/*`: signing in with Google and GitHub, finishing a sign-up through one,
//! and the providers linked to an account.

use axum::extract::{Path, Query, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use buddo_shared::domain::identity::social::{self, Callback, Connection, SignInOutcome};
use buddo_shared::domain::input::{self, Username};
use buddo_shared::domain::RequestMeta;
use buddo_shared::http::openapi::{ErrorBody, Message};
use buddo_shared::http::{message, AuthUser, Json, Routes};
use buddo_shared::providers::{not_configured, ProviderName};
use buddo_shared::{ApiError, ApiResult, AppState};

use crate::views::LoginResponse;

#[derive(utoipa::OpenApi)]
#[openapi(paths(
    provider_authorize,
    provider_login,
    complete_provider_signup,
    link_provider,
    linked_providers,
    unlink_provider
))]
pub struct Api;

pub fn routes() -> Routes {
    Routes::new()
        .get("/api/auth/oauth/{provider}/authorize", provider_authorize)
        .post("/api/auth/oauth/{provider}/login", provider_login)
        .post("/api/auth/oauth/complete-signup", complete_provider_signup)
        .post("/api/auth/oauth/{provider}/link", link_provider)
        .get("/api/auth/oauth/connections", linked_providers)
        .delete("/api/auth/oauth/connections/{provider}", unlink_provider)
}

const PROVIDER: &str = "`google` or `github`";
const NOT_CONFIGURED: &str =
    "`provider_not_configured`: not a provider, or this deployment has not configured it";

fn provider(name: &str) -> ApiResult<ProviderName> {
    ProviderName::parse(name).ok_or_else(not_configured)
}

#[derive(Deserialize, ToSchema)]
struct AuthorizeQuery {
    /// Where the provider sends the person back: the hosted sign-in page's callback or one of
    /// the deployment's `SOCIAL_REDIRECT_URIS`.
    #[serde(default)]
    redirect_uri: String,
}

/// Where to send the person, and the state that comes back.
#[derive(Serialize, ToSchema)]
struct AuthorizeResponse {
    /// The provider's authorization URL, with the state, a PKCE challenge and (Google) a nonce.
    url: String,
    /// Single use, for 10 minutes: send it with the code to `…/login` or `…/link`.
    state: String,
}

/// Starts a sign-in (or a link) with a provider.
#[utoipa::path(get, path = "/api/auth/oauth/{provider}/authorize", tag = "auth",
    params(
        ("provider" = String, Path, description = PROVIDER),
        ("redirect_uri" = String, Query, description = "Where the provider sends the person back (registered with the provider and configured here)"),
    ),
    responses(
        (status = 200, description = "Send the person to `url`", body = AuthorizeResponse),
        (status = 400, description = "`invalid_redirect_uri`", body = ErrorBody),
        (status = 404, description = NOT_CONFIGURED, body = ErrorBody),
        (status = 502, description = "`provider_unavailable`: the provider's discovery document could not be read", body = ErrorBody),
    ))]
async fn provider_authorize(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(name): Path<String>,
    Query(q): Query<AuthorizeQuery>,
) -> ApiResult<Json<AuthorizeResponse>> {
    let provider = provider(&name)?;
    if q.redirect_uri.is_empty() || q.redirect_uri.len() > 512 {
        return Err(ApiError::field(
            "redirect_uri",
            "is required (at most 512 characters)",
        ));
    }
    let started = social::authorize(&state, provider, &q.redirect_uri, &meta).await?;
    Ok(Json(AuthorizeResponse {
        url: started.url,
        state: started.state,
    }))
}

#[derive(Deserialize, ToSchema)]
struct ProviderLoginBody {
    /// The code the provider sent back.
    #[schema(min_length = 1, max_length = 2048)]
    code: String,
    /// The `state` of `…/authorize`, as the provider sent it back.
    #[schema(min_length = 1, max_length = 128)]
    state: String,
    /// When the answer was `totp_required`: the same request again with a TOTP or recovery
    /// code.
    #[serde(default)]
    #[schema(max_length = 32)]
    totp_code: Option<String>,
    /// A trusted device's token: stands in for `totp_code`, as at `/api/auth/login`.
    #[serde(default)]
    #[schema(max_length = 128)]
    device_token: Option<String>,
    /// With a right `totp_code`: trust this device (the answer holds its `device_token`).
    #[serde(default)]
    remember_device: bool,
}

/// A sign-in through a provider: a login's answer, or a sign-up to finish.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
enum ProviderLoginResponse {
    SignedIn(LoginResponse),
    SignupRequired(SignupRequiredResponse),
}

/// The provider's person has no account: choose a username with
/// `POST /api/auth/oauth/complete-signup`.
#[derive(Serialize, ToSchema)]
struct SignupRequiredResponse {
    /// Always `true`.
    signup_required: bool,
    /// Single use, for 10 minutes.
    signup_token: String,
    /// The address the provider verified; the account's.
    #[schema(format = "email")]
    email: String,
    /// A free username from the provider's handle or the address.
    suggested_username: String,
}

/// Signs in with the code a provider sent back.
///
/// The account whose provider identity this is signs in (its TOTP step still applies). A
/// person with no account gets a sign-up token. An address that belongs to an account that
/// has not linked this provider is refused: sign in to that account and link the provider.
#[utoipa::path(post, path = "/api/auth/oauth/{provider}/login", tag = "auth",
    params(("provider" = String, Path, description = PROVIDER)),
    request_body = ProviderLoginBody,
    responses(
        (status = 200, description = "Signed in (as `POST /api/auth/login` answers), or `signup_required`", body = ProviderLoginResponse),
        (status = 400, description = "`invalid_state`: unknown, expired or already used; `invalid_code`: the provider refused the code; `invalid_id_token`: Google's ID token does not hold up; `validation_failed`", body = ErrorBody),
        (status = 401, description = "`totp_required` (with `totp_required: true`): send the same request again with `totp_code`; `invalid_totp_code`", body = ErrorBody),
        (status = 403, description = "`provider_email_unverified`: the provider has not verified the address; `account_disabled`", body = ErrorBody),
        (status = 404, description = NOT_CONFIGURED, body = ErrorBody),
        (status = 409, description = "`account_exists`: an account has this address and has not linked the provider", body = ErrorBody),
        (status = 502, description = "`provider_unavailable`", body = ErrorBody),
    ))]
async fn provider_login(
    State(state): State<AppState>,
    meta: RequestMeta,
    Path(name): Path<String>,
    Json(body): Json<ProviderLoginBody>,
) -> ApiResult<Json<ProviderLoginResponse>> {
    let provider = provider(&name)?;
    let callback = callback(&body.code, &body.state)?;
    let factor = crate::second_factor(
        body.totp_code.as_deref(),
        body.device_token.as_deref(),
        body.remember_device,
    )?;
    let outcome = social::sign_in(&state, provider, &callback, &factor, &meta).await?;
    Ok(Json(match outcome {
        SignInOutcome::SignedIn(user, tokens, device) => ProviderLoginResponse::SignedIn(
            LoginResponse::new(&user, tokens, device, &state.config),
        ),
        SignInOutcome::SignupRequired(offer) => {
            ProviderLoginResponse::SignupRequired(SignupRequiredResponse {
                signup_required: true,
                signup_token: offer.signup_token,
                email: offer.email,
                suggested_username: offer.suggested_username,
            })
        }
    }))
}

fn callback(code: &str, state: &str) -> ApiResult<Callback> {
    if code.trim().is_empty() || code.len() > 2048 {
        return Err(ApiError::field(
            "code",
            "is required (at most 2048 characters)",
        ));
    }
    Ok(Callback {
        code: code.trim().to_string(),
        state: input::token("state", state)?,
    })
}

#[derive(Deserialize, ToSchema)]
struct CompleteSignupBody {
    /// The `signup_token` of `…/login`.
    #[schema(min_length = 1, max_length = 128)]
    signup_token: String,
    /// 3 to 30 letters, digits or underscores, starting with a letter.
    #[schema(min_length = 3, max_length = 30, pattern = "^[A-Za-z][A-Za-z0-9_]*$")]
    username: String,
    /// Agrees to marketing mail (recorded with its time).
    #[serde(default)]
    marketing_opt_in: bool,
}

/// Creates the account of a provider's person, with the address the provider verified and no
/// password (one can be set with `POST /api/auth/forgot-password`), and signs in.
#[utoipa::path(post, path = "/api/auth/oauth/complete-signup", tag = "auth",
    request_body = CompleteSignupBody,
    responses(
        (status = 200, description = "The account is created and signed in (as `POST /api/auth/login` answers)", body = LoginResponse),
        (status = 400, description = "`invalid_signup_token`; `validation_failed`", body = ErrorBody),
        (status = 409, description = "`username_taken`; `account_exists`: the address or the provider identity got an account meanwhile", body = ErrorBody),
    ))]
async fn complete_provider_signup(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<CompleteSignupBody>,
) -> ApiResult<Json<LoginResponse>> {
    let token = input::token("signup_token", &body.signup_token)?;
    let username = Username::parse(&body.username)?;
    let (user, tokens) =
        social::complete_signup(&state, &token, &username, body.marketing_opt_in, &meta).await?;
    Ok(Json(LoginResponse::new(&user, tokens, None, &state.config)))
}

#[derive(Deserialize, ToSchema)]
struct LinkBody {
    /// The code the provider sent back.
    #[schema(min_length = 1, max_length = 2048)]
    code: String,
    /// The `state` of `…/authorize`.
    #[schema(min_length = 1, max_length = 128)]
    state: String,
}

/// A provider linked to the account (the references' data providers).
#[derive(Serialize, ToSchema)]
struct ConnectionView {
    /// `google` or `github`.
    provider: String,
    /// The provider's handle (GitHub's login); null for Google.
    login: Option<String>,
    /// The provider's address of the person when it was linked.
    #[schema(format = "email")]
    email: String,
    /// RFC 3339.
    linked_at: String,
}

impl From<Connection> for ConnectionView {
    fn from(c: Connection) -> Self {
        ConnectionView {
            provider: c.provider.as_str().into(),
            login: c.login,
            email: c.email,
            linked_at: c.linked_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
struct ConnectionList {
    connections: Vec<ConnectionView>,
}

/// Links a provider to the signed-in account; it can sign in with it from then on.
#[utoipa::path(post, path = "/api/auth/oauth/{provider}/link", tag = "auth",
    security(("user_jwt" = [])),
    params(("provider" = String, Path, description = PROVIDER)),
    request_body = LinkBody,
    responses(
        (status = 200, description = "Linked", body = ConnectionView),
        (status = 400, description = "`invalid_state`, `invalid_code`, `invalid_id_token`, `validation_failed`", body = ErrorBody),
        (status = 401, description = super::RECENT_LOGIN_REQUIRED, body = ErrorBody),
        (status = 403, description = "`provider_email_unverified`", body = ErrorBody),
        (status = 404, description = NOT_CONFIGURED, body = ErrorBody),
        (status = 409, description = "`already_linked`; `identity_in_use`: it signs in to another account; `provider_already_linked`: another identity of this provider is linked", body = ErrorBody),
        (status = 502, description = "`provider_unavailable`", body = ErrorBody),
    ))]
async fn link_provider(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Path(name): Path<String>,
    Json(body): Json<LinkBody>,
) -> ApiResult<Json<ConnectionView>> {
    let provider = provider(&name)?;
    let callback = callback(&body.code, &body.state)?;
    let linked = social::link(&state, &auth, provider, &callback, &meta).await?;
    Ok(Json(linked.into()))
}

/// The providers linked to the signed-in account.
#[utoipa::path(get, path = "/api/auth/oauth/connections", tag = "auth",
    security(("user_jwt" = [])),
    responses((status = 200, description = "The linked providers", body = ConnectionList)))]
async fn linked_providers(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<ConnectionList>> {
    let list = social::connections(&state, &auth.user.id).await?;
    Ok(Json(ConnectionList {
        connections: list.into_iter().map(Into::into).collect(),
    }))
}

/// Unlinks a provider from the signed-in account.
#[utoipa::path(delete, path = "/api/auth/oauth/connections/{provider}", tag = "auth",
    security(("user_jwt" = [])),
    params(("provider" = String, Path, description = PROVIDER)),
    responses(
        (status = 200, description = "Unlinked", body = Message),
        (status = 404, description = "`not_linked`; `provider_not_configured` for a name that is not a provider", body = ErrorBody),
        (status = 409, description = "`last_sign_in_method`: no password and no other provider would be left; `account_changed`: try again", body = ErrorBody),
    ))]
async fn unlink_provider(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Path(name): Path<String>,
) -> ApiResult<Json<Message>> {
    let provider = provider(&name)?;
    social::unlink(&state, &auth, provider, &meta).await?;
    Ok(message("Unlinked"))
}
