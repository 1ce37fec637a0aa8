//! Webhook endpoints: registered by an app's owner (for the app's users) or an admin (for
//! everyone), with the event types they want and a signing secret (`whsec_…`, shown once;
//! kept as is, since signing needs it). A rotated secret keeps signing beside the new one for
//! [`ROTATION_OVERLAP_SECONDS`], so receivers can switch without missing a delivery.

use std::net::IpAddr;

use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::rfc3339;
use crate::domain::input;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::state::AppState;
use crate::store::{
    self, Cond, Query, SortKey, StoreError, Table, Update, WriteOp, GSI1PK, GSI1SK, TTL,
};

use super::{listeners, RETENTION_SECONDS, RETRY_WINDOW_SECONDS};

/// Endpoints one owner may register.
pub const MAX_ENDPOINTS: usize = 10;
/// How long the secret before a rotation still signs deliveries.
pub const ROTATION_OVERLAP_SECONDS: i64 = 24 * 3600;
/// Attempts a delivery remembers (the newest).
pub const HISTORY: usize = 10;

/// Whose endpoints: an admin's list (every user's events) or an app's (its users' events).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    Admin,
    App(String),
}

impl Owner {
    pub fn as_key(&self) -> String {
        match self {
            Owner::Admin => "admin".into(),
            Owner::App(id) => format!("app#{id}"),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    /// `admin` or `app#<app id>`.
    pub owner: String,
    pub url: String,
    #[serde(default)]
    pub description: Option<String>,
    /// Event types, `<group>.*` or `*`.
    pub event_types: Vec<String>,
    pub enabled: bool,
    pub secret: String,
    /// The secret before the last rotation, signing beside the new one until
    /// `previous_secret_until` (epoch seconds).
    #[serde(default)]
    pub previous_secret: Option<String>,
    #[serde(default)]
    pub previous_secret_until: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
    /// One more at every change: a change or deletion holds only over the version it read.
    #[serde(default)]
    pub version: i64,
}

impl Endpoint {
    /// The secrets that sign a delivery now: the current one, and the previous one during the
    /// overlap after a rotation.
    pub fn signing_secrets(&self, now_unix: i64) -> Vec<&str> {
        let mut secrets = vec![self.secret.as_str()];
        if let (Some(old), Some(until)) = (&self.previous_secret, self.previous_secret_until) {
            if now_unix < until {
                secrets.push(old.as_str());
            }
        }
        secrets
    }

    pub fn wants(&self, event_type: super::EventType) -> bool {
        self.enabled && self.event_types.iter().any(|w| event_type.matches(w))
    }
}

/// One attempt of a delivery, for the delivery log.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Attempt {
    pub at: String,
    /// The receiver's HTTP status, when it answered.
    #[serde(default)]
    pub status_code: Option<u16>,
    /// Why it failed, when it did without an answer (or with a non-2xx one).
    #[serde(default)]
    pub error: Option<String>,
    pub duration_ms: u64,
}

/// The delivery of one event to one endpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Delivery {
    /// The event's id: the `webhook-id` of every attempt.
    pub id: String,
    pub endpoint_id: String,
    pub event_type: String,
    /// The exact body sent (and signed) at every attempt.
    pub body: String,
    /// When the event happened (epoch seconds): the `webhook-timestamp` is the attempt's.
    pub created_at: String,
    /// `pending`, `sending`, `delivered` or `failed`.
    pub status: String,
    #[serde(default)]
    pub attempts: i64,
    /// When it is tried next (epoch seconds), while pending.
    #[serde(default)]
    pub next_attempt_at: Option<i64>,
    /// Retries stop after this (epoch seconds): three days after the event or the replay.
    pub retry_until: i64,
    #[serde(default)]
    pub delivered_at: Option<String>,
    #[serde(default)]
    pub history: Vec<Attempt>,
}

fn not_found() -> ApiError {
    ApiError::not_found("endpoint_not_found", "No such webhook endpoint")
}

fn delivery_not_found() -> ApiError {
    ApiError::not_found("delivery_not_found", "No such delivery")
}

/// A new secret: `whsec_` and 24 random bytes in base64 (Standard Webhooks).
pub fn new_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// An address webhooks never go to: loopback, private, shared (CGNAT), link-local, unique-local,
/// multicast, broadcast, unspecified, documentation and other reserved ranges.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_unspecified()
                || v4.is_documentation()
                || a == 0
                || a >= 240
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (18..20).contains(&b))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // fc00::/7 unique local
                || (first & 0xffc0) == 0xfe80 // fe80::/10 link-local
                || (first & 0xffc0) == 0xfec0 // fec0::/10 site-local (deprecated)
                || first == 0x2001 && v6.segments()[1] == 0x0db8 // documentation
                || v6.to_ipv4_mapped().is_some_and(|v4| is_forbidden(IpAddr::V4(v4)))
                || (first == 0x0064 && v6.segments()[1] == 0xff9b) // NAT64 of any IPv4
        }
    }
}

/// Parses an endpoint URL: `https://` (or `http://` too with `WEBHOOKS_ALLOW_PRIVATE`), a host,
/// no user name or password, at most 2048 characters.
pub fn parse_url(raw: &str, allow_private: bool) -> Result<url::Url, &'static str> {
    let t = raw.trim();
    if t.len() > 2048 {
        return Err("must be at most 2048 characters");
    }
    let url = url::Url::parse(t).map_err(|_| "must be an https:// URL")?;
    let scheme_ok = url.scheme() == "https" || (allow_private && url.scheme() == "http");
    if !scheme_ok || url.host().is_none() || !url.username().is_empty() || url.password().is_some()
    {
        return Err("must be an https:// URL");
    }
    Ok(url)
}

const LOCAL_ADDRESS: &str =
    "must not point at a loopback, private, link-local, multicast or unspecified address";

/// Where the URL's host resolves now, every address checked (SSRF): the addresses to connect
/// to. An IP literal is checked as is; a name that resolves to any forbidden address is refused.
pub async fn resolve_checked(
    url: &url::Url,
    allow_private: bool,
    deadline: std::time::Duration,
) -> Result<Vec<std::net::SocketAddr>, String> {
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<std::net::SocketAddr> = match url.host() {
        Some(url::Host::Ipv4(ip)) => vec![(IpAddr::V4(ip), port).into()],
        Some(url::Host::Ipv6(ip)) => vec![(IpAddr::V6(ip), port).into()],
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if !allow_private && (name == "localhost" || name.ends_with(".localhost")) {
                return Err(LOCAL_ADDRESS.into());
            }
            let lookup = tokio::net::lookup_host(format!("{name}:{port}"));
            match tokio::time::timeout(deadline, lookup).await {
                Ok(Ok(found)) => found.collect(),
                Ok(Err(_)) => return Err("does not resolve".into()),
                Err(_) => return Err("did not resolve in time".into()),
            }
        }
        None => return Err("has no host".into()),
    };
    if addrs.is_empty() {
        return Err("does not resolve".into());
    }
    if !allow_private && addrs.iter().any(|a| is_forbidden(a.ip())) {
        return Err(LOCAL_ADDRESS.into());
    }
    Ok(addrs)
}

/// An endpoint URL as registered: well formed, and resolving only to public addresses (unless
/// `WEBHOOKS_ALLOW_PRIVATE`). Delivery checks again after its own resolution.
async fn checked_url(state: &AppState, raw: &str) -> ApiResult<String> {
    let allow = state.config.webhooks_allow_private;
    let url = parse_url(raw, allow).map_err(|reason| ApiError::field("url", reason))?;
    resolve_checked(&url, allow, state.config.deadlines.provider_call)
        .await
        .map_err(|reason| ApiError::field("url", reason))?;
    Ok(url.to_string())
}

fn description(raw: Option<String>) -> ApiResult<Option<String>> {
    match raw {
        Some(d) if d.chars().count() > 200 => Err(ApiError::field(
            "description",
            "must be at most 200 characters",
        )),
        Some(d) if d.trim().is_empty() => Ok(None),
        other => Ok(other.map(|d| d.trim().to_string())),
    }
}

pub struct NewEndpoint {
    pub url: String,
    pub event_types: Vec<String>,
    pub description: Option<String>,
}

/// Registers an endpoint; the answer carries its secret (the only time it is shown).
pub async fn create(state: &AppState, owner: &Owner, new: NewEndpoint) -> ApiResult<Endpoint> {
    let event_types = super::parse_filter("event_types", &new.event_types)?;
    let description = description(new.description)?;
    let url = checked_url(state, &new.url).await?;
    if list(state.table.as_ref(), owner).await?.len() >= MAX_ENDPOINTS {
        return Err(ApiError::conflict(
            "too_many_endpoints",
            format!("At most {MAX_ENDPOINTS} webhook endpoints each"),
        ));
    }
    let now = rfc3339(state.now());
    let endpoint = Endpoint {
        id: uuid::Uuid::new_v4().to_string(),
        owner: owner.as_key(),
        url,
        description,
        event_types,
        enabled: true,
        secret: new_secret(),
        previous_secret: None,
        previous_secret_until: None,
        created_at: now.clone(),
        updated_at: now.clone(),
        version: 1,
    };
    let mut item = store::to_item(&keys::webhook_endpoint(&endpoint.id), &endpoint)?;
    keys::webhook_owner_index(&endpoint.owner, &now, &endpoint.id).put_on(&mut item);
    let mut ops = vec![WriteOp::put_new(item)];
    ops.extend(recount(None, Some(&endpoint)));
    state.table.write(ops).await?;
    state.webhook_listeners.forget();
    Ok(endpoint)
}

/// The owner's endpoints, oldest first.
pub async fn list(table: &dyn Table, owner: &Owner) -> Result<Vec<Endpoint>, StoreError> {
    store::query_all(table, Query::gsi1(keys::webhook_owner(&owner.as_key()))).await
}

/// One endpoint of the owner: someone else's is not found.
pub async fn get(table: &dyn Table, owner: &Owner, id: &str) -> ApiResult<Endpoint> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(not_found());
    }
    match table.get(&keys::webhook_endpoint(id)).await? {
        Some(item) => {
            let endpoint: Endpoint = store::from_item(item)?;
            if endpoint.owner == owner.as_key() {
                Ok(endpoint)
            } else {
                Err(not_found())
            }
        }
        None => Err(not_found()),
    }
}

/// Changes to an endpoint: fields left out stay.
#[derive(Default)]
pub struct EndpointChanges {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
}

pub async fn update(
    state: &AppState,
    owner: &Owner,
    id: &str,
    changes: EndpointChanges,
) -> ApiResult<Endpoint> {
    let before = get(state.table.as_ref(), owner, id).await?;
    let mut endpoint = before.clone();
    let mut update = Update::new(keys::webhook_endpoint(id));
    if let Some(types) = changes.event_types {
        endpoint.event_types = super::parse_filter("event_types", &types)?;
        update = update.set(
            "event_types",
            serde_json::to_value(&endpoint.event_types).map_err(ApiError::internal)?,
        );
    }
    if let Some(d) = changes.description {
        endpoint.description = description(d)?;
        update = update.set(
            "description",
            endpoint
                .description
                .clone()
                .map_or(Value::Null, Value::from),
        );
    }
    if let Some(enabled) = changes.enabled {
        endpoint.enabled = enabled;
        update = update.set("enabled", enabled);
    }
    if let Some(url) = changes.url {
        endpoint.url = checked_url(state, &url).await?;
        update = update.set("url", endpoint.url.clone());
    }
    endpoint.updated_at = rfc3339(state.now());
    // What it wants is counted from what was read: a change racing another is refused.
    endpoint.version += 1;
    update = update
        .set("updated_at", endpoint.updated_at.clone())
        .add("version", 1)
        .when(unchanged_since(&before));
    let mut ops = vec![update.into_op()];
    ops.extend(recount(Some(&before), Some(&endpoint)));
    state.table.write(ops).await.map_err(changed_meanwhile)?;
    state.webhook_listeners.forget();
    Ok(endpoint)
}

/// Deletes an endpoint; its deliveries expire with their retention (pending ones are dropped
/// when they come due).
pub async fn delete(state: &AppState, owner: &Owner, id: &str) -> ApiResult<()> {
    let endpoint = get(state.table.as_ref(), owner, id).await?;
    let mut ops = vec![WriteOp::Delete {
        key: keys::webhook_endpoint(id),
        cond: unchanged_since(&endpoint),
    }];
    ops.extend(recount(Some(&endpoint), None));
    state.table.write(ops).await.map_err(changed_meanwhile)?;
    state.webhook_listeners.forget();
    Ok(())
}

/// The listeners' summary's change for an endpoint going from `before` to `after` (`None`: not
/// there): only enabled endpoints count.
fn recount(before: Option<&Endpoint>, after: Option<&Endpoint>) -> Option<WriteOp> {
    let wants = |e: Option<&Endpoint>, t| i64::from(e.is_some_and(|e| e.wants(t)));
    listeners::recount(|t| wants(after, t) - wants(before, t))
}

/// The endpoint as it was read: still there, still its owner's, not changed since.
fn unchanged_since(endpoint: &Endpoint) -> Cond {
    let version = if endpoint.version == 0 {
        Cond::attr_not_exists("version")
    } else {
        Cond::eq("version", endpoint.version)
    };
    Cond::eq("owner", endpoint.owner.clone()).and(version)
}

fn changed_meanwhile(e: StoreError) -> ApiError {
    if e.is_condition_failed() {
        ApiError::conflict(
            "endpoint_changed",
            "The endpoint changed or went meanwhile; try again",
        )
    } else {
        e.into()
    }
}

/// A new secret for the endpoint; the one it replaces keeps signing beside it for a day.
pub async fn rotate_secret(state: &AppState, owner: &Owner, id: &str) -> ApiResult<Endpoint> {
    let mut endpoint = get(state.table.as_ref(), owner, id).await?;
    // A rotation racing another (or any change) is refused, so no secret is lost unseen.
    let unchanged = unchanged_since(&endpoint);
    let now = state.now();
    let until = now.unix_timestamp() + ROTATION_OVERLAP_SECONDS;
    let old = std::mem::replace(&mut endpoint.secret, new_secret());
    endpoint.previous_secret = Some(old.clone());
    endpoint.previous_secret_until = Some(until);
    endpoint.updated_at = rfc3339(now);
    endpoint.version += 1;
    let update = Update::new(keys::webhook_endpoint(id))
        .set("secret", endpoint.secret.clone())
        .set("previous_secret", old)
        .set("previous_secret_until", until)
        .set("updated_at", endpoint.updated_at.clone())
        .add("version", 1)
        .when(unchanged);
    state
        .table
        .write(vec![update.into_op()])
        .await
        .map_err(changed_meanwhile)?;
    Ok(endpoint)
}

/// The endpoint's deliveries, newest first.
pub async fn deliveries(
    table: &dyn Table,
    owner: &Owner,
    id: &str,
    limit: usize,
    cursor: Option<String>,
) -> ApiResult<input::Listing<Delivery>> {
    get(table, owner, id).await?;
    let query = Query::partition(keys::webhook_endpoint_pk(id))
        .sk(SortKey::BeginsWith(keys::WEBHOOK_DELIVERY_PREFIX.into()))
        .reverse()
        .limit(limit)
        .cursor(cursor);
    input::page(table, &query).await
}

/// Sends a delivery again (delivered or given up): it is pending at once, with a fresh three
/// days of retries, and keeps its `webhook-id`.
pub async fn replay(
    state: &AppState,
    owner: &Owner,
    id: &str,
    delivery_id: &str,
) -> ApiResult<Delivery> {
    get(state.table.as_ref(), owner, id).await?;
    if delivery_id.len() > 100 || !delivery_id.starts_with("msg_") {
        return Err(delivery_not_found());
    }
    let key = keys::webhook_delivery(id, delivery_id);
    let now = state.now();
    let now_unix = now.unix_timestamp();
    let mut update = Update::new(key)
        .set("status", "pending")
        .set("next_attempt_at", now_unix)
        .set("retry_until", now_unix + RETRY_WINDOW_SECONDS)
        .set(TTL, now_unix + RETENTION_SECONDS)
        .when(Cond::Exists.and(Cond::ne("status", "sending")));
    let index = super::delivery_due_index(id, delivery_id, &rfc3339(now));
    update = update.set(GSI1PK, index.pk).set(GSI1SK, index.sk);
    let item = match state.table.update_returning(update).await {
        Ok(item) => item,
        Err(e) if e.is_condition_failed() => {
            return match state
                .table
                .get(&keys::webhook_delivery(id, delivery_id))
                .await?
            {
                Some(_) => Err(ApiError::conflict(
                    "delivery_in_progress",
                    "The delivery is being sent right now; try again in a moment",
                )),
                None => Err(delivery_not_found()),
            };
        }
        Err(e) => return Err(e.into()),
    };
    Ok(store::from_item(item)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_an_enabled_endpoint_wants_is_counted() {
        let endpoint = |types: &[&str], enabled: bool| Endpoint {
            id: "e".into(),
            owner: "admin".into(),
            url: "https://example.com".into(),
            description: None,
            event_types: types.iter().map(|t| t.to_string()).collect(),
            enabled,
            secret: "whsec_x".into(),
            previous_secret: None,
            previous_secret_until: None,
            created_at: String::new(),
            updated_at: String::new(),
            version: 1,
        };
        let subs = endpoint(&["subscription.*", "user.created"], true);
        let Some(WriteOp::Update(added)) = recount(None, Some(&subs)) else {
            panic!("a new endpoint is counted");
        };
        assert_eq!(added.add.len(), 7);
        assert!(added.add.iter().all(|(_, d)| *d == 1));
        let disabled = endpoint(&["subscription.*", "user.created"], false);
        let Some(WriteOp::Update(removed)) = recount(Some(&subs), Some(&disabled)) else {
            panic!("a disabled endpoint is not counted");
        };
        assert!(removed.add.iter().all(|(_, d)| *d == -1));
        assert!(recount(Some(&disabled), None).is_none());
        assert!(recount(Some(&subs), Some(&subs)).is_none());
    }
}
