//! The webhooks function: consumes the table's DynamoDB stream and fans each new event of the
//! webhook outbox out to the endpoints that want it, sending each delivery at once; a schedule
//! (every minute) takes what is due from the sharded due index: retries, and events the stream
//! did not fan out. Records whose fan-out fails are reported as batch item failures, so Lambda
//! retries only those; records that fail every retry go to the dead-letter queue, and the
//! events stay on the due index for the schedule.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;

use buddo_shared::clock::Clock;
use buddo_shared::domain::webhooks::delivery::{self, Report, Sender};
use buddo_shared::keys;
use buddo_shared::store::SharedTable;
use buddo_shared::stream;

pub struct Deliverer {
    pub table: SharedTable,
    pub sender: Sender,
    pub clock: Arc<dyn Clock>,
}

impl Deliverer {
    /// Handles one stream batch; returns the `ReportBatchItemFailures` response.
    pub async fn handle(&self, event: &Event) -> DynamoDbEventResponse {
        let now = self.clock.now();
        stream::each_inserted(
            event,
            keys::as_webhook_event,
            "fanning out a webhook event failed",
            |key| async move {
                delivery::fan_out_and_deliver(self.table.as_ref(), &self.sender, now, &key).await
            },
        )
        .await
    }

    /// The scheduled run: everything due.
    pub async fn run_due(&self) -> anyhow::Result<Report> {
        delivery::run_due(self.table.as_ref(), &self.sender, self.clock.now()).await
    }
}
