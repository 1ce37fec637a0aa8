//! Login sessions: one per sign-in, holding the current refresh token's hash. Access tokens
//! name their session (`sid`), and every request checks the session is still live, so
//! logout, password change and reset take effect on the very next request.

use serde::{Deserialize, Serialize};

use super::users::{self, User};
use crate::clock::rfc3339;
use crate::crypto::{hash_secret, random_token};
use crate::domain::activity::{self, ActivityKind};
use crate::domain::webhooks::{self, EventType, Listening};
use crate::domain::RequestMeta;
use crate::error::{ApiError, ApiResult, OnCondition};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Cond, Query, SortKey, Table, Update, WriteOp, TTL};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoginSession {
    pub id: String,
    pub user_id: String,
    /// Must equal the user's `session_generation` for the session to count.
    pub generation: i64,
    pub refresh_hash: String,
    /// When the user last proved who they are with a password (epoch seconds); refreshing
    /// does not move it. Sensitive changes need it to be recent.
    #[serde(default)]
    pub auth_time: i64,
    /// How the user proved who they are (OpenID Connect `amr`: `pwd`, and `otp` + `mfa` with
    /// a TOTP or recovery code, `mfa` alone with a trusted device's token).
    #[serde(default)]
    pub amr: Vec<String>,
    pub created_at: String,
    pub last_used_at: String,
    pub expires_at: String,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
}

/// Refresh token hash → its session. Kept after rotation until it expires, so that a reused
/// (stolen) token is recognised and its session killed.
#[derive(Serialize, Deserialize)]
struct RefreshRecord {
    user_id: String,
    session_id: String,
}

/// The tokens handed out at login and refresh.
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    /// When the access token expires (RFC 3339).
    pub expires_at: String,
}

/// A request's verified identity: the user and the live login session its token names.
pub struct Authenticated {
    pub user: User,
    pub session: LoginSession,
}

fn invalid_refresh() -> ApiError {
    ApiError::unauthorized(
        "invalid_refresh_token",
        "The refresh token is invalid or expired",
    )
}

fn refresh_put(token_hash: &str, user_id: &str, session_id: &str, ttl: i64) -> WriteOp {
    let mut item = store::to_item(
        &keys::refresh_token(token_hash),
        &RefreshRecord {
            user_id: user_id.into(),
            session_id: session_id.into(),
        },
    )
    .expect("refresh record is an object");
    item.insert(TTL.into(), ttl.into());
    WriteOp::put_new(item)
}

fn issue_access(state: &AppState, user_id: &str, session_id: &str) -> ApiResult<(String, String)> {
    let (token, claims) = state
        .jwt
        .issue(user_id, session_id, state.now_unix())
        .map_err(|e| ApiError::internal(format!("issuing a token: {e}")))?;
    let expires =
        time::OffsetDateTime::from_unix_timestamp(claims.exp).map_err(ApiError::internal)?;
    Ok((token, rfc3339(expires)))
}

/// How a user proved who they are at sign-in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proof {
    #[default]
    Password,
    /// A password, then a TOTP or recovery code.
    PasswordAndCode,
    /// A password, and the token of a device the user trusted after a TOTP or recovery code
    /// (`trusted_devices`): the second factor is something the user has, but no code was
    /// typed this time.
    PasswordAndDevice,
    /// A sign-in provider (Google, GitHub) vouched for them.
    Provider,
    /// A sign-in provider, then a TOTP or recovery code.
    ProviderAndCode,
    /// A sign-in provider, and a trusted device's token.
    ProviderAndDevice,
    /// A passkey: something the user has (the authenticator) and, by its user verification,
    /// something they know or are; two factors in one, so no TOTP step follows.
    Passkey,
}

impl Proof {
    /// The authentication methods (RFC 8176) an ID token names; `fed` for a federated
    /// sign-in, as major identity providers write it.
    pub fn amr(self) -> Vec<String> {
        let methods: &[&str] = match self {
            Proof::Password => &["pwd"],
            Proof::PasswordAndCode => &["pwd", "otp", "mfa"],
            Proof::PasswordAndDevice => &["pwd", "mfa"],
            Proof::Provider => &["fed"],
            Proof::ProviderAndCode => &["fed", "otp", "mfa"],
            Proof::ProviderAndDevice => &["fed", "mfa"],
            Proof::Passkey => &["hwk", "user", "mfa"],
        };
        methods.iter().map(|m| m.to_string()).collect()
    }

    /// This proof (a second factor's, which names a password first) following `first`.
    pub fn after(self, first: Proof) -> Proof {
        let provider = matches!(
            first,
            Proof::Provider | Proof::ProviderAndCode | Proof::ProviderAndDevice
        );
        match self {
            Proof::PasswordAndCode if provider => Proof::ProviderAndCode,
            Proof::PasswordAndDevice if provider => Proof::ProviderAndDevice,
            Proof::Password if provider => Proof::Provider,
            proof => proof,
        }
    }
}

/// Starts a login session for `user`, who just proved who they are, and returns its first
/// tokens.
pub async fn start(
    state: &AppState,
    user: &User,
    proof: Proof,
    meta: &RequestMeta,
) -> ApiResult<Tokens> {
    let refresh_token = random_token();
    let id = uuid::Uuid::new_v4().to_string();
    let refresh_hash = hash_secret(&refresh_token);
    let session = open(state, user, proof, &refresh_hash, meta, id, vec![]).await?;
    let (access_token, expires_at) = issue_access(state, &user.id, &session.id)?;
    Ok(Tokens {
        access_token,
        refresh_token,
        expires_at,
    })
}

/// A browser's sign-in on the hosted pages: the cookie's token names a login session, so
/// signing out, a password change or disabling the account end it like any other session.
#[derive(Serialize, Deserialize)]
struct BrowserSession {
    user_id: String,
    session_id: String,
}

/// Starts a login session for a browser; the answer is the secret its cookie holds.
pub async fn start_browser(
    state: &AppState,
    user: &User,
    proof: Proof,
    meta: &RequestMeta,
) -> ApiResult<String> {
    let cookie = random_token();
    let session_id = uuid::Uuid::new_v4().to_string();
    let expires = state.now() + state.config.refresh_ttl;
    let mut item = store::to_item(
        &keys::browser_session(&hash_secret(&cookie)),
        &BrowserSession {
            user_id: user.id.clone(),
            session_id: session_id.clone(),
        },
    )?;
    item.insert(TTL.into(), expires.unix_timestamp().into());
    // The session has no refresh token: its hash is of a secret nobody holds.
    let unheld = hash_secret(&random_token());
    open(
        state,
        user,
        proof,
        &unheld,
        meta,
        session_id,
        vec![WriteOp::put_new(item)],
    )
    .await?;
    Ok(cookie)
}

/// The signed-in user of a browser's cookie, while its login session is live.
pub async fn browser(state: &AppState, cookie: &str) -> ApiResult<Option<Authenticated>> {
    let Some(item) = state
        .table
        .get(&keys::browser_session(&hash_secret(cookie)))
        .await?
    else {
        return Ok(None);
    };
    let link: BrowserSession = store::from_item(item)?;
    live(state, &link.user_id, &link.session_id).await
}

/// Signs a browser out: its cookie stops working and its login session ends.
pub async fn end_browser(state: &AppState, cookie: &str) -> ApiResult<()> {
    let key = keys::browser_session(&hash_secret(cookie));
    let Some(item) = state.table.get(&key).await? else {
        return Ok(());
    };
    let link: BrowserSession = store::from_item(item)?;
    // The cookie and its login session go together.
    let session = keys::login_session(&link.user_id, &link.session_id);
    state
        .table
        .write(vec![WriteOp::delete(key), WriteOp::delete(session)])
        .await?;
    Ok(())
}

/// Writes a new login session, its refresh record and `extra` in one transaction.
async fn open(
    state: &AppState,
    user: &User,
    proof: Proof,
    refresh_hash: &str,
    meta: &RequestMeta,
    id: String,
    extra: Vec<WriteOp>,
) -> ApiResult<LoginSession> {
    let now = state.now();
    let expires = now + state.config.refresh_ttl;
    let session = LoginSession {
        id,
        user_id: user.id.clone(),
        generation: user.session_generation,
        refresh_hash: refresh_hash.to_string(),
        auth_time: now.unix_timestamp(),
        amr: proof.amr(),
        created_at: rfc3339(now),
        last_used_at: rfc3339(now),
        expires_at: rfc3339(expires),
        ip_address: meta.ip.map(|ip| ip.to_string()),
        user_agent: meta.user_agent.clone(),
    };
    let mut item = store::to_item(&keys::login_session(&user.id, &session.id), &session)?;
    item.insert(TTL.into(), expires.unix_timestamp().into());
    let user_key = keys::user(&user.id);
    let mut ops = vec![
        WriteOp::put_new(item),
        refresh_put(
            refresh_hash,
            &user.id,
            &session.id,
            expires.unix_timestamp(),
        ),
        // The session counts only while the user is still on the same generation.
        WriteOp::check(
            user_key.clone(),
            Cond::eq("session_generation", user.session_generation),
        ),
        activity::record(
            state,
            &user.id,
            ActivityKind::Login,
            Some(meta),
            serde_json::json!({ "session_id": session.id }),
        )?,
    ];
    ops.extend(extra);
    state.table.write(ops).await.on_condition(&user_key, || {
        ApiError::unauthorized("session_revoked", "Sign in again")
    })?;
    Ok(session)
}

async fn load(
    table: &dyn Table,
    user_id: &str,
    session_id: &str,
) -> ApiResult<Option<LoginSession>> {
    match table.get(&keys::login_session(user_id, session_id)).await? {
        None => Ok(None),
        Some(item) => Ok(Some(store::from_item(item)?)),
    }
}

/// Verifies a bearer JWT and that its login session is live.
pub async fn authenticate(state: &AppState, token: &str) -> ApiResult<Authenticated> {
    let claims = state
        .jwt
        .verify(token, state.now_unix())
        .map_err(|_| ApiError::invalid_token())?;
    live(state, &claims.sub, &claims.sid)
        .await?
        .ok_or_else(ApiError::invalid_token)
}

/// The user and their login session, while the session counts: the user enabled and still
/// on the session's generation.
async fn live(
    state: &AppState,
    user_id: &str,
    session_id: &str,
) -> ApiResult<Option<Authenticated>> {
    let (user, session) = tokio::try_join!(
        users::get(state.table.as_ref(), user_id),
        load(state.table.as_ref(), user_id, session_id),
    )?;
    Ok(match (user, session) {
        (Some(user), Some(session))
            if session.generation == user.session_generation && !user.disabled =>
        {
            Some(Authenticated { user, session })
        }
        _ => None,
    })
}

/// Refuses sensitive changes unless the session's password login is recent: a stolen access
/// or refresh token alone cannot enrol an authenticator, read recovery codes or move the
/// account to another address.
pub fn require_recent_login(state: &AppState, auth: &Authenticated) -> ApiResult<()> {
    let age = state.now_unix() - auth.session.auth_time;
    if age <= state.config.recent_login.as_secs() as i64 {
        Ok(())
    } else {
        Err(ApiError::unauthorized(
            "recent_login_required",
            "Sign in again with your password to make this change",
        ))
    }
}

/// Rotates a refresh token. A token that was already rotated out is a sign of theft:
/// its whole login session is revoked (RFC 9700 §4.14.2).
pub async fn refresh(state: &AppState, refresh_token: &str) -> ApiResult<Tokens> {
    let presented_hash = hash_secret(refresh_token);
    let Some(record) = state
        .table
        .get(&keys::refresh_token(&presented_hash))
        .await?
    else {
        return Err(invalid_refresh());
    };
    let record: RefreshRecord = store::from_item(record)?;
    let (user, session) = tokio::try_join!(
        users::get(state.table.as_ref(), &record.user_id),
        load(state.table.as_ref(), &record.user_id, &record.session_id),
    )?;
    let (Some(user), Some(session)) = (user, session) else {
        return Err(invalid_refresh());
    };
    if session.generation != user.session_generation || user.disabled {
        return Err(invalid_refresh());
    }
    let reused = || async {
        // A refresh token used twice was copied: the session ends for both holders.
        end_one(state, &user.id, &session.id, "refresh_token_reused", None).await?;
        tracing::warn!(user_id = %user.id, session_id = %session.id, "refresh token reuse; session revoked");
        Err(invalid_refresh())
    };
    if session.refresh_hash != presented_hash {
        return reused().await;
    }
    let now = state.now();
    let new_token = random_token();
    let new_hash = hash_secret(&new_token);
    let ttl = time::OffsetDateTime::parse(
        &session.expires_at,
        &time::format_description::well_known::Rfc3339,
    )
    .map(|t| t.unix_timestamp())
    .unwrap_or_else(|_| now.unix_timestamp());
    let session_key = keys::login_session(&user.id, &session.id);
    let rotate = Update::new(session_key.clone())
        .set("refresh_hash", new_hash.clone())
        .set("last_used_at", rfc3339(now))
        .when(Cond::eq("refresh_hash", presented_hash.clone()));
    let rotated = state
        .table
        .write(vec![
            rotate.into_op(),
            refresh_put(&new_hash, &user.id, &session.id, ttl),
        ])
        .await;
    match rotated {
        Ok(()) => {}
        // Another request rotated this token first: the same token was used twice.
        Err(e) if e.failed_key() == Some(&session_key) => return reused().await,
        Err(e) => return Err(e.into()),
    }
    let (access_token, expires_at) = issue_access(state, &user.id, &session.id)?;
    Ok(Tokens {
        access_token,
        refresh_token: new_token,
        expires_at,
    })
}

/// Ends one login session; its access and refresh tokens stop working at once.
pub async fn revoke(state: &AppState, user_id: &str, session_id: &str) -> ApiResult<bool> {
    let key = keys::login_session(user_id, session_id);
    match state
        .table
        .write(vec![WriteOp::delete_existing(key.clone())])
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if e.failed_key() == Some(&key) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Ends one of the user's login sessions at their request, and notes it in their activity.
/// `false` when they have no such session.
pub async fn revoke_by_owner(
    state: &AppState,
    user_id: &str,
    session_id: &str,
    meta: &RequestMeta,
) -> ApiResult<bool> {
    end_one(state, user_id, session_id, "revoked_by_user", Some(meta)).await
}

/// Ends one login session with its `session.revoked` event (and, with `meta`, an entry in the
/// user's activity). `false` when there is no such session.
async fn end_one(
    state: &AppState,
    user_id: &str,
    session_id: &str,
    reason: &'static str,
    meta: Option<&RequestMeta>,
) -> ApiResult<bool> {
    let key = keys::login_session(user_id, session_id);
    let mut ops = vec![WriteOp::delete_existing(key.clone())];
    if let Some(meta) = meta {
        ops.push(activity::record(
            state,
            user_id,
            ActivityKind::SessionRevoked,
            Some(meta),
            serde_json::json!({ "session_id": session_id }),
        )?);
    }
    ops.extend(webhooks::listening(state).await.announce(
        state.now(),
        EventType::SessionRevoked,
        user_id,
        Vec::new(),
        serde_json::json!({ "scope": "one", "session_id": session_id, "reason": reason }),
    ));
    match state.table.write(ops).await {
        Ok(()) => Ok(true),
        Err(e) if e.failed_key() == Some(&key) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

async fn list_all(state: &AppState, user_id: &str) -> ApiResult<Vec<LoginSession>> {
    let query = Query::partition(keys::user_pk(user_id))
        .sk(SortKey::BeginsWith(keys::LOGIN_PREFIX.into()))
        .limit(100);
    Ok(store::query_all(state.table.as_ref(), query).await?)
}

/// The user's sessions that still count: sessions of an older generation are refused even
/// before they are tidied away, so they are not listed either.
pub async fn list_live(state: &AppState, user: &User) -> ApiResult<Vec<LoginSession>> {
    let mut sessions = list_all(state, &user.id).await?;
    sessions.retain(|s| s.generation == user.session_generation);
    Ok(sessions)
}

/// Why every session of a user (but one) ends, for its `session.revoked` event.
#[derive(Clone, Copy)]
pub struct SessionsEnd {
    /// `password_changed`, `password_reset`, `totp_enabled`, …
    pub reason: &'static str,
    pub listening: Listening,
    pub now: time::OffsetDateTime,
}

impl SessionsEnd {
    pub async fn because(state: &AppState, reason: &'static str) -> Self {
        SessionsEnd {
            reason,
            listening: webhooks::listening(state).await,
            now: state.now(),
        }
    }
}

/// Ends every login session of a user but `keep`, as part of a write that changes the user:
/// the user's update moves to the next session generation (and fails if another change moved
/// it first), and the kept session is carried over to it. The write announces it
/// (`session.revoked`, scope `all` or `others`). Call [`remove_stale`] after the write
/// succeeds.
pub fn end_other_sessions(
    user: &User,
    update: Update,
    keep: Option<&str>,
    end: SessionsEnd,
) -> Vec<WriteOp> {
    let next = user.session_generation + 1;
    let cond = update
        .cond
        .clone()
        .and(Cond::eq("session_generation", user.session_generation));
    let mut ops = vec![update.set("session_generation", next).when(cond).into_op()];
    if let Some(keep) = keep {
        ops.push(
            Update::new(keys::login_session(&user.id, keep))
                .set("generation", next)
                .when(Cond::Exists)
                .into_op(),
        );
    }
    let scope = if keep.is_some() { "others" } else { "all" };
    ops.extend(end.listening.announce(
        end.now,
        EventType::SessionRevoked,
        &user.id,
        Vec::new(),
        serde_json::json!({ "scope": scope, "kept_session_id": keep, "reason": end.reason }),
    ));
    ops
}

/// Deletes the items of sessions that no longer count (after a generation bump). They are
/// already refused; this only tidies up, so failures are logged, not returned.
pub async fn remove_stale(state: &AppState, user_id: &str, keep: Option<&str>) {
    let sessions = match list_all(state, user_id).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "listing sessions to remove");
            return;
        }
    };
    for s in sessions.into_iter().filter(|s| Some(s.id.as_str()) != keep) {
        if let Err(e) = revoke(state, user_id, &s.id).await {
            tracing::warn!(error = %e, "removing a stale session");
        }
    }
}
