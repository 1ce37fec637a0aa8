//! Consuming the table's DynamoDB stream (the mailer, the webhooks function): every inserted
//! item of one kind is worked on at once, and the records whose work failed are answered as
//! batch item failures (`ReportBatchItemFailures`), so Lambda retries only those.

use std::fmt::Display;
use std::future::Future;

use aws_lambda_events::event::dynamodb::{Event, EventRecord};
use aws_lambda_events::event::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use serde_dynamo::AttributeValue;

use crate::store::{Key, PK, SK};

/// The key of a record, when it is an insert of an item `kind` recognises by its key
/// (`keys::as_outbox`, `keys::as_webhook_event`).
pub fn inserted_key(record: &EventRecord, kind: fn(&str, &str) -> Option<Key>) -> Option<Key> {
    if record.event_name != "INSERT" {
        return None;
    }
    let string = |name: &str| match record.change.keys.get(name) {
        Some(AttributeValue::S(s)) => Some(s.as_str()),
        _ => None,
    };
    kind(string(PK)?, string(SK)?)
}

/// Runs `work` on the key of every inserted item of `kind` in the batch, all at once; a record
/// whose work fails is logged with `failure` and reported for Lambda to retry.
pub async fn each_inserted<F, Fut, T, E>(
    event: &Event,
    kind: fn(&str, &str) -> Option<Key>,
    failure: &'static str,
    work: F,
) -> DynamoDbEventResponse
where
    F: Fn(Key) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display,
{
    let work = &work;
    let runs = event.records.iter().filter_map(|record| {
        let key = inserted_key(record, kind)?;
        Some(async move {
            let pk = key.pk.clone();
            match work(key).await {
                Ok(_) => None,
                Err(e) => {
                    tracing::error!(error = %e, pk = %pk, "{failure}");
                    Some(DynamoDbBatchItemFailure {
                        item_identifier: record.change.sequence_number.clone(),
                    })
                }
            }
        })
    });
    DynamoDbEventResponse {
        batch_item_failures: futures::future::join_all(runs)
            .await
            .into_iter()
            .flatten()
            .collect(),
    }
}
