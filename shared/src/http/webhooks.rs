//! The webhook endpoints' answers and request bodies, the same under `/api/oauth/my-apps/{id}/
//! webhooks` (an app's owner) and `/api/admin/webhooks` (admins): only who owns the
//! endpoints differs.

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::openapi::Message;
use super::{message, nullable, Json, Listed, Page, PageQuery};
use crate::domain::webhooks::endpoints::{
    self, Attempt, Delivery, Endpoint, EndpointChanges, NewEndpoint, Owner,
};
use crate::{ApiResult, AppState};

/// The answers under both prefixes, once the handler knows whose endpoints the caller manages.
pub struct OwnedEndpoints<'a> {
    pub state: &'a AppState,
    pub owner: Owner,
}

impl OwnedEndpoints<'_> {
    pub async fn create(
        &self,
        body: NewEndpointBody,
    ) -> ApiResult<(StatusCode, Json<CreatedEndpoint>)> {
        let new = NewEndpoint {
            url: body.url,
            event_types: body.event_types,
            description: body.description,
        };
        let endpoint = endpoints::create(self.state, &self.owner, new).await?;
        Ok((
            StatusCode::CREATED,
            Json(CreatedEndpoint::new(&endpoint, self.state.now_unix())),
        ))
    }

    pub async fn list(&self) -> ApiResult<Json<EndpointList>> {
        let list = endpoints::list(self.state.table.as_ref(), &self.owner).await?;
        let now = self.state.now_unix();
        Ok(Json(EndpointList {
            endpoints: list.iter().map(|e| EndpointView::new(e, now)).collect(),
        }))
    }

    pub async fn get(&self, endpoint_id: &str) -> ApiResult<Json<EndpointView>> {
        let endpoint = endpoints::get(self.state.table.as_ref(), &self.owner, endpoint_id).await?;
        Ok(Json(EndpointView::new(&endpoint, self.state.now_unix())))
    }

    pub async fn update(
        &self,
        endpoint_id: &str,
        body: EndpointChangesBody,
    ) -> ApiResult<Json<EndpointView>> {
        let changes = body.into_changes();
        let endpoint = endpoints::update(self.state, &self.owner, endpoint_id, changes).await?;
        Ok(Json(EndpointView::new(&endpoint, self.state.now_unix())))
    }

    pub async fn delete(&self, endpoint_id: &str) -> ApiResult<Json<Message>> {
        endpoints::delete(self.state, &self.owner, endpoint_id).await?;
        Ok(message("The webhook endpoint is deleted"))
    }

    pub async fn rotate_secret(&self, endpoint_id: &str) -> ApiResult<Json<CreatedEndpoint>> {
        let endpoint = endpoints::rotate_secret(self.state, &self.owner, endpoint_id).await?;
        Ok(Json(CreatedEndpoint::new(&endpoint, self.state.now_unix())))
    }

    pub async fn deliveries(
        &self,
        endpoint_id: &str,
        page: PageQuery<DeliveryView>,
    ) -> ApiResult<Json<DeliveryList>> {
        let (limit, cursor) = page.read()?;
        let table = self.state.table.as_ref();
        let page = endpoints::deliveries(table, &self.owner, endpoint_id, limit, cursor).await?;
        Ok(Json(Page {
            items: page.items.into_iter().map(DeliveryView::new).collect(),
            next_cursor: page.next_cursor,
        }))
    }

    pub async fn replay(
        &self,
        endpoint_id: &str,
        delivery_id: &str,
    ) -> ApiResult<(StatusCode, Json<DeliveryView>)> {
        let delivery = endpoints::replay(self.state, &self.owner, endpoint_id, delivery_id).await?;
        Ok((StatusCode::ACCEPTED, Json(DeliveryView::new(delivery))))
    }
}

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
