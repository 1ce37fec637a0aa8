//! Signed lifecycle webhooks (docs/architecture.md, "Webhooks"), per the Standard Webhooks
//! specification.
//!
//! A change that others may want to hear about writes an event item (the outbox) in the same
//! atomic write as the change itself ([`Listening::announce`]): a write that fails or is rolled
//! back leaves no event. Only event types some enabled endpoint wants are written at all. The `webhooks` function (the table's stream, and a schedule every minute;
//! a background task locally) fans each event out to the endpoints that want it, one delivery
//! item per endpoint, and sends each signed, retrying with backoff for up to three days.
//!
//! Endpoints belong to an admin's list (every user's events) or to an app (its users' events:
//! the users with a grant to the app, or who had one when the event happened).

#[cfg(feature = "webhooks")]
pub mod delivery;
pub mod endpoints;
mod listeners;

pub use listeners::{listening, Listening};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::rfc3339;
use crate::crypto::hash_secret;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::store::{self, WriteOp, TTL};

/// GSI1 partitions of the due index (events to fan out, deliveries to try).
pub const DUE_SHARDS: u32 = 8;
/// Events and deliveries are kept a week after they are written, then expire.
pub const RETENTION_SECONDS: i64 = 7 * 24 * 3600;
/// Deliveries are retried this long after the event, then given up as failed.
pub const RETRY_WINDOW_SECONDS: i64 = 3 * 24 * 3600;

/// The kinds of events an endpoint can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "user.created")]
    UserCreated,
    #[serde(rename = "user.deleted")]
    UserDeleted,
    #[serde(rename = "user.email_changed")]
    UserEmailChanged,
    #[serde(rename = "user.password_changed")]
    UserPasswordChanged,
    #[serde(rename = "session.revoked")]
    SessionRevoked,
    #[serde(rename = "grant.created")]
    GrantCreated,
    #[serde(rename = "grant.revoked")]
    GrantRevoked,
    #[serde(rename = "points.credited")]
    PointsCredited,
    #[serde(rename = "points.debited")]
    PointsDebited,
    #[serde(rename = "subscription.created")]
    SubscriptionCreated,
    #[serde(rename = "subscription.renewed")]
    SubscriptionRenewed,
    #[serde(rename = "subscription.changed")]
    SubscriptionChanged,
    #[serde(rename = "subscription.past_due")]
    SubscriptionPastDue,
    #[serde(rename = "subscription.canceled")]
    SubscriptionCanceled,
    #[serde(rename = "subscription.expired")]
    SubscriptionExpired,
}

impl EventType {
    pub const ALL: [EventType; 15] = [
        EventType::UserCreated,
        EventType::UserDeleted,
        EventType::UserEmailChanged,
        EventType::UserPasswordChanged,
        EventType::SessionRevoked,
        EventType::GrantCreated,
        EventType::GrantRevoked,
        EventType::PointsCredited,
        EventType::PointsDebited,
        EventType::SubscriptionCreated,
        EventType::SubscriptionRenewed,
        EventType::SubscriptionChanged,
        EventType::SubscriptionPastDue,
        EventType::SubscriptionCanceled,
        EventType::SubscriptionExpired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::UserCreated => "user.created",
            EventType::UserDeleted => "user.deleted",
            EventType::UserEmailChanged => "user.email_changed",
            EventType::UserPasswordChanged => "user.password_changed",
            EventType::SessionRevoked => "session.revoked",
            EventType::GrantCreated => "grant.created",
            EventType::GrantRevoked => "grant.revoked",
            EventType::PointsCredited => "points.credited",
            EventType::PointsDebited => "points.debited",
            EventType::SubscriptionCreated => "subscription.created",
            EventType::SubscriptionRenewed => "subscription.renewed",
            EventType::SubscriptionChanged => "subscription.changed",
            EventType::SubscriptionPastDue => "subscription.past_due",
            EventType::SubscriptionCanceled => "subscription.canceled",
            EventType::SubscriptionExpired => "subscription.expired",
        }
    }

    /// One name of an endpoint's list: an event type, or `<group>.*` for every type of a group
    /// (`subscription.*`), or `*` for all.
    pub fn matches(self, wanted: &str) -> bool {
        wanted == "*"
            || wanted == self.as_str()
            || wanted
                .strip_suffix(".*")
                .is_some_and(|group| self.as_str().split('.').next() == Some(group))
    }

    /// The event of a change of a subscription (`subscriptions::noted`'s change names).
    pub fn of_subscription_change(change: &str) -> Option<Self> {
        match change {
            "created" => Some(EventType::SubscriptionCreated),
            "renewed" => Some(EventType::SubscriptionRenewed),
            "past_due" => Some(EventType::SubscriptionPastDue),
            "canceled" => Some(EventType::SubscriptionCanceled),
            "canceled_unpaid" => Some(EventType::SubscriptionExpired),
            _ => Some(EventType::SubscriptionChanged),
        }
    }
}

/// Checks an endpoint's list of event types: each a type, a `<group>.*` or `*`.
pub fn parse_filter(field: &'static str, raw: &[String]) -> ApiResult<Vec<String>> {
    if raw.is_empty() || raw.len() > 20 {
        return Err(ApiError::field(field, "name 1 to 20 event types"));
    }
    let mut out: Vec<String> = Vec::new();
    for name in raw {
        let name = name.trim();
        let known = EventType::ALL.iter().any(|t| t.matches(name))
            && (name == "*"
                || name.ends_with(".*")
                || EventType::ALL.iter().any(|t| t.as_str() == name));
        if !known {
            return Err(ApiError::field(
                field,
                format!("{name:?} is not an event type"),
            ));
        }
        if !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

/// One event in the outbox.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Event {
    /// The `webhook-id` of every delivery of the event (a time-ordered UUID, `msg_` prefixed).
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub user_id: String,
    /// Apps that hear of the event besides the user's apps when it is fanned out (the app of a
    /// grant; every app of a deleted account).
    #[serde(default)]
    pub apps: Vec<String>,
    pub data: Value,
    pub created_at: String,
    /// `pending` until it is fanned out, then `fanned_out`.
    pub status: String,
}

impl Event {
    /// The body every endpoint receives: `{"type", "timestamp", "data"}`.
    pub fn body(&self) -> String {
        serde_json::json!({
            "type": self.event_type.as_str(),
            "timestamp": self.created_at,
            "data": self.data,
        })
        .to_string()
    }
}

/// The shard of the due index an item of this id sits on.
pub fn due_shard(id: &str) -> u32 {
    u32::from_str_radix(&hash_secret(id)[..4], 16).unwrap_or(0) % DUE_SHARDS
}

/// A delivery's place on the due index (the shard by endpoint and event, so one event's
/// deliveries spread over the shards).
pub fn delivery_due_index(endpoint_id: &str, event_id: &str, due_at: &str) -> keys::IndexKey {
    keys::webhook_due_index(
        due_shard(&format!("{endpoint_id}/{event_id}")),
        due_at,
        event_id,
    )
}

/// The write that puts an event in the outbox (written only when some endpoint wants its type:
/// [`Listening::announce`]). `data` gets the `user_id`.
fn event_op(
    now: time::OffsetDateTime,
    event_type: EventType,
    user_id: &str,
    apps: Vec<String>,
    data: Value,
) -> WriteOp {
    let id = format!("msg_{}", uuid::Uuid::now_v7().simple());
    let created_at = rfc3339(now);
    let mut data = match data {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    data.insert("user_id".into(), Value::from(user_id));
    let event = Event {
        id: id.clone(),
        event_type,
        user_id: user_id.to_string(),
        apps,
        data: Value::Object(data),
        created_at: created_at.clone(),
        status: "pending".into(),
    };
    let mut item =
        store::to_item(&keys::webhook_event(&id), &event).expect("an event is an object");
    keys::webhook_due_index(due_shard(&id), &created_at, &id).put_on(&mut item);
    item.insert(
        TTL.into(),
        Value::from(now.unix_timestamp() + RETENTION_SECONDS),
    );
    WriteOp::put_new(item)
}
