//! Login sessions: one per sign-in, holding the current refresh token's hash. Access tokens
//! name their session (`sid`), and every request checks the session is still live, so
//! logout, password change and reset take effect on the very next request.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::users::{self, User};
use crate::clock::rfc3339;
use crate::crypto::{hash_secret, random_token};
use crate::error::{ApiError, ApiResult};
use crate::http::ClientIp;
use crate::jwt::Claims;
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
    pub expires_at: String,
}

impl Tokens {
    pub fn to_json(&self) -> Value {
        json!({
            "token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at,
        })
    }
}

/// A request's verified identity.
pub struct Authenticated {
    pub user: User,
    pub session: LoginSession,
    pub claims: Claims,
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
    let now = state.now_unix();
    let (token, claims) = state
        .jwt
        .issue(user_id, session_id, now)
        .map_err(|e| ApiError::internal(format!("issuing a token: {e}")))?;
    let expires =
        time::OffsetDateTime::from_unix_timestamp(claims.exp).map_err(ApiError::internal)?;
    Ok((token, rfc3339(expires)))
}

/// Starts a login session for `user` and returns its first tokens.
pub async fn start(
    state: &AppState,
    user: &User,
    ip: &ClientIp,
    user_agent: Option<String>,
) -> ApiResult<Tokens> {
    let now = state.now();
    let refresh_token = random_token();
    let refresh_hash = hash_secret(&refresh_token);
    let expires = now + state.config.refresh_ttl;
    let session = LoginSession {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user.id.clone(),
        generation: user.session_generation,
        refresh_hash: refresh_hash.clone(),
        created_at: rfc3339(now),
        last_used_at: rfc3339(now),
        expires_at: rfc3339(expires),
        ip_address: ip.0.map(|ip| ip.to_string()),
        user_agent,
    };
    let mut item = store::to_item(&keys::login_session(&user.id, &session.id), &session)?;
    item.insert(TTL.into(), expires.unix_timestamp().into());
    state
        .table
        .write(vec![
            WriteOp::put_new(item),
            refresh_put(
                &refresh_hash,
                &user.id,
                &session.id,
                expires.unix_timestamp(),
            ),
            // The session counts only while the user is still on the same generation.
            WriteOp::check(
                keys::user(&user.id),
                Cond::eq("session_generation", user.session_generation),
            ),
        ])
        .await
        .map_err(|e| match e.failed_op() {
            Some(2) => ApiError::unauthorized("session_revoked", "Sign in again"),
            _ => e.into(),
        })?;
    let (access_token, expires_at) = issue_access(state, &user.id, &session.id)?;
    Ok(Tokens {
        access_token,
        refresh_token,
        expires_at,
    })
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

/// Verifies a bearer JWT and that its login session is live (DESIGN.md §5).
pub async fn authenticate(state: &AppState, token: &str) -> ApiResult<Authenticated> {
    let claims = state
        .jwt
        .verify(token, state.now_unix())
        .map_err(|_| ApiError::invalid_token())?;
    let (user, session) = tokio::try_join!(
        users::get(state.table.as_ref(), &claims.sub),
        load(state.table.as_ref(), &claims.sub, &claims.sid),
    )?;
    match (user, session) {
        (Some(user), Some(session)) if session.generation == user.session_generation => {
            Ok(Authenticated {
                user,
                session,
                claims,
            })
        }
        _ => Err(ApiError::invalid_token()),
    }
}

/// Rotates a refresh token. A token that was already rotated out is a sign of theft:
/// its whole login session is revoked (RFC 9700 §4.14.2).
pub async fn refresh(state: &AppState, refresh_token: &str) -> ApiResult<Tokens> {
    let invalid = || {
        ApiError::unauthorized(
            "invalid_refresh_token",
            "The refresh token is invalid or expired",
        )
    };
    let presented_hash = hash_secret(refresh_token);
    let Some(record) = state
        .table
        .get(&keys::refresh_token(&presented_hash))
        .await?
    else {
        return Err(invalid());
    };
    let record: RefreshRecord = store::from_item(record)?;
    let (user, session) = tokio::try_join!(
        users::get(state.table.as_ref(), &record.user_id),
        load(state.table.as_ref(), &record.user_id, &record.session_id),
    )?;
    let (Some(user), Some(session)) = (user, session) else {
        return Err(invalid());
    };
    if session.generation != user.session_generation {
        return Err(invalid());
    }
    if session.refresh_hash != presented_hash {
        revoke(state, &user.id, &session.id).await?;
        tracing::warn!(user_id = %user.id, session_id = %session.id, "refresh token reuse; session revoked");
        return Err(invalid());
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
    let rotate = Update::new(keys::login_session(&user.id, &session.id))
        .set("refresh_hash", new_hash.clone())
        .set("last_used_at", rfc3339(now))
        .when(Cond::eq("refresh_hash", presented_hash.clone()));
    match state
        .table
        .write(vec![
            rotate.into_op(),
            refresh_put(&new_hash, &user.id, &session.id, ttl),
        ])
        .await
    {
        Ok(()) => {}
        Err(e) if e.failed_op() == Some(0) => {
            // Another request rotated this token first: the same token was used twice.
            revoke(state, &user.id, &session.id).await?;
            tracing::warn!(user_id = %user.id, "concurrent refresh token reuse; session revoked");
            return Err(invalid());
        }
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
    match state
        .table
        .write(vec![WriteOp::delete_existing(keys::login_session(
            user_id, session_id,
        ))])
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if e.is_condition_failed() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub async fn list(state: &AppState, user_id: &str) -> ApiResult<Vec<LoginSession>> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = state
            .table
            .query(
                &Query::partition(keys::user_pk(user_id))
                    .sk(SortKey::BeginsWith(keys::LOGIN_PREFIX.into()))
                    .limit(100)
                    .cursor(cursor),
            )
            .await?;
        for item in page.items {
            out.push(store::from_item::<LoginSession>(item)?);
        }
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    Ok(out)
}

/// Deletes the items of sessions that no longer count (after a generation bump). They are
/// already refused; this only tidies up, so failures are logged, not returned.
pub async fn remove_stale(state: &AppState, user_id: &str, keep: Option<&str>) {
    let sessions = match list(state, user_id).await {
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

impl LoginSession {
    pub fn view(&self, current_session_id: &str) -> Value {
        json!({
            "id": self.id,
            "created_at": self.created_at,
            "last_used_at": self.last_used_at,
            "expires_at": self.expires_at,
            "ip_address": self.ip_address,
            "user_agent": self.user_agent,
            "current": self.id == current_session_id,
        })
    }
}
