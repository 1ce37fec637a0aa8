//! The mailer: consumes the table's DynamoDB stream and sends each new outbox message
//! through SES, at most once (see `buddo_shared::mail::deliver`). Records whose send fails
//! are reported as batch item failures, so Lambda retries only those; records that fail
//! every retry go to the dead-letter queue of the template, and the messages stay in the
//! table for `buddo admin mail retry`. The records of a batch are sent at once, each within
//! `send_deadline`: a provider that hangs fails the records it holds, not the batch, and a
//! batch takes about one deadline at most — never the function's timeout.

use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;

use buddo_shared::clock::Clock;
use buddo_shared::keys;
use buddo_shared::mail::{self, MailSender};
use buddo_shared::store::SharedTable;
use buddo_shared::stream;

pub struct Mailer {
    pub table: SharedTable,
    pub sender: Arc<dyn MailSender>,
    pub from: String,
    pub clock: Arc<dyn Clock>,
    /// How long one send may take before it counts as failed.
    pub send_deadline: std::time::Duration,
}

impl Mailer {
    /// Handles one stream batch; returns the `ReportBatchItemFailures` response.
    pub async fn handle(&self, event: &Event) -> DynamoDbEventResponse {
        stream::each_inserted(
            event,
            keys::as_outbox,
            "sending mail failed",
            |key| async move {
                mail::deliver(
                    self.table.as_ref(),
                    self.sender.as_ref(),
                    &self.from,
                    &key,
                    self.clock.now(),
                    self.send_deadline,
                )
                .await
            },
        )
        .await
    }
}
