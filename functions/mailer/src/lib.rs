//! The mailer: consumes the table's DynamoDB stream and sends each new outbox message
//! through SES, at most once (see `buddo_shared::mail::deliver`). Records whose send fails
//! are reported as batch item failures, so Lambda retries only those.

use std::sync::Arc;

use serde_json::{json, Value};

use buddo_shared::clock::Clock;
use buddo_shared::mail::{self, MailSender};
use buddo_shared::store::{Key, SharedTable};

pub struct Mailer {
    pub table: SharedTable,
    pub sender: Arc<dyn MailSender>,
    pub from: String,
    pub clock: Arc<dyn Clock>,
}

/// The outbox key of a stream record, when it is an inserted outbox item.
fn outbox_key(record: &Value) -> Option<Key> {
    if record["eventName"] != "INSERT" {
        return None;
    }
    let keys = &record["dynamodb"]["Keys"];
    let pk = keys["PK"]["S"].as_str()?;
    let sk = keys["SK"]["S"].as_str()?;
    pk.starts_with("OUTBOX#").then(|| Key::new(pk, sk))
}

impl Mailer {
    /// Handles one stream batch; returns the `ReportBatchItemFailures` response.
    pub async fn handle(&self, event: &Value) -> Value {
        let mut failures = Vec::new();
        for record in event["Records"].as_array().into_iter().flatten() {
            let Some(key) = outbox_key(record) else {
                continue;
            };
            let result = mail::deliver(
                self.table.as_ref(),
                self.sender.as_ref(),
                &self.from,
                &key,
                self.clock.now(),
            )
            .await;
            if let Err(e) = result {
                tracing::error!(error = %e, pk = %key.pk, "sending mail failed");
                let id = record["dynamodb"]["SequenceNumber"]
                    .as_str()
                    .unwrap_or_default();
                failures.push(json!({ "itemIdentifier": id }));
            }
        }
        json!({ "batchItemFailures": failures })
    }
}
