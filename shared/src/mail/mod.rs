//! Mail (docs/architecture.md, "Mail"): never sent inside a request. A request adds an outbox item in the
//! same atomic write as the token the mail carries; a deliverer (the `mailer` function on the
//! table's stream, or a background task locally) sends it and marks it sent.

mod local;
#[cfg(feature = "ses")]
mod ses;
pub mod templates;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::rfc3339;
use crate::keys;
use crate::store::{
    self, Cond, Item, Key, Query, StoreError, Table, Update, WriteOp, GSI1PK, GSI1SK, TTL,
};

pub use local::LocalMailer;
#[cfg(feature = "ses")]
pub use ses::SesMailer;

/// Outbox items are kept two weeks for inspection, then expire.
const OUTBOX_RETENTION_SECONDS: i64 = 14 * 24 * 3600;
/// How long a deliverer may hold a message before another may take it over.
const CLAIM_SECONDS: i64 = 120;
/// Sends tried before a message is given up as failed (and leaves the pending index).
pub const MAX_ATTEMPTS: i64 = 5;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OutboxMessage {
    pub id: String,
    pub to: String,
    pub subject: String,
    /// Removed once sent: it may carry a single-use link.
    #[serde(default)]
    pub text: Option<String>,
    pub status: String,
    #[serde(default)]
    pub attempts: i64,
    pub created_at: String,
    #[serde(default)]
    pub sent_at: Option<String>,
    #[serde(default)]
    pub provider_id: Option<String>,
}

/// The write that queues `mail`; put it in the same atomic write as what it announces.
pub fn enqueue(mail: Mail, now: time::OffsetDateTime) -> WriteOp {
    let id = uuid::Uuid::now_v7().to_string();
    let created_at = rfc3339(now);
    let message = OutboxMessage {
        id: id.clone(),
        to: mail.to,
        subject: mail.subject,
        text: Some(mail.text),
        status: "pending".into(),
        attempts: 0,
        created_at: created_at.clone(),
        sent_at: None,
        provider_id: None,
    };
    let mut item =
        store::to_item(&keys::outbox(&id), &message).expect("outbox message is an object");
    keys::outbox_index(&created_at, &id).put_on(&mut item);
    item.insert(
        TTL.into(),
        Value::from(now.unix_timestamp() + OUTBOX_RETENTION_SECONDS),
    );
    WriteOp::put_new(item)
}

#[async_trait]
pub trait MailSender: Send + Sync {
    /// Sends one message; returns the provider's message id.
    async fn send(&self, from: &str, mail: &Mail) -> anyhow::Result<String>;
}

#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    /// Sent before, or being sent by another deliverer right now.
    Skipped,
}

/// Delivers one outbox message: claim it, send it, mark it sent. A message that is sent or
/// claimed is never sent again (only a claim that expired after the provider accepted the
/// message but before it was marked sent can repeat it). A failed send releases the claim
/// and returns the error, so the caller can retry; after [`MAX_ATTEMPTS`] sends the message
/// is marked `failed` and moves to the failed list ([`requeue_failed`] puts it back).
pub async fn deliver(
    table: &dyn Table,
    sender: &dyn MailSender,
    from: &str,
    key: &Key,
    now: time::OffsetDateTime,
    send_deadline: std::time::Duration,
) -> anyhow::Result<Delivery> {
    let now_unix = now.unix_timestamp();
    let claim = Update::new(key.clone())
        .set("status", "sending")
        .set("claim_until", now_unix + CLAIM_SECONDS)
        .add("attempts", 1)
        .when(Cond::Exists.and(Cond::Or(vec![
            Cond::eq("status", "pending"),
            Cond::eq("status", "sending").and(Cond::lt("claim_until", now_unix)),
        ])));
    let item = match table.update_returning(claim).await {
        Ok(item) => item,
        Err(StoreError::ConditionFailed { .. }) => return Ok(Delivery::Skipped),
        Err(e) => return Err(e.into()),
    };
    let message: OutboxMessage = store::from_item(item)?;
    let mail = Mail {
        to: message.to.clone(),
        subject: message.subject.clone(),
        text: message.text.clone().unwrap_or_default(),
    };
    // A provider that never answers fails this message like any other failure: the claim is
    // released and the caller retries it, instead of waiting out the function's timeout.
    let sent = tokio::time::timeout(send_deadline, sender.send(from, &mail))
        .await
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the mail provider did not answer in time")));
    match sent {
        Ok(provider_id) => {
            let done = Update::new(key.clone())
                .set("status", "sent")
                .set("sent_at", rfc3339(now))
                .set("provider_id", provider_id)
                .remove("text")
                .remove("claim_until")
                .remove(GSI1PK)
                .remove(GSI1SK)
                .when(Cond::eq("status", "sending"));
            table.write(vec![done.into_op()]).await?;
            Ok(Delivery::Sent)
        }
        Err(e) => {
            let release = if message.attempts >= MAX_ATTEMPTS {
                tracing::error!(id = %message.id, attempts = message.attempts, "giving up on a message");
                // The text stays: the message can still be sent once the fault is fixed.
                Update::new(key.clone())
                    .set("status", "failed")
                    .set(GSI1PK, keys::OUTBOX_FAILED)
            } else {
                Update::new(key.clone()).set("status", "pending")
            }
            .set("last_error", e.to_string())
            .remove("claim_until")
            .when(Cond::eq("status", "sending"));
            if let Err(store_err) = table.write(vec![release.into_op()]).await {
                tracing::warn!(error = %store_err, "could not release an outbox claim");
            }
            Err(e)
        }
    }
}

/// Delivers every pending message (local development; the Lambda uses the stream).
pub async fn deliver_pending(
    table: &dyn Table,
    sender: &dyn MailSender,
    from: &str,
    now: time::OffsetDateTime,
    send_deadline: std::time::Duration,
) -> anyhow::Result<usize> {
    let page = table
        .query(&Query::gsi1(keys::OUTBOX_PENDING).limit(50))
        .await?;
    let mut sent = 0;
    for item in page.items {
        let key = store::item_key(&item)?;
        match deliver(table, sender, from, &key, now, send_deadline).await {
            Ok(Delivery::Sent) => sent += 1,
            Ok(Delivery::Skipped) => {}
            Err(e) => tracing::warn!(error = %e, "mail delivery failed; will retry"),
        }
    }
    Ok(sent)
}

async fn list(table: &dyn Table, partition: &str) -> Result<Vec<Item>, StoreError> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = table
            .query(&Query::gsi1(partition).limit(100).cursor(cursor))
            .await?;
        out.extend(page.items);
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(out),
        }
    }
}

/// Messages still waiting in the outbox, oldest first (tests and tools).
pub async fn pending(table: &dyn Table) -> Result<Vec<OutboxMessage>, StoreError> {
    list(table, keys::OUTBOX_PENDING)
        .await?
        .into_iter()
        .map(store::from_item)
        .collect()
}

/// Puts every message given up after [`MAX_ATTEMPTS`] failed sends back in the queue with a
/// fresh count of attempts; returns how many. The operator's replay after fixing what made
/// sending fail (`buddo admin mail retry`).
pub async fn requeue_failed(table: &dyn Table) -> Result<usize, StoreError> {
    let failed = list(table, keys::OUTBOX_FAILED).await?;
    for item in &failed {
        let requeue = Update::new(store::item_key(item)?)
            .set("status", "pending")
            .set("attempts", 0)
            .set(GSI1PK, keys::OUTBOX_PENDING)
            .when(Cond::eq("status", "failed"));
        match table.write(vec![requeue.into_op()]).await {
            Ok(()) | Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(failed.len())
}
