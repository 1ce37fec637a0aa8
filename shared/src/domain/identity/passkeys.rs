//! Passkeys (WebAuthn Level 3, through `webauthn-rs`): a signed-in user registers
//! authenticators, and anyone signs in with one without typing a name (discoverable
//! credentials). A passkey is two factors in one — the authenticator, and the PIN or biometric
//! it verified — so its sign-in never asks for a TOTP code (`amr` `hwk`, `user`, `mfa`).
//!
//! Every ceremony is two requests: the options (a challenge) and the authenticator's answer.
//! Between them the ceremony's state waits in the table under the hash of a random challenge
//! id, with a `ttl` (`PASSKEY_CHALLENGE_SECONDS`); the answer deletes it with a condition
//! before anything is verified, so a challenge is answered at most once, and an expired one is
//! refused by the clock even before the store forgets it.
//!
//! A passkey lives in its user's partition (`PASSKEY#<id>`), with the credential (public key,
//! sign counter, backup flags) as webauthn-rs keeps it. A marker keyed by the SHA-256 of the
//! credential id names the user and passkey it belongs to: registering the same credential
//! twice is refused, and a sign-in finds the passkey from the credential the authenticator
//! chose. Removing a passkey deletes both at once, so it stops signing in immediately. The
//! authenticator's sign counter must move forward at every sign-in (when it counts at all): a
//! counter that goes back means a cloned authenticator, and the sign-in is refused.

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use webauthn_rs::prelude::{
    Credential, DiscoverableAuthentication, Passkey, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder, WebauthnError,
};

use super::accounts;
use super::sessions::{self, Authenticated, Proof, Tokens};
use super::users::{self, User};
use crate::clock::rfc3339;
use crate::crypto::{hash_secret, random_token};
use crate::domain::activity::{self, ActivityKind};
use crate::domain::input;
use crate::domain::RequestMeta;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Cond, Query, SortKey, Update, WriteOp, TTL};

/// How many passkeys one account may hold.
pub const MAX_PASSKEYS: usize = 20;

/// One of a user's passkeys.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PasskeyRecord {
    /// A UUID (v7: ids sort by creation).
    pub id: String,
    pub user_id: String,
    /// The owner's name for it ("Laptop"), 1 to 64 characters.
    pub name: String,
    /// SHA-256 of the credential id: the key of its marker.
    pub credential_hash: String,
    /// The credential as webauthn-rs keeps it (JSON): public key, counter, backup flags.
    pub credential: String,
    /// The authenticator's sign counter at the last sign-in (0: it keeps none).
    pub counter: u32,
    /// The credential may be synced or backed up (it is not bound to one device).
    pub backup_eligible: bool,
    /// The credential is backed up or synced now.
    pub backup_state: bool,
    pub created_at: String,
    #[serde(default)]
    pub last_used_at: Option<String>,
}

impl PasskeyRecord {
    fn credential(&self) -> ApiResult<Credential> {
        serde_json::from_str(&self.credential)
            .map_err(|e| ApiError::internal(format!("a stored passkey credential: {e}")))
    }
}

/// The marker of a credential id: whose passkey it is.
#[derive(Serialize, Deserialize)]
struct CredentialOwner {
    user_id: String,
    passkey_id: String,
}

/// A ceremony waiting for the authenticator's answer.
#[derive(Serialize, Deserialize)]
struct Ceremony {
    /// `register` or `sign_in`.
    purpose: String,
    /// The user registering a passkey (none for a sign-in).
    #[serde(default)]
    user_id: Option<String>,
    /// webauthn-rs's state of the ceremony (JSON).
    state: String,
    /// Epoch seconds.
    expires_at: i64,
}

const REGISTER: &str = "register";
const SIGN_IN: &str = "sign_in";

/// A ceremony's options, for the browser: the challenge id to send back with the answer, and
/// what `navigator.credentials.create` or `get` takes (`{"publicKey": …}`).
pub struct Options {
    pub challenge_id: String,
    pub public_key: Value,
}

fn invalid_challenge() -> ApiError {
    ApiError::bad_request(
        "invalid_challenge",
        "The challenge is unknown, expired or already used; ask for new options",
    )
}

fn passkey_exists() -> ApiError {
    ApiError::conflict("passkey_exists", "This passkey is already registered")
}

fn invalid_passkey() -> ApiError {
    ApiError::unauthorized(
        "invalid_passkey",
        "The passkey was not accepted; try again or sign in with the password",
    )
}

/// A passkey's name as given: trimmed, 1 to 64 characters, no control characters.
pub fn name(raw: &str) -> ApiResult<String> {
    let name = raw.trim();
    let length = name.chars().count();
    if length == 0 || length > 64 {
        return Err(ApiError::field("name", "must be 1 to 64 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::field("name", "must not hold control characters"));
    }
    Ok(name.to_string())
}

/// The hash a credential id is known by.
fn credential_hash(credential_id: &[u8]) -> String {
    hash_secret(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(credential_id))
}

/// The relying party of the configuration (`PASSKEY_RP_ID`, `PASSKEY_RP_NAME`,
/// `PASSKEY_ORIGINS`, checked when the configuration was read).
fn relying_party(state: &AppState) -> ApiResult<Webauthn> {
    let config = &state.config.passkeys;
    let origins = config
        .origins
        .iter()
        .map(|o| Url::parse(o))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::internal)?;
    let (primary, others) = origins
        .split_first()
        .ok_or_else(|| ApiError::internal("PASSKEY_ORIGINS is empty"))?;
    let mut builder = WebauthnBuilder::new(&config.rp_id, primary)
        .map_err(ApiError::internal)?
        .rp_name(&config.rp_name)
        .timeout(config.challenge_ttl);
    for origin in others {
        builder = builder.append_allowed_origin(origin);
    }
    builder.build().map_err(ApiError::internal)
}

/// Keeps a ceremony's state until it is answered or expires; the new challenge id.
async fn save_ceremony(
    state: &AppState,
    purpose: &str,
    user_id: Option<&str>,
    ceremony_state: &impl Serialize,
) -> ApiResult<String> {
    let challenge_id = random_token();
    let expires = state.now() + state.config.passkeys.challenge_ttl;
    let ceremony = Ceremony {
        purpose: purpose.into(),
        user_id: user_id.map(str::to_string),
        state: serde_json::to_string(ceremony_state).map_err(ApiError::internal)?,
        expires_at: expires.unix_timestamp(),
    };
    let mut item = store::to_item(
        &keys::passkey_challenge(&hash_secret(&challenge_id)),
        &ceremony,
    )?;
    item.insert(TTL.into(), expires.unix_timestamp().into());
    state.table.write(vec![WriteOp::put_new(item)]).await?;
    Ok(challenge_id)
}

/// Takes a ceremony for its answer: it is deleted (with a condition, so two answers racing
/// for it cannot both have it) before anything else happens. Refused when unknown, already
/// used, expired, or of another purpose.
async fn take_ceremony(state: &AppState, challenge_id: &str, purpose: &str) -> ApiResult<Ceremony> {
    let well_formed = !challenge_id.is_empty()
        && challenge_id.len() <= 64
        && challenge_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(invalid_challenge());
    }
    let key = keys::passkey_challenge(&hash_secret(challenge_id));
    let item = state.table.get(&key).await?.ok_or_else(invalid_challenge)?;
    let ceremony: Ceremony = store::from_item(item)?;
    match state
        .table
        .write(vec![WriteOp::delete_existing(key.clone())])
        .await
    {
        Ok(()) => {}
        Err(e) if e.failed_key() == Some(&key) => return Err(invalid_challenge()),
        Err(e) => return Err(e.into()),
    }
    if ceremony.purpose != purpose || ceremony.expires_at <= state.now_unix() {
        return Err(invalid_challenge());
    }
    Ok(ceremony)
}

/// The user's passkeys, oldest first.
pub async fn list(state: &AppState, user_id: &str) -> ApiResult<Vec<PasskeyRecord>> {
    let query = Query::partition(keys::user_pk(user_id))
        .sk(SortKey::BeginsWith(keys::PASSKEY_PREFIX.into()))
        .limit(100);
    Ok(store::query_all(state.table.as_ref(), query).await?)
}

/// Starts registering a passkey for the signed-in user, who must have signed in recently. The
/// authenticator is asked for a discoverable credential with user verification; the user's
/// other passkeys are excluded, so one authenticator is not registered twice.
pub async fn start_registration(state: &AppState, auth: &Authenticated) -> ApiResult<Options> {
    sessions::require_recent_login(state, auth)?;
    let user = &auth.user;
    let existing = list(state, &user.id).await?;
    if existing.len() >= MAX_PASSKEYS {
        return Err(ApiError::conflict(
            "too_many_passkeys",
            format!("An account holds at most {MAX_PASSKEYS} passkeys; remove one first"),
        ));
    }
    let exclude = existing
        .iter()
        .map(|p| p.credential().map(|c| c.cred_id))
        .collect::<ApiResult<Vec<_>>>()?;
    let user_handle = Uuid::parse_str(&user.id).map_err(ApiError::internal)?;
    let display_name = user.display_name.as_deref().unwrap_or(&user.username);
    let (options, registration) = relying_party(state)?
        .start_passkey_registration(user_handle, &user.username, display_name, Some(exclude))
        .map_err(ApiError::internal)?;
    let mut public_key = serde_json::to_value(&options).map_err(ApiError::internal)?;
    // Sign-in names no user: the credential must be discoverable (a resident key).
    if let Some(selection) = public_key
        .pointer_mut("/publicKey/authenticatorSelection")
        .and_then(Value::as_object_mut)
    {
        selection.insert("residentKey".into(), json!("required"));
        selection.insert("requireResidentKey".into(), json!(true));
    }
    let challenge_id = save_ceremony(state, REGISTER, Some(&user.id), &registration).await?;
    Ok(Options {
        challenge_id,
        public_key,
    })
}

/// Finishes registering a passkey with the authenticator's answer to the challenge: verified
/// (challenge, origin, relying party, user verification), then stored with its marker and the
/// activity entry in one write. 409 `passkey_exists` when the credential is already registered.
pub async fn finish_registration(
    state: &AppState,
    auth: &Authenticated,
    challenge_id: &str,
    name: Option<String>,
    answer: &RegisterPublicKeyCredential,
    meta: &RequestMeta,
) -> ApiResult<PasskeyRecord> {
    sessions::require_recent_login(state, auth)?;
    let user = &auth.user;
    let ceremony = take_ceremony(state, challenge_id, REGISTER).await?;
    if ceremony.user_id.as_deref() != Some(user.id.as_str()) {
        return Err(invalid_challenge());
    }
    // A credential registered already (the user's own were excluded in the options, and
    // webauthn-rs refuses those without saying why): 409 rather than "could not be verified".
    let marker_key = keys::passkey_credential(&credential_hash(&answer.raw_id));
    if state.table.get(&marker_key).await?.is_some() {
        return Err(passkey_exists());
    }
    let registration: PasskeyRegistration =
        serde_json::from_str(&ceremony.state).map_err(ApiError::internal)?;
    let passkey: Passkey = relying_party(state)?
        .finish_passkey_registration(answer, &registration)
        .map_err(|e| {
            tracing::info!(error = %e, "a passkey registration was refused");
            ApiError::bad_request(
                "invalid_passkey",
                "The authenticator's answer could not be verified; try again",
            )
        })?;
    let credential: Credential = passkey.into();
    let now = state.now();
    let id = uuid::Uuid::now_v7().to_string();
    let record = PasskeyRecord {
        id: id.clone(),
        user_id: user.id.clone(),
        name: name.unwrap_or_else(|| super::trusted_devices::label(meta.user_agent.as_deref())),
        credential_hash: credential_hash(&credential.cred_id),
        credential: serde_json::to_string(&credential).map_err(ApiError::internal)?,
        counter: credential.counter,
        backup_eligible: credential.backup_eligible,
        backup_state: credential.backup_state,
        created_at: rfc3339(now),
        last_used_at: None,
    };
    debug_assert_eq!(
        marker_key,
        keys::passkey_credential(&record.credential_hash)
    );
    let marker = store::to_item(
        &marker_key,
        &CredentialOwner {
            user_id: user.id.clone(),
            passkey_id: id.clone(),
        },
    )?;
    let ops = vec![
        WriteOp::put_new(store::to_item(&keys::passkey(&user.id, &id), &record)?),
        WriteOp::put_new(marker),
        // Registered only while the account is as it was when the session was checked.
        WriteOp::check(
            keys::user(&user.id),
            Cond::eq("session_generation", user.session_generation),
        ),
        activity::record(
            state,
            &user.id,
            ActivityKind::PasskeyAdded,
            Some(meta),
            json!({ "passkey_id": id, "name": record.name }),
        )?,
    ];
    match state.table.write(ops).await {
        Ok(()) => Ok(record),
        Err(e) if e.failed_key() == Some(&marker_key) => Err(passkey_exists()),
        Err(e) if e.failed_key() == Some(&keys::user(&user.id)) => {
            Err(ApiError::unauthorized("session_revoked", "Sign in again"))
        }
        Err(e) => Err(e.into()),
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("passkey_not_found", "No such passkey")
}

/// The id of one of the user's passkeys as sent: anything but an id is no passkey of theirs.
fn passkey_id(raw: &str) -> ApiResult<String> {
    input::id("id", raw).map_err(|_| not_found())
}

/// Renames one of the user's passkeys (404 `passkey_not_found` when they have no such one).
pub async fn rename(state: &AppState, user: &User, raw_id: &str, raw_name: &str) -> ApiResult<()> {
    let passkey_id = passkey_id(raw_id)?;
    let name = name(raw_name)?;
    let key = keys::passkey(&user.id, &passkey_id);
    let update = Update::new(key.clone())
        .set("name", name)
        .when(Cond::Exists);
    match state.table.write(vec![update.into_op()]).await {
        Ok(()) => Ok(()),
        Err(e) if e.failed_key() == Some(&key) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

/// Removes one of the user's passkeys with its marker, at once: it signs in no more (404
/// `passkey_not_found` when they have no such one).
pub async fn remove(
    state: &AppState,
    user: &User,
    raw_id: &str,
    meta: &RequestMeta,
) -> ApiResult<()> {
    let passkey_id = passkey_id(raw_id)?;
    let passkey_id = passkey_id.as_str();
    let key = keys::passkey(&user.id, passkey_id);
    let Some(item) = state.table.get(&key).await? else {
        return Err(not_found());
    };
    let record: PasskeyRecord = store::from_item(item)?;
    let ops = vec![
        WriteOp::delete_existing(key.clone()),
        WriteOp::delete(keys::passkey_credential(&record.credential_hash)),
        activity::record(
            state,
            &user.id,
            ActivityKind::PasskeyRemoved,
            Some(meta),
            json!({ "passkey_id": passkey_id, "name": record.name }),
        )?,
    ];
    match state.table.write(ops).await {
        Ok(()) => Ok(()),
        Err(e) if e.failed_key() == Some(&key) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

/// Starts a discoverable sign-in: a challenge for any passkey of this relying party. Counted
/// against the caller's sign-in limit.
pub async fn start_sign_in(state: &AppState, meta: &RequestMeta) -> ApiResult<Options> {
    state
        .limiter
        .hit("login", &meta.ip_subject(), state.config.rate_limits.login)
        .await?;
    let (options, authentication) = relying_party(state)?
        .start_discoverable_authentication()
        .map_err(ApiError::internal)?;
    let mut public_key = serde_json::to_value(&options).map_err(ApiError::internal)?;
    // The page asks when the user presses the button, not as the name field's autofill.
    if let Some(options) = public_key.as_object_mut() {
        options.remove("mediation");
    }
    let challenge_id = save_ceremony(state, SIGN_IN, None, &authentication).await?;
    Ok(Options {
        challenge_id,
        public_key,
    })
}

/// Signs in with a passkey (the API): the authenticator's answer to a sign-in challenge names the
/// credential and its user; the credential must be a live passkey of that user, the signature
/// right for the challenge, origin and relying party, the user verified, and the sign counter
/// moved forward. The passkey's counter, backup flags and last use are stored with a condition
/// on the counter read, so two sign-ins with one answer cannot both pass. Then a login session
/// starts as after a password and a second factor.
pub async fn sign_in(
    state: &AppState,
    challenge_id: &str,
    answer: &PublicKeyCredential,
    meta: &RequestMeta,
) -> ApiResult<(User, Tokens)> {
    let user = verify_sign_in(state, challenge_id, answer, meta).await?;
    let tokens = sessions::start(state, &user, Proof::Passkey, meta).await?;
    Ok((user, tokens))
}

/// Signs a browser in with a passkey on the hosted sign-in page, as [`sign_in`] does; the
/// answer is the secret of the browser's session cookie.
pub async fn sign_in_browser(
    state: &AppState,
    challenge_id: &str,
    answer: &PublicKeyCredential,
    meta: &RequestMeta,
) -> ApiResult<String> {
    let user = verify_sign_in(state, challenge_id, answer, meta).await?;
    sessions::start_browser(state, &user, Proof::Passkey, meta).await
}

/// The user an answer to a sign-in challenge proves, once the passkey's new counter is stored.
async fn verify_sign_in(
    state: &AppState,
    challenge_id: &str,
    answer: &PublicKeyCredential,
    meta: &RequestMeta,
) -> ApiResult<User> {
    state
        .limiter
        .hit("login", &meta.ip_subject(), state.config.rate_limits.login)
        .await?;
    let ceremony = take_ceremony(state, challenge_id, SIGN_IN).await?;
    let authentication: DiscoverableAuthentication =
        serde_json::from_str(&ceremony.state).map_err(ApiError::internal)?;
    let rp = relying_party(state)?;
    let (user_handle, credential_id) = rp
        .identify_discoverable_authentication(answer)
        .map_err(|_| invalid_passkey())?;
    let marker = state
        .table
        .get(&keys::passkey_credential(&credential_hash(credential_id)))
        .await?
        .ok_or_else(invalid_passkey)?;
    let owner: CredentialOwner = store::from_item(marker)?;
    if owner.user_id != user_handle.to_string() {
        return Err(invalid_passkey());
    }
    let key = keys::passkey(&owner.user_id, &owner.passkey_id);
    let (user, item) = tokio::try_join!(users::get(state.table.as_ref(), &owner.user_id), async {
        Ok::<_, ApiError>(state.table.get(&key).await?)
    },)?;
    let (Some(user), Some(item)) = (user, item) else {
        return Err(invalid_passkey());
    };
    let record: PasskeyRecord = store::from_item(item)?;
    let credential = record.credential()?;
    let result = match rp.finish_discoverable_authentication_v2(answer, authentication, &credential)
    {
        Ok(result) => result,
        Err(e) => {
            let reason = match e {
                WebauthnError::CredentialPossibleCompromise => "passkey_cloned",
                _ => "passkey",
            };
            tracing::info!(error = %e, reason, "a passkey sign-in was refused");
            activity::record_alone(
                state,
                &user.id,
                ActivityKind::LoginFailed,
                Some(meta),
                json!({ "reason": reason, "passkey_id": record.id }),
            )
            .await;
            return Err(invalid_passkey());
        }
    };
    let mut passkey = Passkey::from(credential);
    passkey.update_credential(&result);
    let credential: Credential = passkey.into();
    let used = Update::new(key.clone())
        .set(
            "credential",
            serde_json::to_string(&credential).map_err(ApiError::internal)?,
        )
        .set("counter", i64::from(credential.counter))
        .set("backup_eligible", credential.backup_eligible)
        .set("backup_state", credential.backup_state)
        .set("last_used_at", rfc3339(state.now()))
        .when(Cond::Exists.and(Cond::eq("counter", i64::from(record.counter))));
    match state.table.write(vec![used.into_op()]).await {
        Ok(()) => {}
        Err(e) if e.failed_key() == Some(&key) => return Err(invalid_passkey()),
        Err(e) => return Err(e.into()),
    }
    accounts::still_enabled(&user)?;
    Ok(user)
}
