//! App sessions (docs/architecture.md, "App sessions"): a user's one live session with an
//! app, opened by the code exchange and kept alive by `POST /api/session/refresh`. Each
//! refresh is a heartbeat that rotates the session token (the old one dies in the same atomic
//! write) and credits what the time since the last heartbeat earned.
//!
//! Earnings: `EARN_PER_MINUTE` × the seconds since the last heartbeat (at most the alive
//! window) / 60 × the user's signup multiplier, kept in thousandths so that frequent
//! heartbeats lose nothing to rounding, and capped per user per UTC day across every app.
//! Sessions of an app no admin approved earn nothing (its owner may still test the flow).
//! A session ends with the user's credentials (password change or reset) and with the app
//! (unapproved or suspended), like the OAuth tokens.

use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::crypto::{hash_secret, random_token};
use crate::domain::identity::users::{self, User};
use crate::domain::ledger::{self, EntryKind};
use crate::domain::oauth::apps::{self, OAuthApp};
use crate::domain::oauth::sessions::{OpenedSession, SessionOpener, SessionStart};
use crate::domain::webhooks::{self, Listening};
use crate::domain::RequestMeta;
use crate::error::{ApiError, ApiResult, OnCondition};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Cond, Update, WriteOp, TTL};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AppSession {
    pub id: String,
    pub user_id: String,
    pub app_id: String,
    /// SHA-256 of the current session token.
    pub token_hash: String,
    pub token_expires_at: i64,
    pub started_at: i64,
    pub last_heartbeat: i64,
    /// Absent while the session runs (writes check `attribute_not_exists`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
    #[serde(default)]
    pub points_earned: i64,
    /// Earned but not yet credited, in thousandths of a point.
    #[serde(default)]
    pub carry_millipoints: i64,
    /// The user's credential generation when the session opened: a password change or
    /// reset ends it.
    #[serde(default)]
    pub credential_generation: i64,
    /// The app's generation when the session opened (see `OAuthApp::serves`).
    #[serde(default)]
    pub app_generation: i64,
}

/// Session token hash → its session.
#[derive(Serialize, Deserialize)]
struct SessionTokenRecord {
    user_id: String,
    app_id: String,
    session_id: String,
}

/// Points a user earned from app sessions on one day.
#[derive(Serialize, Deserialize)]
struct DailyEarnings {
    points: i64,
}

fn token_item(token: &str, session: &AppSession) -> ApiResult<WriteOp> {
    let mut item = store::to_item(
        &keys::session_token(&hash_secret(token)),
        &SessionTokenRecord {
            user_id: session.user_id.clone(),
            app_id: session.app_id.clone(),
            session_id: session.id.clone(),
        },
    )?;
    item.insert(TTL.into(), session.token_expires_at.into());
    Ok(WriteOp::put_new(item))
}

fn expiry(state: &AppState) -> i64 {
    state.now_unix() + state.config.app_sessions.token_ttl.as_secs() as i64
}

/// Opens the user's session with an app, replacing any earlier one (whose token then dies).
fn start(state: &AppState, user: &User, app: &OAuthApp) -> ApiResult<OpenedSession> {
    let (user_id, app_id) = (user.id.as_str(), app.id.as_str());
    let now = state.now_unix();
    let token = format!("bst_{}", random_token());
    let session = AppSession {
        id: uuid::Uuid::new_v4().to_string(),
        user_id: user_id.to_string(),
        app_id: app_id.to_string(),
        token_hash: hash_secret(&token),
        token_expires_at: expiry(state),
        started_at: now,
        last_heartbeat: now,
        ended_at: None,
        points_earned: 0,
        carry_millipoints: 0,
        credential_generation: user.credential_generation,
        app_generation: app.generation,
    };
    let mut item = store::to_item(&keys::app_session(user_id, app_id), &session)?;
    item.insert(
        TTL.into(),
        (now + state.config.app_sessions.idle_timeout.as_secs() as i64 + 86_400).into(),
    );
    let ops = vec![WriteOp::put(item), token_item(&token, &session)?];
    Ok(OpenedSession {
        start: SessionStart {
            expires_at: rfc3339_at(session.token_expires_at),
            token,
            earning: app.mints_points(),
        },
        ops,
    })
}

/// App sessions' side of [`SessionOpener`]: the code exchange opens the session here.
pub struct AppSessions;

impl SessionOpener for AppSessions {
    fn open(&self, state: &AppState, user: &User, app: &OAuthApp) -> ApiResult<OpenedSession> {
        start(state, user, app)
    }
}

fn rfc3339_at(unix: i64) -> String {
    rfc3339(
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    )
}

fn invalid_session() -> ApiError {
    ApiError::unauthorized(
        "invalid_session_token",
        "The session token is invalid, expired or was rotated",
    )
}

impl AppSession {
    /// Not ended, and heard from within the idle timeout.
    pub fn is_active(&self, state: &AppState) -> bool {
        self.ended_at.is_none()
            && state.now_unix() - self.last_heartbeat
                <= state.config.app_sessions.idle_timeout.as_secs() as i64
    }

    /// Heard from within the alive window.
    pub fn is_alive(&self, state: &AppState) -> bool {
        self.is_active(state)
            && state.now_unix() - self.last_heartbeat
                <= state.config.app_sessions.alive_window.as_secs() as i64
    }
}

pub async fn get(state: &AppState, user_id: &str, app_id: &str) -> ApiResult<Option<AppSession>> {
    match state.table.get(&keys::app_session(user_id, app_id)).await? {
        Some(item) => Ok(Some(store::from_item(item)?)),
        None => Ok(None),
    }
}

/// Heartbeat: checks the token, credits what the session earned since the last heartbeat,
/// and rotates the token. Two refreshes with one token: exactly one succeeds.
pub async fn refresh(state: &AppState, token: &str, meta: &RequestMeta) -> ApiResult<SessionStart> {
    // The address's count and the token's read go out together; the 429 comes first.
    let well_formed = token.starts_with("bst_") && token.len() <= 64;
    let source = meta.ip_subject();
    let (counted, first_read) = tokio::join!(
        state.limiter.hit(
            "session-refresh",
            &source,
            state.config.rate_limits.session_refresh,
        ),
        async {
            match well_formed {
                true => read_token(state, token).await,
                false => Ok(None),
            }
        },
    );
    counted?;
    if !well_formed {
        return Err(invalid_session());
    }
    // Heartbeats of the user's sessions with other apps move the same day's tally: a
    // heartbeat that lost that race reads again.
    let mut read = Some(first_read);
    for _ in 0..3 {
        let record = match read.take() {
            Some(first) => first?,
            None => read_token(state, token).await?,
        };
        if let Some(next) = heartbeat(state, token, record).await? {
            return Ok(next);
        }
    }
    Err(ApiError::conflict(
        "session_busy",
        "Another heartbeat of this user is being credited; try again",
    ))
}

/// The record of a presented session token.
async fn read_token(state: &AppState, token: &str) -> ApiResult<Option<SessionTokenRecord>> {
    match state
        .table
        .get(&keys::session_token(&hash_secret(token)))
        .await?
    {
        Some(item) => Ok(Some(store::from_item(item)?)),
        None => Ok(None),
    }
}

/// One try at a heartbeat with the token's record as read; `None` when the day's tally
/// changed meanwhile.
async fn heartbeat(
    state: &AppState,
    token: &str,
    record: Option<SessionTokenRecord>,
) -> ApiResult<Option<SessionStart>> {
    let table = state.table.as_ref();
    let presented = hash_secret(token);
    let old_token_key = keys::session_token(&presented);
    let Some(record) = record else {
        return Err(invalid_session());
    };
    let session_key = keys::app_session(&record.user_id, &record.app_id);
    let day = state.now().date().to_string();
    let daily_key = keys::daily_earnings(&record.user_id, &day);
    let (session, user, app, daily) = tokio::try_join!(
        async { Ok::<_, ApiError>(table.get(&session_key).await?) },
        users::get(table, &record.user_id),
        apps::get(table, &record.app_id),
        async { Ok::<_, ApiError>(table.get(&daily_key).await?) },
    )?;
    let session = session.map(store::from_item::<AppSession>).transpose()?;
    let (Some(session), Some(user), Some(app)) = (session, user.filter(|u| !u.disabled), app)
    else {
        return Err(invalid_session());
    };
    if session.id != record.session_id || session.token_hash != presented {
        return Err(invalid_session());
    }
    if !session.is_active(state)
        || session.credential_generation != user.credential_generation
        || !app.serves(&user.id, session.app_generation)
    {
        return Err(ApiError::unauthorized(
            "session_ended",
            "The session has ended; authorize the app again",
        ));
    }

    let config = &state.config.app_sessions;
    let now = state.now_unix();
    let tally_read = daily
        .map(|item| store::from_item::<DailyEarnings>(item).map(|d| d.points))
        .transpose()?;
    let earned_today = tally_read.unwrap_or(0);
    let earning = app.mints_points();
    let (points, carry) = earned_since(state, &session, &user, earned_today, earning);

    let new_token = format!("bst_{}", random_token());
    let mut next = session.clone();
    next.token_hash = hash_secret(&new_token);
    next.token_expires_at = expiry(state);
    let mut ops = vec![
        Update::new(session_key.clone())
            .set("token_hash", next.token_hash.clone())
            .set("token_expires_at", next.token_expires_at)
            .set("last_heartbeat", now)
            .set("carry_millipoints", carry)
            .set(TTL, now + config.idle_timeout.as_secs() as i64 + 86_400)
            .add("points_earned", points)
            .when(Cond::eq("token_hash", presented.clone()).and(Cond::attr_not_exists("ended_at")))
            .into_op(),
        WriteOp::delete(old_token_key),
        token_item(&new_token, &next)?,
    ];
    if points > 0 {
        let listening = webhooks::listening(state).await;
        let credit = credit_ops(state, &session, points, &daily_key, tally_read, listening)?;
        ops.extend(credit);
    }
    match table.write(ops).await {
        Err(e) if e.failed_key() == Some(&daily_key) => return Ok(None),
        written => written.on_condition(&session_key, invalid_session)?,
    }
    Ok(Some(SessionStart {
        token: new_token,
        expires_at: rfc3339_at(next.token_expires_at),
        earning,
    }))
}

/// What a heartbeat credits: the points earned since the last one (within the alive window,
/// at the user's multiplier, up to the day's cap; nothing for an app that mints nothing) and
/// the thousandths carried over to the next.
fn earned_since(
    state: &AppState,
    session: &AppSession,
    user: &User,
    earned_today: i64,
    earning: bool,
) -> (i64, i64) {
    let config = &state.config.app_sessions;
    let elapsed =
        (state.now_unix() - session.last_heartbeat).clamp(0, config.alive_window.as_secs() as i64);
    let rate_millis = config.earn_per_minute as f64 * user.signup_multiplier * 1000.0 / 60.0;
    let accrued = session.carry_millipoints + (elapsed as f64 * rate_millis).floor() as i64;
    let room = (config.daily_cap - earned_today).max(0);
    let points = if earning {
        (accrued / 1000).min(room)
    } else {
        0
    };
    let carry = if !earning || points < accrued / 1000 {
        0
    } else {
        accrued % 1000
    };
    (points, carry)
}

/// The credit of `points` to the session's user, with the day's tally (`daily_key`);
/// `tally_read` is the tally as read (`None`: no tally yet that day).
fn credit_ops(
    state: &AppState,
    session: &AppSession,
    points: i64,
    daily_key: &store::Key,
    tally_read: Option<i64>,
    listening: Listening,
) -> ApiResult<Vec<WriteOp>> {
    let now = state.now_unix();
    // The day's tally moves only from what was read: a parallel credit fails the write.
    let tally = match tally_read {
        Some(points) => Cond::eq("points", points),
        None => Cond::NotExists,
    };
    let mut ops = vec![Update::new(daily_key.clone())
        .add("points", points)
        .set(TTL, now + 2 * 86_400)
        .when(tally)
        .into_op()];
    ops.extend(ledger::earn(
        &session.user_id,
        points,
        EntryKind::SessionEarning,
        &session.app_id,
        state.now(),
        listening,
    )?);
    Ok(ops)
}

/// Ends the user's session with the app: no more heartbeats or earnings. 404 when there is
/// no session that has not ended.
pub async fn end(state: &AppState, user_id: &str, app_id: &str) -> ApiResult<String> {
    let no_session =
        || ApiError::not_found("no_active_session", "The user has no session with this app");
    let session = get(state, user_id, app_id).await?.ok_or_else(no_session)?;
    let key = keys::app_session(user_id, app_id);
    let update = Update::new(key.clone())
        .set("ended_at", state.now_unix())
        .when(Cond::eq("id", session.id.clone()).and(Cond::attr_not_exists("ended_at")));
    state
        .table
        .write(vec![update.into_op()])
        .await
        .on_condition(&key, no_session)?;
    Ok(session.id)
}
