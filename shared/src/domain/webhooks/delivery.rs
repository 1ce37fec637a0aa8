//! Fanning events out and delivering them (the `webhooks` function; a background task
//! locally). Every delivery is signed per Standard Webhooks: `webhook-id` (the event's id, the
//! same at every attempt), `webhook-timestamp` (the attempt's, epoch seconds) and
//! `webhook-signature` (`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">` with the
//! base64-decoded part of each signing secret, space separated).
//!
//! The HTTP call connects only to addresses checked after resolving the endpoint's host (no
//! DNS rebinding between the check and the connection), follows no redirect, and is bounded by
//! the provider deadline (docs/architecture.md, "Deadlines").

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use hmac::{Hmac, Mac};
use rand::Rng;
use serde_json::Value;
use sha2::Sha256;

use super::endpoints::{self, Attempt, Delivery, Endpoint, Owner, HISTORY};
use super::{Event, RETENTION_SECONDS, RETRY_WINDOW_SECONDS};
use crate::clock::rfc3339;
use crate::config::Config;
use crate::keys;
use crate::store::{
    self, Cond, Key, Query, SortKey, StoreError, Table, Update, WriteOp, GSI1PK, GSI1SK, TTL,
};

/// How long one deliverer holds a delivery before another may take it over.
const CLAIM_SECONDS: i64 = 60;
/// The first retry waits about this long; each next one twice as long, up to [`MAX_DELAY`].
const FIRST_DELAY: i64 = 30;
const MAX_DELAY: i64 = 6 * 3600;
/// Due items one run takes from each shard.
const BATCH: usize = 50;

/// The signature header's value for `body` under each secret.
pub fn sign(secrets: &[&str], id: &str, timestamp: i64, body: &str) -> String {
    secrets
        .iter()
        .filter_map(|secret| {
            let raw = secret.strip_prefix("whsec_").unwrap_or(secret);
            let key = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
            mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
            Some(format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
            ))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// How long after failed attempt number `attempts` the next one comes: exponential, with
/// ±20 % jitter so that a receiver that was down is not hit by every retry at once.
pub fn backoff(attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 20) - 1;
    let base = (FIRST_DELAY << exp).min(MAX_DELAY);
    let jitter = rand::thread_rng().gen_range(0.8..1.2);
    ((base as f64) * jitter) as i64
}

/// Resolves a host and refuses it when any of its addresses is forbidden: the client then
/// connects only to the addresses checked here.
struct CheckedResolver {
    allow_private: bool,
    deadline: Duration,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow = self.allow_private;
        let deadline = self.deadline;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let url = url::Url::parse(&format!("https://{host}/"))
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            let addrs = endpoints::resolve_checked(&url, allow, deadline)
                .await
                .map_err(|reason| -> Box<dyn std::error::Error + Send + Sync> {
                    format!("{host} {reason}").into()
                })?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The HTTP client of deliveries.
#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
    deadline: Duration,
}

impl Sender {
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        let deadlines = &config.deadlines;
        let allow_private = config.webhooks_allow_private;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(deadlines.aws_connect)
            .timeout(deadlines.provider_call)
            .user_agent("Buddo-Webhooks")
            .no_proxy()
            .dns_resolver(Arc::new(CheckedResolver {
                allow_private,
                deadline: deadlines.provider_call,
            }))
            .build()?;
        Ok(Sender {
            client,
            allow_private,
            deadline: deadlines.provider_call,
        })
    }

    /// Sends one attempt; the receiver's status, or why there was none.
    async fn post(
        &self,
        url: &str,
        headers: [(&str, String); 3],
        body: String,
    ) -> (Option<u16>, Option<String>) {
        let Ok(parsed) = endpoints::parse_url(url, self.allow_private) else {
            return (None, Some("the URL is not acceptable".into()));
        };
        // IP literals never reach the resolver: they are checked here.
        if matches!(
            parsed.host(),
            Some(url::Host::Ipv4(_)) | Some(url::Host::Ipv6(_))
        ) {
            if let Err(reason) =
                endpoints::resolve_checked(&parsed, self.allow_private, self.deadline).await
            {
                return (None, Some(format!("the address {reason}")));
            }
        }
        let mut request = self
            .client
            .post(parsed)
            .header(reqwest::header::CONTENT_TYPE, "application/json");
        for (name, value) in headers {
            request = request.header(name, value);
        }
        match request.body(body).send().await {
            Ok(response) => {
                let status = response.status();
                let error = (!status.is_success()).then(|| format!("answered {status}"));
                (Some(status.as_u16()), error)
            }
            Err(e) => {
                let reason = if e.is_timeout() {
                    "no answer in time".to_string()
                } else if e.is_connect() {
                    format!("could not connect: {}", root_cause(&e))
                } else {
                    root_cause(&e)
                };
                (None, Some(reason))
            }
        }
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// The endpoints that hear of `event`: every admin endpoint, and those of the apps the user
/// has a grant to now or that the event names.
async fn listeners(table: &dyn Table, event: &Event) -> Result<Vec<Endpoint>, StoreError> {
    let grants = table
        .query(
            &Query::partition(keys::user_pk(&event.user_id))
                .sk(SortKey::BeginsWith(keys::GRANT_PREFIX.into())),
        )
        .await?;
    let mut apps = event.apps.clone();
    for item in grants.items {
        if let Some(app) = item.get("app_id").and_then(Value::as_str) {
            if !apps.iter().any(|a| a == app) {
                apps.push(app.to_string());
            }
        }
    }
    let mut owners = vec![Owner::Admin];
    owners.extend(apps.into_iter().map(Owner::App));
    let lists = futures::future::try_join_all(
        owners
            .iter()
            .map(|owner| async move { endpoints::list(table, owner).await }),
    )
    .await?;
    Ok(lists
        .into_iter()
        .flatten()
        .filter(|e| e.wants(event.event_type))
        .collect())
}

/// Fans one event out: a delivery for each endpoint that wants it (written once however often
/// this runs), then the event leaves the due index. Returns the deliveries' keys.
pub async fn fan_out(
    table: &dyn Table,
    now: time::OffsetDateTime,
    key: &Key,
) -> anyhow::Result<Vec<Key>> {
    let Some(item) = table.get(key).await? else {
        return Ok(Vec::new());
    };
    let event: Event = store::from_item(item)?;
    if event.status != "pending" {
        return Ok(Vec::new());
    }
    let now_unix = now.unix_timestamp();
    let body = event.body();
    let mut keys_out = Vec::new();
    for endpoint in listeners(table, &event).await? {
        let delivery = Delivery {
            id: event.id.clone(),
            endpoint_id: endpoint.id.clone(),
            event_type: event.event_type.as_str().to_string(),
            body: body.clone(),
            created_at: event.created_at.clone(),
            status: "pending".into(),
            attempts: 0,
            next_attempt_at: Some(now_unix),
            retry_until: now_unix + RETRY_WINDOW_SECONDS,
            delivered_at: None,
            history: Vec::new(),
        };
        let key = keys::webhook_delivery(&endpoint.id, &event.id);
        let mut item = store::to_item(&key, &delivery)?;
        super::delivery_due_index(&endpoint.id, &event.id, &rfc3339(now)).put_on(&mut item);
        item.insert(TTL.into(), Value::from(now_unix + RETENTION_SECONDS));
        match table.write(vec![WriteOp::put_new(item)]).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => keys_out.push(key),
            Err(e) => return Err(e.into()),
        }
    }
    let done = Update::new(key.clone())
        .set("status", "fanned_out")
        .remove(GSI1PK)
        .remove(GSI1SK)
        .when(Cond::eq("status", "pending"));
    match table.write(vec![done.into_op()]).await {
        Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(keys_out)
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Failed; tried again later.
    Retrying,
    /// Failed for the last time (or its endpoint is gone).
    Failed,
    /// Not due, done already, or being sent by another deliverer.
    Skipped,
}

/// Tries one delivery when it is due: claims it, sends it signed, and records the attempt
/// (delivered; or pending again after a backoff; or failed once the retry window is over).
pub async fn attempt(
    table: &dyn Table,
    sender: &Sender,
    now: time::OffsetDateTime,
    key: &Key,
) -> anyhow::Result<Outcome> {
    let now_unix = now.unix_timestamp();
    let claim = Update::new(key.clone())
        .set("status", "sending")
        .set("claim_until", now_unix + CLAIM_SECONDS)
        .add("attempts", 1)
        .when(Cond::Exists.and(Cond::Or(vec![
            Cond::eq("status", "pending").and(Cond::le("next_attempt_at", now_unix)),
            Cond::eq("status", "sending").and(Cond::lt("claim_until", now_unix)),
        ])));
    let item = match table.update_returning(claim).await {
        Ok(item) => item,
        Err(StoreError::ConditionFailed { .. }) => return Ok(Outcome::Skipped),
        Err(e) => return Err(e.into()),
    };
    let mut delivery: Delivery = store::from_item(item)?;
    let endpoint = table
        .get(&keys::webhook_endpoint(&delivery.endpoint_id))
        .await?
        .map(store::from_item::<Endpoint>)
        .transpose()?;
    let started = Instant::now();
    let (status_code, error) = match &endpoint {
        Some(endpoint) if endpoint.enabled => {
            let signature = sign(
                &endpoint.signing_secrets(now_unix),
                &delivery.id,
                now_unix,
                &delivery.body,
            );
            let headers = [
                ("webhook-id", delivery.id.clone()),
                ("webhook-timestamp", now_unix.to_string()),
                ("webhook-signature", signature),
            ];
            sender
                .post(&endpoint.url, headers, delivery.body.clone())
                .await
        }
        Some(_) => (None, Some("the endpoint is disabled".to_string())),
        None => (None, Some("the endpoint was deleted".to_string())),
    };
    delivery.history.push(Attempt {
        at: rfc3339(now),
        status_code,
        error: error.clone(),
        duration_ms: started.elapsed().as_millis() as u64,
    });
    let overflow = delivery.history.len().saturating_sub(HISTORY);
    delivery.history.drain(..overflow);
    let history = serde_json::to_value(&delivery.history)?;
    let mut update = Update::new(key.clone())
        .set("history", history)
        .remove("claim_until")
        .when(Cond::eq("status", "sending"));
    let next = now_unix + backoff(delivery.attempts);
    let outcome = if error.is_none() {
        update = update
            .set("status", "delivered")
            .set("delivered_at", rfc3339(now))
            .remove("next_attempt_at")
            .remove(GSI1PK)
            .remove(GSI1SK);
        Outcome::Delivered
    } else if endpoint.as_ref().is_none_or(|e| !e.enabled) || next > delivery.retry_until {
        tracing::warn!(id = %delivery.id, endpoint = %delivery.endpoint_id, attempts = delivery.attempts, "giving up on a webhook delivery");
        update = update
            .set("status", "failed")
            .remove("next_attempt_at")
            .remove(GSI1PK)
            .remove(GSI1SK);
        Outcome::Failed
    } else {
        let due = time::OffsetDateTime::from_unix_timestamp(next)?;
        let index = super::delivery_due_index(&delivery.endpoint_id, &delivery.id, &rfc3339(due));
        update = update
            .set("status", "pending")
            .set("next_attempt_at", next)
            .set(GSI1PK, index.pk)
            .set(GSI1SK, index.sk);
        Outcome::Retrying
    };
    table.write(vec![update.into_op()]).await?;
    Ok(outcome)
}

/// What one run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub fanned_out: usize,
    pub delivered: usize,
    pub retrying: usize,
    pub failed: usize,
}

impl Report {
    fn count(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Delivered => self.delivered += 1,
            Outcome::Retrying => self.retrying += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Skipped => {}
        }
    }
}

/// Fans out an event and tries its deliveries at once (the stream's way in).
pub async fn fan_out_and_deliver(
    table: &dyn Table,
    sender: &Sender,
    now: time::OffsetDateTime,
    key: &Key,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let deliveries = fan_out(table, now, key).await?;
    report.fanned_out += 1;
    let outcomes = futures::future::join_all(
        deliveries
            .iter()
            .map(|k| async move { attempt(table, sender, now, k).await }),
    )
    .await;
    for outcome in outcomes {
        match outcome {
            Ok(o) => report.count(&o),
            Err(e) => tracing::warn!(error = %e, "webhook delivery"),
        }
    }
    Ok(report)
}

/// Everything due on every shard of the due index: events not yet fanned out (the stream
/// missed them or failed) and deliveries whose retry time came. The schedule's run.
pub async fn run_due(
    table: &dyn Table,
    sender: &Sender,
    now: time::OffsetDateTime,
) -> anyhow::Result<Report> {
    let upto = format!("{}#~", rfc3339(now));
    let reads = (0..super::DUE_SHARDS).map(|shard| {
        let query = Query::gsi1(keys::webhook_due_shard(shard))
            .sk(SortKey::Le(upto.clone()))
            .limit(BATCH);
        async move { table.query(&query).await }
    });
    let mut due = Vec::new();
    for page in futures::future::try_join_all(reads).await? {
        for item in page.items {
            due.push(store::item_key(&item)?);
        }
    }
    let work = due.iter().map(|key| async move {
        if keys::as_webhook_event(&key.pk, &key.sk).is_some() {
            fan_out_and_deliver(table, sender, now, key).await
        } else {
            let mut report = Report::default();
            report.count(&attempt(table, sender, now, key).await?);
            Ok(report)
        }
    });
    let mut report = Report::default();
    for result in futures::future::join_all(work).await {
        match result {
            Ok(r) => {
                report.fanned_out += r.fanned_out;
                report.delivered += r.delivered;
                report.retrying += r.retrying;
                report.failed += r.failed;
            }
            Err(e) => tracing::warn!(error = %e, "webhook work"),
        }
    }
    Ok(report)
}

/// The address a URL would be delivered to now (for tests of the SSRF rules).
pub async fn resolve(url: &str, config: &Config) -> Result<Vec<SocketAddr>, String> {
    let parsed = endpoints::parse_url(url, config.webhooks_allow_private).map_err(String::from)?;
    endpoints::resolve_checked(
        &parsed,
        config.webhooks_allow_private,
        config.deadlines.provider_call,
    )
    .await
}
