//! Sign-in with Google and GitHub (docs/architecture.md, "Sign-in with Google and GitHub").
//!
//! A sign-in starts at [`authorize`]: a random `state`, a PKCE verifier and a nonce are kept
//! (hashed by the state) for ten minutes, and the person is sent to the provider. The code the
//! provider sends back is spent once: the first request naming the state claims it atomically,
//! so a replayed state is refused before any provider is asked. The provider's identity then
//! signs in the account it is linked to; an identity with no account gets a sign-up token and
//! chooses a username ([`complete_signup`]); an identity whose address belongs to an account
//! that has not linked it is refused with `account_exists` — never linked silently, which
//! would hand the account to whoever controls that provider account.
//!
//! The account's second factor is asked as after a password: when it has TOTP, the state keeps
//! the identified account for the rest of its ten minutes and the same request is sent again
//! with `totp_code`.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::accounts::{self, BrowserSignIn, SecondFactor};
use super::sessions::{self, Authenticated, Proof, Tokens};
use super::trusted_devices::DeviceGrant;
use super::usernames;
use super::users::{self, User};
use crate::clock::rfc3339;
use crate::crypto::{hash_secret, random_token};
use crate::domain::activity::{self, ActivityKind};
use crate::domain::input::{Email, Username};
use crate::domain::RequestMeta;
use crate::error::{ApiError, ApiResult, OnCondition};
use crate::keys;
use crate::providers::{AuthorizationRequest, CodeExchange, ProviderIdentity, ProviderName};
use crate::state::AppState;
use crate::store::{self, Cond, Query, SortKey, Update, WriteOp, TTL};

/// How long a sign-in sent to a provider, and a sign-up token, stay usable.
const FLOW_SECONDS: i64 = 600;

/// A sign-in sent to a provider.
#[derive(Serialize, Deserialize)]
struct ProviderSignIn {
    provider: ProviderName,
    pkce_verifier: String,
    nonce: String,
    redirect_uri: String,
    expires_at: i64,
    /// Set by the request that spends the code: a state is used once.
    #[serde(default)]
    claimed: bool,
    /// The account the provider identified, while its TOTP code is awaited.
    #[serde(default)]
    awaiting_code: Option<AwaitingCode>,
}

#[derive(Clone, Serialize, Deserialize)]
struct AwaitingCode {
    user_id: String,
    credential_generation: i64,
}

/// A provider identity with no account yet.
#[derive(Serialize, Deserialize)]
struct SignUp {
    provider: ProviderName,
    subject: String,
    email: String,
    login: Option<String>,
    #[serde(default)]
    suggested_username: String,
    expires_at: i64,
}

/// A provider linked to an account.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Connection {
    pub provider: ProviderName,
    /// The provider's id of the person.
    pub subject: String,
    /// The provider's handle (GitHub's login).
    #[serde(default)]
    pub login: Option<String>,
    /// The provider's address of the person when linked.
    pub email: String,
    pub linked_at: String,
}

/// Where to send the person, and the state the provider sends back.
pub struct Authorization {
    pub url: String,
    pub state: String,
}

/// What the provider sent back.
pub struct Callback {
    pub code: String,
    pub state: String,
}

/// An identity with no account: the token that finishes the sign-up, and what it offers.
pub struct SignupRequired {
    pub provider: ProviderName,
    pub signup_token: String,
    pub email: String,
    pub suggested_username: String,
}

/// Where an API sign-in through a provider stands.
pub enum SignInOutcome {
    /// Signed in; the grant of a device trusted on the way.
    SignedIn(Box<User>, Tokens, Option<DeviceGrant>),
    SignupRequired(SignupRequired),
}

/// Where a browser's sign-in through a provider stands.
pub enum BrowserOutcome {
    SignIn(BrowserSignIn),
    SignupRequired(SignupRequired),
}

fn invalid_state() -> ApiError {
    ApiError::bad_request(
        "invalid_state",
        "The sign-in state is unknown, expired or already used: start again",
    )
}

fn invalid_signup_token() -> ApiError {
    ApiError::bad_request(
        "invalid_signup_token",
        "The sign-up token is unknown, expired or already used: sign in with the provider again",
    )
}

fn account_exists(provider: ProviderName) -> ApiError {
    ApiError::conflict(
        "account_exists",
        format!(
            "An account with this {} address exists: sign in to it, then link {} from the \
             account",
            provider.title(),
            provider.title()
        ),
    )
}

/// The hosted sign-in page's own redirect URI for a provider.
pub fn page_callback(state: &AppState, provider: ProviderName) -> String {
    format!(
        "{}/signin/{}/callback",
        state.config.oauth.issuer,
        provider.as_str()
    )
}

/// Starts a sign-in (or a link) with `provider`, coming back to `redirect_uri`: the hosted
/// page's callback or one of `SOCIAL_REDIRECT_URIS`.
pub async fn authorize(
    state: &AppState,
    provider: ProviderName,
    redirect_uri: &str,
    meta: &RequestMeta,
) -> ApiResult<Authorization> {
    let client = state.providers.get(provider)?;
    let allowed = redirect_uri == page_callback(state, provider)
        || state
            .config
            .social
            .redirect_uris
            .iter()
            .any(|u| u == redirect_uri);
    if !allowed {
        return Err(ApiError::bad_request(
            "invalid_redirect_uri",
            "redirect_uri is not one of the configured redirect URIs",
        ));
    }
    // Each start writes an item: counted against the caller's sign-in attempts.
    let limit = state.config.rate_limits.login;
    state
        .limiter
        .hit("social-authorize", &meta.ip_subject(), limit)
        .await?;
    let flow = random_token();
    let record = ProviderSignIn {
        provider,
        pkce_verifier: random_token(),
        nonce: random_token(),
        redirect_uri: redirect_uri.to_string(),
        expires_at: state.now_unix() + FLOW_SECONDS,
        claimed: false,
        awaiting_code: None,
    };
    let url = client
        .authorization_url(&AuthorizationRequest {
            state: &flow,
            pkce_verifier: &record.pkce_verifier,
            nonce: &record.nonce,
            redirect_uri,
        })
        .await?;
    let mut item = store::to_item(&keys::provider_sign_in(&hash_secret(&flow)), &record)?;
    item.insert(TTL.into(), record.expires_at.into());
    state.table.write(vec![WriteOp::put_new(item)]).await?;
    Ok(Authorization { url, state: flow })
}

/// The state's sign-in, while it is usable and of this provider.
async fn load_flow(
    state: &AppState,
    provider: ProviderName,
    flow: &str,
) -> ApiResult<(store::Key, ProviderSignIn)> {
    let key = keys::provider_sign_in(&hash_secret(flow));
    let item = state.table.get(&key).await?.ok_or_else(invalid_state)?;
    let record: ProviderSignIn = store::from_item(item)?;
    if record.provider != provider || record.expires_at <= state.now_unix() {
        return Err(invalid_state());
    }
    Ok((key, record))
}

/// Claims the state (once) and trades the code for the provider's identity, which must come
/// with an address the provider has verified.
async fn identify(
    state: &AppState,
    provider: ProviderName,
    key: &store::Key,
    record: &ProviderSignIn,
    code: &str,
) -> ApiResult<ProviderIdentity> {
    let client = state.providers.get(provider)?;
    let claim = Update::new(key.clone())
        .set("claimed", true)
        .when(Cond::Exists.and(Cond::ne("claimed", true)));
    state
        .table
        .write(vec![claim.into_op()])
        .await
        .on_any_condition(invalid_state)?;
    let identity = client
        .identify(&CodeExchange {
            code,
            pkce_verifier: &record.pkce_verifier,
            nonce: &record.nonce,
            redirect_uri: &record.redirect_uri,
            now: state.now_unix(),
        })
        .await?;
    if !identity.email_verified || Email::parse("email", &identity.email).is_err() {
        return Err(ApiError::forbidden(
            "provider_email_unverified",
            format!(
                "{} has not verified this account's email address",
                provider.title()
            ),
        ));
    }
    Ok(identity)
}

/// The account an identity signs in to, or why there is none.
enum Resolved {
    Account(Box<User>),
    NoAccount,
}

async fn resolve(
    state: &AppState,
    provider: ProviderName,
    identity: &ProviderIdentity,
) -> ApiResult<Resolved> {
    let table = state.table.as_ref();
    let marker_key = keys::provider_identity(provider.as_str(), &identity.subject);
    let (marker, email_owner) = tokio::join!(
        table.get(&marker_key),
        users::find_by_email(table, &identity.email),
    );
    let (marker, email_owner) = (marker?, email_owner?);
    if let Some(marker) = marker {
        let marker: users::Marker = store::from_item(marker)?;
        if let Some(user) = users::get(table, &marker.user_id).await? {
            return Ok(Resolved::Account(Box::new(user)));
        }
    }
    if email_owner.is_some() {
        return Err(account_exists(provider));
    }
    Ok(Resolved::NoAccount)
}

/// A sign-up token for an identity with no account.
async fn offer_signup(
    state: &AppState,
    provider: ProviderName,
    identity: &ProviderIdentity,
) -> ApiResult<SignupRequired> {
    let token = random_token();
    let record = SignUp {
        provider,
        subject: identity.subject.clone(),
        email: identity.email.clone(),
        login: identity.login.clone(),
        suggested_username: suggest_username(state, identity).await?,
        expires_at: state.now_unix() + FLOW_SECONDS,
    };
    let mut item = store::to_item(&keys::provider_sign_up(&hash_secret(&token)), &record)?;
    item.insert(TTL.into(), record.expires_at.into());
    state.table.write(vec![WriteOp::put_new(item)]).await?;
    Ok(SignupRequired {
        provider,
        signup_token: token,
        email: record.email,
        suggested_username: record.suggested_username,
    })
}

/// A free username from the provider's handle or the address: letters, digits and
/// underscores, starting with a letter; digits appended when it is taken.
async fn suggest_username(state: &AppState, identity: &ProviderIdentity) -> ApiResult<String> {
    let source = identity
        .login
        .clone()
        .unwrap_or_else(|| identity.email.split('@').next().unwrap_or("").to_string());
    let mut base: String = source
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .skip_while(|c| !c.is_ascii_alphabetic())
        .take(24)
        .collect();
    if base.len() < 3 {
        base = format!("user{base}");
    }
    let mut candidate = base.clone();
    for _ in 0..3 {
        let lower = candidate.to_lowercase();
        if !usernames::is_reserved(&lower)
            && state
                .table
                .get(&keys::username_marker(&lower))
                .await?
                .is_none()
        {
            return Ok(candidate);
        }
        candidate = format!("{base}{}", rand::random::<u16>() % 10_000);
    }
    Ok(candidate)
}

/// Signs in through a provider on the API: the code and state the provider sent back, then the
/// account's second factor as after a password ([`accounts::second_factor`]: a TOTP code, a
/// trusted device's token, and whether to trust this device) — the same request sent again
/// with it when the answer was `totp_required`.
pub async fn sign_in(
    state: &AppState,
    provider: ProviderName,
    callback: &Callback,
    factor: &SecondFactor,
    meta: &RequestMeta,
) -> ApiResult<SignInOutcome> {
    state.providers.get(provider)?;
    let (key, record) = load_flow(state, provider, &callback.state).await?;
    let user = match &record.awaiting_code {
        Some(awaiting) => users::get(state.table.as_ref(), &awaiting.user_id)
            .await?
            .filter(|u| u.credential_generation == awaiting.credential_generation)
            .ok_or_else(invalid_state)?,
        None => {
            let identity = identify(state, provider, &key, &record, &callback.code).await?;
            match resolve(state, provider, &identity).await? {
                Resolved::Account(user) => *user,
                Resolved::NoAccount => {
                    remove_flow(state, &key).await;
                    let offer = offer_signup(state, provider, &identity).await?;
                    return Ok(SignInOutcome::SignupRequired(offer));
                }
            }
        }
    };
    accounts::still_enabled(&user)?;
    if user.totp_enabled && record.awaiting_code.is_none() {
        // The code spent, the state now stands for this account until its second factor.
        await_code(state, &key, &user).await?;
    }
    let (proof, device) = accounts::second_factor(state, &user, factor, meta).await?;
    // The state is spent with the session's start: one session per sign-in.
    state
        .table
        .write(vec![WriteOp::delete_existing(key)])
        .await
        .on_any_condition(invalid_state)?;
    let tokens = sessions::start(state, &user, proof.after(Proof::Provider), meta).await?;
    Ok(SignInOutcome::SignedIn(Box::new(user), tokens, device))
}

/// Keeps the identified account on the state while its TOTP code is awaited.
async fn await_code(state: &AppState, key: &store::Key, user: &User) -> ApiResult<()> {
    let awaiting = AwaitingCode {
        user_id: user.id.clone(),
        credential_generation: user.credential_generation,
    };
    let update = Update::new(key.clone())
        .set(
            "awaiting_code",
            serde_json::to_value(&awaiting).map_err(ApiError::internal)?,
        )
        .when(Cond::eq("claimed", true));
    state
        .table
        .write(vec![update.into_op()])
        .await
        .on_any_condition(invalid_state)
}

async fn remove_flow(state: &AppState, key: &store::Key) {
    if let Err(e) = state.table.write(vec![WriteOp::delete(key.clone())]).await {
        tracing::warn!(error = %e, "removing a spent provider sign-in");
    }
}

/// Signs a browser in through a provider (the hosted page's callback): done (no TOTP, or the
/// token of a device the browser was trusted as), waiting for a TOTP code on the page's code
/// step, or a sign-up to finish.
pub async fn browser_sign_in(
    state: &AppState,
    provider: ProviderName,
    callback: &Callback,
    device_token: Option<String>,
    meta: &RequestMeta,
) -> ApiResult<BrowserOutcome> {
    state.providers.get(provider)?;
    let (key, record) = load_flow(state, provider, &callback.state).await?;
    if record.awaiting_code.is_some() {
        return Err(invalid_state());
    }
    let identity = identify(state, provider, &key, &record, &callback.code).await?;
    let resolved = resolve(state, provider, &identity).await;
    remove_flow(state, &key).await;
    match resolved? {
        Resolved::Account(user) => {
            let step =
                accounts::browser_second_step(state, &user, Proof::Provider, device_token, meta)
                    .await?;
            Ok(BrowserOutcome::SignIn(step))
        }
        Resolved::NoAccount => Ok(BrowserOutcome::SignupRequired(
            offer_signup(state, provider, &identity).await?,
        )),
    }
}

/// Finishes a sign-up through a provider: the account, with the provider's (verified)
/// address, the chosen username, no password, and the provider linked — one atomic write that
/// spends the token.
async fn create_account(
    state: &AppState,
    signup_token: &str,
    username: &Username,
    marketing_opt_in: bool,
    meta: &RequestMeta,
) -> ApiResult<User> {
    let token_key = keys::provider_sign_up(&hash_secret(signup_token));
    let item = state
        .table
        .get(&token_key)
        .await?
        .ok_or_else(invalid_signup_token)?;
    let signup: SignUp = store::from_item(item)?;
    if signup.expires_at <= state.now_unix() {
        return Err(invalid_signup_token());
    }
    if usernames::is_reserved(&username.lower()) {
        return Err(ApiError::conflict(
            "username_taken",
            "This username is taken",
        ));
    }
    let email = Email::parse("email", &signup.email)?;
    let counter = state
        .table
        .update_returning(Update::new(keys::counter("registrations")).add("value", 1))
        .await?;
    let number = counter
        .get("value")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(1);
    let mut user = accounts::new_account(state, &email, username, String::new(), None, number);
    let now = rfc3339(state.now());
    user.email_verified = true;
    user.is_admin = state.config.admin_emails.iter().any(|a| a == &user.email);
    user.linked_providers = 1;
    user.marketing_opt_in = marketing_opt_in;
    user.marketing_opt_in_at = marketing_opt_in.then(|| now.clone());
    let connection = Connection {
        provider: signup.provider,
        subject: signup.subject.clone(),
        login: signup.login.clone(),
        email: signup.email.clone(),
        linked_at: now,
    };
    let marker_key = keys::provider_identity(signup.provider.as_str(), &signup.subject);
    let extra = vec![
        WriteOp::delete_existing(token_key.clone()),
        WriteOp::put_new(users::marker_item(&marker_key, &user.id)),
        WriteOp::put_new(store::to_item(
            &keys::connection(&user.id, signup.provider.as_str()),
            &connection,
        )?),
        activity::record(
            state,
            &user.id,
            ActivityKind::ProviderLinked,
            Some(meta),
            json!({ "provider": signup.provider, "sign_up": true }),
        )?,
    ];
    accounts::create(state, &mut user, username, extra)
        .await
        .on_condition(&token_key, invalid_signup_token)
        .on_condition(&marker_key, || account_exists(signup.provider))
        .map_err(|e| match e {
            // Someone registered the address meanwhile: sign in and link instead.
            ApiError::Conflict {
                code: "email_taken",
                ..
            } => account_exists(signup.provider),
            e => e,
        })?;
    Ok(user)
}

/// Finishes a sign-up through a provider on the API, answering like a login.
pub async fn complete_signup(
    state: &AppState,
    signup_token: &str,
    username: &Username,
    marketing_opt_in: bool,
    meta: &RequestMeta,
) -> ApiResult<(User, Tokens)> {
    let user = create_account(state, signup_token, username, marketing_opt_in, meta).await?;
    let tokens = sessions::start(state, &user, Proof::Provider, meta).await?;
    Ok((user, tokens))
}

/// Finishes a sign-up through a provider on the hosted pages; the answer is the session
/// cookie's secret.
pub async fn complete_browser_signup(
    state: &AppState,
    signup_token: &str,
    username: &Username,
    marketing_opt_in: bool,
    meta: &RequestMeta,
) -> ApiResult<String> {
    let user = create_account(state, signup_token, username, marketing_opt_in, meta).await?;
    sessions::start_browser(state, &user, Proof::Provider, meta).await
}

/// What a sign-up token offers (the hosted page shows it), while it is usable.
pub async fn signup_offer(state: &AppState, signup_token: &str) -> ApiResult<SignupRequired> {
    let item = state
        .table
        .get(&keys::provider_sign_up(&hash_secret(signup_token)))
        .await?
        .ok_or_else(invalid_signup_token)?;
    let signup: SignUp = store::from_item(item)?;
    if signup.expires_at <= state.now_unix() {
        return Err(invalid_signup_token());
    }
    Ok(SignupRequired {
        provider: signup.provider,
        signup_token: signup_token.to_string(),
        email: signup.email,
        suggested_username: signup.suggested_username,
    })
}

/// Links a provider to the signed-in account (after a recent login): the identity must not
/// sign in to another account, and the account must not have this provider linked already.
pub async fn link(
    state: &AppState,
    auth: &Authenticated,
    provider: ProviderName,
    callback: &Callback,
    meta: &RequestMeta,
) -> ApiResult<Connection> {
    sessions::require_recent_login(state, auth)?;
    state.providers.get(provider)?;
    let (key, record) = load_flow(state, provider, &callback.state).await?;
    if record.awaiting_code.is_some() {
        return Err(invalid_state());
    }
    let identity = identify(state, provider, &key, &record, &callback.code).await?;
    remove_flow(state, &key).await;
    let user = &auth.user;
    let connection = Connection {
        provider,
        subject: identity.subject.clone(),
        login: identity.login.clone(),
        email: identity.email.clone(),
        linked_at: rfc3339(state.now()),
    };
    let marker_key = keys::provider_identity(provider.as_str(), &identity.subject);
    let connection_key = keys::connection(&user.id, provider.as_str());
    let user_key = keys::user(&user.id);
    let ops = vec![
        WriteOp::put_new(users::marker_item(&marker_key, &user.id)),
        WriteOp::put_new(store::to_item(&connection_key, &connection)?),
        Update::new(user_key.clone())
            .add("linked_providers", 1)
            .when(Cond::Exists)
            .into_op(),
        activity::record(
            state,
            &user.id,
            ActivityKind::ProviderLinked,
            Some(meta),
            json!({ "provider": provider }),
        )?,
    ];
    let written = state.table.write(ops).await;
    if written.as_ref().err().and_then(|e| e.failed_key()) == Some(&marker_key) {
        let owner = state.table.get(&marker_key).await?;
        let owner: Option<users::Marker> = owner.map(store::from_item).transpose()?;
        return Err(match owner {
            Some(m) if m.user_id == user.id => ApiError::conflict(
                "already_linked",
                format!("This {} account is linked already", provider.title()),
            ),
            _ => ApiError::conflict(
                "identity_in_use",
                format!(
                    "This {} account signs in to another account",
                    provider.title()
                ),
            ),
        });
    }
    written
        .on_condition(&connection_key, || {
            ApiError::conflict(
                "provider_already_linked",
                format!(
                    "Another {} account is linked: unlink it first",
                    provider.title()
                ),
            )
        })
        .on_condition(&user_key, ApiError::invalid_token)?;
    Ok(connection)
}

/// The providers linked to the account.
pub async fn connections(state: &AppState, user_id: &str) -> ApiResult<Vec<Connection>> {
    let page = state
        .table
        .query(
            &Query::partition(keys::user_pk(user_id))
                .sk(SortKey::BeginsWith(keys::CONNECTION_PREFIX.into())),
        )
        .await?;
    page.items
        .into_iter()
        .map(|i| store::from_item(i).map_err(Into::into))
        .collect()
}

/// Unlinks a provider, unless it is the account's last way to sign in (no password, no other
/// provider). The account's item is the guard: two unlinks at once cannot both pass.
pub async fn unlink(
    state: &AppState,
    auth: &Authenticated,
    provider: ProviderName,
    meta: &RequestMeta,
) -> ApiResult<()> {
    let user = &auth.user;
    let connection_key = keys::connection(&user.id, provider.as_str());
    let not_linked = || {
        ApiError::not_found(
            "not_linked",
            format!("{} is not linked to this account", provider.title()),
        )
    };
    let item = state
        .table
        .get(&connection_key)
        .await?
        .ok_or_else(not_linked)?;
    let connection: Connection = store::from_item(item)?;
    if !user.has_password() && user.linked_providers <= 1 {
        return Err(last_sign_in_method());
    }
    let user_key = keys::user(&user.id);
    let guard = Cond::eq("linked_providers", user.linked_providers)
        .and(Cond::eq("password_hash", user.password_hash.clone()));
    let ops = vec![
        WriteOp::delete_existing(connection_key.clone()),
        WriteOp::Delete {
            key: keys::provider_identity(provider.as_str(), &connection.subject),
            cond: Cond::eq("user_id", user.id.clone()),
        },
        Update::new(user_key.clone())
            .add("linked_providers", -1)
            .when(guard)
            .into_op(),
        activity::record(
            state,
            &user.id,
            ActivityKind::ProviderUnlinked,
            Some(meta),
            json!({ "provider": provider }),
        )?,
    ];
    state
        .table
        .write(ops)
        .await
        .on_condition(&connection_key, not_linked)
        .on_condition(&user_key, || {
            ApiError::conflict(
                "account_changed",
                "The account's sign-in methods changed meanwhile: try again",
            )
        })?;
    Ok(())
}

fn last_sign_in_method() -> ApiError {
    ApiError::conflict(
        "last_sign_in_method",
        "This is the account's only way to sign in: set a password or link another provider \
         first",
    )
}

/// The writes that free an account's provider identities (account deletion).
pub async fn identity_deletes(state: &AppState, user_id: &str) -> ApiResult<Vec<WriteOp>> {
    Ok(connections(state, user_id)
        .await?
        .into_iter()
        .map(|c| WriteOp::delete(keys::provider_identity(c.provider.as_str(), &c.subject)))
        .collect())
}
