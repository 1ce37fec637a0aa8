//! `/api/user/activity/stream` and `/api/admin/activity/stream`: the activity log as it
//! happens, as Server-Sent Events. API Gateway's HTTP APIs cannot stream, so on Lambda this
//! group is its own function behind a Function URL in `RESPONSE_STREAM` mode; locally it is
//! one more group of the same server.
//!
//! A stream reads the table every `STREAM_POLL_MS` and sends each new entry once, its sort
//! key (`<rfc3339>#<entry id>`) as the event's `id`. A reconnecting client sends it back as
//! `Last-Event-ID` and gets what came after it. Between entries a comment keeps proxies from
//! closing the connection; every keep-alive also checks the login session again (a revoked
//! session, an expired token or a lost admin role ends the stream); after `STREAM_MAX_SECONDS`
//! the stream ends and the client reconnects (the `retry` it was sent says when).

use std::collections::{BTreeSet, VecDeque};
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::sse::{Event, Sse};
use axum::Router;
use futures::stream::{self, Stream};
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;
use utoipa::ToSchema;

use buddo_shared::clock::rfc3339;
use buddo_shared::domain::activity::{self, Activity, Following};
use buddo_shared::domain::identity::sessions;
use buddo_shared::http::openapi::ErrorBody;
use buddo_shared::http::{AdminUser, AuthUser, Routes};
use buddo_shared::{ApiError, ApiResult, AppState};

/// The group as a Lambda function serves it.
pub fn router(state: AppState) -> Router {
    buddo_shared::http::finish(routes(), state)
}

/// The group's routes, for the Lambda router, the local server and the route list.
pub fn routes() -> Routes {
    Routes::new()
        .get("/api/user/activity/stream", my_activity_stream)
        .get("/api/admin/activity/stream", everyones_activity_stream)
}

/// The group's operations, for the API's OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(my_activity_stream, everyones_activity_stream))]
pub struct Api;

/// The `data` of each event: one activity entry.
#[derive(Serialize, ToSchema)]
pub struct StreamedActivity {
    pub id: String,
    pub user_id: String,
    #[schema(schema_with = buddo_shared::http::openapi::activity_kind)]
    pub kind: &'static str,
    /// When it happened (RFC 3339).
    pub at: String,
    #[schema(required = true)]
    pub ip_address: Option<String>,
    #[schema(required = true)]
    pub user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
}

impl StreamedActivity {
    fn new(a: &Activity) -> Self {
        StreamedActivity {
            id: a.id.clone(),
            user_id: a.user_id.clone(),
            kind: a.kind.as_str(),
            at: a.at.clone(),
            ip_address: a.ip_address.clone(),
            user_agent: a.user_agent.clone(),
            details: a.details.clone(),
        }
    }
}

/// Your activity as it happens: Server-Sent Events (`text/event-stream`), one event per entry
/// (`event:` its kind, `id:` where it sorts, `data:` a `StreamedActivity`), comments as
/// keep-alives. On AWS it is served by its own Function URL (the stack's `StreamUrl`), not the
/// API's base URL.
#[utoipa::path(get, path = "/api/user/activity/stream", tag = "account",
    security(("user_jwt" = [])),
    params(("Last-Event-ID" = Option<String>, Header,
        description = "The `id` of the last event received: the stream goes on after it")),
    responses(
        (status = 200, description = "The stream (`text/event-stream`); it ends after `STREAM_MAX_SECONDS`, the client reconnects with `Last-Event-ID`",
            content_type = "text/event-stream", body = StreamedActivity),
        (status = 400, description = "`validation_failed`: `Last-Event-ID` is not an event id of this stream", body = ErrorBody),
    ))]
async fn my_activity_stream(
    State(state): State<AppState>,
    auth: AuthUser,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let following = Following::User(auth.user.id.clone());
    open(state, headers, following, false)
}

/// Everyone's activity as it happens (admins only), as `/api/user/activity/stream`.
#[utoipa::path(get, path = "/api/admin/activity/stream", tag = "admin",
    security(("user_jwt" = [])),
    params(("Last-Event-ID" = Option<String>, Header,
        description = "The `id` of the last event received: the stream goes on after it")),
    responses(
        (status = 200, description = "The stream (`text/event-stream`)",
            content_type = "text/event-stream", body = StreamedActivity),
        (status = 400, description = "`validation_failed`: `Last-Event-ID` is not an event id of this stream", body = ErrorBody),
    ))]
async fn everyones_activity_stream(
    State(state): State<AppState>,
    _admin: AdminUser,
    headers: HeaderMap,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    open(state, headers, Following::Everyone, true)
}

/// An event id: `<rfc3339>#<entry id>`.
fn parse_event_id(raw: &str) -> ApiResult<String> {
    let invalid = || ApiError::field("Last-Event-ID", "is not an event id of this stream");
    let (at, id) = raw.trim().split_once('#').ok_or_else(invalid)?;
    time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
        .map_err(|_| invalid())?;
    uuid::Uuid::parse_str(id).map_err(|_| invalid())?;
    Ok(format!("{at}#{id}"))
}

fn open(
    state: AppState,
    headers: HeaderMap,
    following: Following,
    admin: bool,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let resume = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .map_err(|_| ())
                .and_then(|s| parse_event_id(s).map_err(|_| ()))
        })
        .transpose()
        .map_err(|()| ApiError::field("Last-Event-ID", "is not an event id of this stream"))?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, t)| t.trim().to_string())
        .unwrap_or_default();
    // Without Last-Event-ID a stream starts now: what came before is in the activity list.
    let floor = resume.unwrap_or_else(|| rfc3339(state.now()));
    let config = state.config.stream.clone();
    let now = Instant::now();
    let feed = Feed {
        state,
        token,
        admin,
        following,
        high: floor.clone(),
        floor,
        seen: BTreeSet::new(),
        pending: VecDeque::new(),
        greeted: false,
        ends_at: now + config.max_duration,
        next_keep_alive: now + config.keep_alive,
        poll: config.poll_interval,
        keep_alive: config.keep_alive,
    };
    Ok(Sse::new(stream::unfold(feed, |mut feed| async move {
        feed.next().await.map(|event| (Ok(event), feed))
    })))
}

/// Entries may commit out of their sort order (two writers in the same second), so each read
/// looks this far behind the newest entry sent, and skips what it sent already.
const LOOK_BEHIND: time::Duration = time::Duration::seconds(5);
/// What the client waits before reconnecting (the `retry` field).
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// One open stream.
struct Feed {
    state: AppState,
    token: String,
    admin: bool,
    following: Following,
    /// Nothing at or before this sort key is sent (where the stream started or resumed).
    floor: String,
    /// The newest sort key sent (or the floor).
    high: String,
    /// Sort keys sent within the look-behind window.
    seen: BTreeSet<String>,
    pending: VecDeque<Activity>,
    greeted: bool,
    ends_at: Instant,
    next_keep_alive: Instant,
    poll: Duration,
    keep_alive: Duration,
}

impl Feed {
    /// The next event to send, waiting for one; `None` ends the stream.
    async fn next(&mut self) -> Option<Event> {
        if !self.greeted {
            self.greeted = true;
            return Some(Event::default().retry(RECONNECT_AFTER).comment("connected"));
        }
        loop {
            if let Some(entry) = self.pending.pop_front() {
                return Some(event(&entry));
            }
            let now = Instant::now();
            if now >= self.ends_at {
                return None;
            }
            if now >= self.next_keep_alive {
                if !self.still_signed_in().await {
                    return None;
                }
                self.next_keep_alive = now + self.keep_alive;
                return Some(Event::default().comment("keep-alive"));
            }
            let wake = (now + self.poll)
                .min(self.next_keep_alive)
                .min(self.ends_at);
            tokio::time::sleep_until(wake).await;
            if let Err(e) = self.read().await {
                // A store that fails now may answer at the next read; the client keeps its place.
                tracing::warn!(error = %e, "reading the activity for a stream");
            }
        }
    }

    /// The login session (and for admins the role) still as it was when the stream opened.
    async fn still_signed_in(&self) -> bool {
        match sessions::authenticate(&self.state, &self.token).await {
            Ok(auth) => !self.admin || auth.user.is_admin,
            Err(_) => false,
        }
    }

    /// Queues what was written since the last read.
    async fn read(&mut self) -> ApiResult<()> {
        let behind = look_behind(&self.high).max(self.floor.clone());
        let entries =
            activity::written_after(self.state.table.as_ref(), &self.following, &behind).await?;
        for entry in entries {
            let key = entry.sort_key();
            if key <= self.floor || self.seen.contains(&key) {
                continue;
            }
            if key > self.high {
                self.high = key.clone();
            }
            self.seen.insert(key);
            self.pending.push_back(entry);
        }
        // Forget what is older than anything the next read looks at.
        let keep_from = look_behind(&self.high);
        self.seen = self.seen.split_off(&keep_from);
        Ok(())
    }
}

/// The sort position `LOOK_BEHIND` before the time of `sort_key`.
fn look_behind(sort_key: &str) -> String {
    let at = sort_key.split('#').next().unwrap_or(sort_key);
    match time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339) {
        Ok(t) => rfc3339(t - LOOK_BEHIND),
        Err(_) => sort_key.to_string(),
    }
}

fn event(entry: &Activity) -> Event {
    let data = serde_json::to_string(&StreamedActivity::new(entry)).unwrap_or_default();
    Event::default()
        .id(entry.sort_key())
        .event(entry.kind.as_str())
        .data(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_sort_keys() {
        let id = "2026-01-01T10:00:00Z#0193b5d2-7c41-7e6a-9f3d-2b8c4e6a1f05";
        assert_eq!(parse_event_id(id).unwrap(), id);
        assert!(parse_event_id("2026-01-01T10:00:00Z").is_err());
        assert!(parse_event_id("yesterday#0193b5d2-7c41-7e6a-9f3d-2b8c4e6a1f05").is_err());
        assert!(parse_event_id("2026-01-01T10:00:00Z#not-a-uuid").is_err());
        assert_eq!(look_behind(id), "2026-01-01T09:59:55Z");
    }
}
