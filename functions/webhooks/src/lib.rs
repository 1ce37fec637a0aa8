//! The webhooks function: consumes the table's DynamoDB stream and fans each new event of the
//! webhook outbox out to the endpoints that want it, sending each delivery at once; a schedule
//! (every minute) takes what is due from the sharded due index: retries, and events the stream
//! did not fan out. Records whose fan-out fails are reported as batch item failures, so Lambda
//! retries only those; records that fail every retry go to the dead-letter queue, and the
//! events stay on the due index for the schedule.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde_dynamo::AttributeValue;

use buddo_shared::clock::Clock;
use buddo_shared::domain::webhooks::delivery::{self, Report, Sender};
use buddo_shared::keys;
use buddo_shared::store::{Key, SharedTable, PK, SK};

pub struct Deliverer {
    pub table: SharedTable,
    pub sender: Sender,
    pub clock: Arc<dyn Clock>,
}

/// The event key of a stream record, when it is an inserted webhook event.
fn event_key(record: &EventRecord) -> Option<Key> {
    if record.event_name != "INSERT" {
        return None;
    }
    let string = |name: &str| match record.change.keys.get(name) {
        Some(AttributeValue::S(s)) => Some(s.as_str()),
        _ => None,
    };
    keys::as_webhook_event(string(PK)?, string(SK)?)
}

impl Deliverer {
    /// Handles one stream batch; returns the `ReportBatchItemFailures` response.
    pub async fn handle(&self, event: &Event) -> DynamoDbEventResponse {
        let now = self.clock.now();
        let work = event.records.iter().filter_map(|record| {
            let key = event_key(record)?;
            Some(async move {
                match delivery::fan_out_and_deliver(self.table.as_ref(), &self.sender, now, &key)
                    .await
                {
                    Ok(_) => None,
                    Err(e) => {
                        tracing::error!(error = %e, pk = %key.pk, "fanning out a webhook event failed");
                        Some(DynamoDbBatchItemFailure {
                            item_identifier: record.change.sequence_number.clone(),
                        })
                    }
                }
            })
        });
        let batch_item_failures = futures::future::join_all(work)
            .await
            .into_iter()
            .flatten()
            .collect();
        DynamoDbEventResponse {
            batch_item_failures,
        }
    }

    /// The scheduled run: everything due.
    pub async fn run_due(&self) -> anyhow::Result<Report> {
        delivery::run_due(self.table.as_ref(), &self.sender, self.clock.now()).await
    }
}
