//! The mailer: consumes the table's DynamoDB stream and sends each new outbox message
//! through SES, at most once (see `buddo_shared::mail::deliver`). Records whose send fails
//! are reported as batch item failures, so Lambda retries only those; records that fail
//! every retry go to the dead-letter queue of the template, and the messages stay in the
//! table for `buddo admin mail retry`. The records of a batch are sent at once, each within
//! `send_deadline`: a provider that hangs fails the records it holds, not the batch, and a
//! batch takes about one deadline at most — never the function's timeout.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde_dynamo::AttributeValue;

use buddo_shared::clock::Clock;
use buddo_shared::keys;
use buddo_shared::mail::{self, MailSender};
use buddo_shared::store::{Key, SharedTable, PK, SK};

pub struct Mailer {
    pub table: SharedTable,
    pub sender: Arc<dyn MailSender>,
    pub from: String,
    pub clock: Arc<dyn Clock>,
    /// How long one send may take before it counts as failed.
    pub send_deadline: std::time::Duration,
}

/// The outbox key of a stream record, when it is an inserted outbox item.
fn outbox_key(record: &EventRecord) -> Option<Key> {
    if record.event_name != "INSERT" {
        return None;
    }
    let string = |name: &str| match record.change.keys.get(name) {
        Some(AttributeValue::S(s)) => Some(s.as_str()),
        _ => None,
    };
    keys::as_outbox(string(PK)?, string(SK)?)
}

impl Mailer {
    /// Handles one stream batch; returns the `ReportBatchItemFailures` response.
    pub async fn handle(&self, event: &Event) -> DynamoDbEventResponse {
        let sends = event.records.iter().filter_map(|record| {
            let key = outbox_key(record)?;
            Some(async move {
                let result = mail::deliver(
                    self.table.as_ref(),
                    self.sender.as_ref(),
                    &self.from,
                    &key,
                    self.clock.now(),
                    self.send_deadline,
                )
                .await;
                match result {
                    Ok(_) => None,
                    Err(e) => {
                        tracing::error!(error = %e, pk = %key.pk, "sending mail failed");
                        Some(DynamoDbBatchItemFailure {
                            item_identifier: record.change.sequence_number.clone(),
                        })
                    }
                }
            })
        });
        let batch_item_failures = futures::future::join_all(sends)
            .await
            .into_iter()
            .flatten()
            .collect();
        DynamoDbEventResponse {
            batch_item_failures,
        }
    }
}
