//! The webhook endpoints' answers and request bodies, the same under `/api/oauth/my-apps/{id}/
//! webhooks` (an app's owner) and `/api/admin/webhooks` (admins): only who owns the
//! endpoints differs.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{nullable, Listed, Page};
use crate::domain::webhooks::endpoints::{Attempt, Delivery, Endpoint, EndpointChanges};

/// A webhook endpoint (never its secret, except in [`CreatedEndpoint`] and after a rotation).
#[derive(Serialize, ToSchema)]
pub struct EndpointView {
    pub id: String,
    pub url: String,
    #[schema(required = true)]
    pub description: Option<String>,
    /// Event types (`user.created`), groups (`subscription.*`) or `*`.
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Until when (RFC 3339) the secret before the last rotation still signs beside the new one.
    #[schema(required = true)]
    pub previous_secret_expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl EndpointView {
    pub fn new(e: &Endpoint, now_unix: i64) -> Self {
        EndpointView {
            id: e.id.clone(),
            url: e.url.clone(),
            description: e.description.clone(),
            event_types: e.event_types.clone(),
            enabled: e.enabled,
            previous_secret_expires_at: e
                .previous_secret_until
                .filter(|until| *until > now_unix)
                .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                .map(crate::clock::rfc3339),
            created_at: e.created_at.clone(),
            updated_at: e.updated_at.clone(),
        }
    }
}

/// An endpoint with its signing secret: shown when it is created and when it is rotated, never
/// again.
#[derive(Serialize, ToSchema)]
pub struct CreatedEndpoint {
    #[serde(flatten)]
    pub endpoint: EndpointView,
    /// `whsec_` and the base64 key: verify each delivery's `webhook-signature` with it.
    pub secret: String,
}

impl CreatedEndpoint {
    pub fn new(e: &Endpoint, now_unix: i64) -> Self {
        CreatedEndpoint {
            endpoint: EndpointView::new(e, now_unix),
            secret: e.secret.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct EndpointList {
    pub endpoints: Vec<EndpointView>,
}

/// A new endpoint.
#[derive(Deserialize, ToSchema)]
pub struct NewEndpointBody {
    /// An `https://` URL that resolves only to public addresses.
    #[schema(format = "uri")]
    pub url: String,
    /// 1 to 20 of: an event type, `<group>.*`, or `*`.
    pub event_types: Vec<String>,
    /// Up to 200 characters.
    #[serde(default)]
    pub description: Option<String>,
}

/// Changes to an endpoint: fields left out stay; `null` clears the description.
#[derive(Deserialize, ToSchema)]
pub struct EndpointChangesBody {
    #[serde(default)]
    #[schema(format = "uri")]
    pub url: Option<String>,
    #[serde(default)]
    pub event_types: Option<Vec<String>>,
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// A disabled endpoint gets no new deliveries; pending ones fail.
    #[serde(default)]
    pub enabled: Option<bool>,
}

impl EndpointChangesBody {
    pub fn into_changes(self) -> EndpointChanges {
        EndpointChanges {
            url: self.url,
            event_types: self.event_types,
            description: self.description,
            enabled: self.enabled,
        }
    }
}

/// One attempt of a delivery.
#[derive(Serialize, ToSchema)]
pub struct AttemptView {
    pub at: String,
    #[schema(required = true)]
    pub status_code: Option<u16>,
    #[schema(required = true)]
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// A delivery of one event to the endpoint, with its last attempts.
#[derive(Serialize, ToSchema)]
pub struct DeliveryView {
    /// The event's id: the `webhook-id` of every attempt.
    pub id: String,
    pub event_type: String,
    /// `pending`, `sending`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i64,
    /// When it is tried next (RFC 3339), while pending.
    #[schema(required = true)]
    pub next_attempt_at: Option<String>,
    #[schema(required = true)]
    pub delivered_at: Option<String>,
    pub created_at: String,
    /// The body sent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
    /// The last ten attempts, oldest first.
    pub history: Vec<AttemptView>,
}

impl DeliveryView {
    pub fn new(d: Delivery) -> Self {
        DeliveryView {
            payload: serde_json::from_str(&d.body).unwrap_or_default(),
            id: d.id,
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempts,
            next_attempt_at: d
                .next_attempt_at
                .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t).ok())
                .map(crate::clock::rfc3339),
            delivered_at: d.delivered_at,
            created_at: d.created_at,
            history: d
                .history
                .into_iter()
                .map(|a: Attempt| AttemptView {
                    at: a.at,
                    status_code: a.status_code,
                    error: a.error,
                    duration_ms: a.duration_ms,
                })
                .collect(),
        }
    }
}

impl Listed for DeliveryView {
    const FIELD: &'static str = "deliveries";
    const PAGE: &'static str = "DeliveryList";
    const NOUN: &'static str = "Deliveries";
}

/// A page of deliveries, newest first.
pub type DeliveryList = Page<DeliveryView>;
