//! What a failed DynamoDB call means for the store, and the one retry loop: transaction
//! conflicts and throttling are retried with jittered backoff a bounded number of times; a
//! failed condition or any other error never is.

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use rand::Rng;

use crate::store::{Key, StoreError};

const MAX_ATTEMPTS: u32 = 8;

/// Outcome of one failed attempt.
pub enum Attempt {
    Retry(String),
    Final(StoreError),
}

impl From<StoreError> for Attempt {
    fn from(e: StoreError) -> Self {
        Attempt::Final(e)
    }
}

/// Runs `call` until it succeeds, fails for good, or has conflicted [`MAX_ATTEMPTS`] times.
pub async fn with_retries<T, F, Fut>(mut call: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Attempt>>,
{
    let mut attempt = 0;
    loop {
        match call().await {
            Ok(value) => return Ok(value),
            Err(Attempt::Final(e)) => return Err(e),
            Err(Attempt::Retry(detail)) => {
                attempt += 1;
                if attempt >= MAX_ATTEMPTS {
                    tracing::warn!(%detail, "write still conflicting after retries");
                    return Err(StoreError::Conflict);
                }
                backoff(attempt).await;
            }
        }
    }
}

async fn backoff(attempt: u32) {
    let base = 10u64 << attempt.min(6);
    let jitter = rand::thread_rng().gen_range(0..=base);
    tokio::time::sleep(Duration::from_millis(base / 2 + jitter)).await;
}

pub fn unavailable<E: std::fmt::Debug, R: std::fmt::Debug>(e: SdkError<E, R>) -> StoreError {
    StoreError::Unavailable(format!("{e:?}"))
}

/// A write that was (or may have been) sent and got no usable answer: a timeout, a connection
/// lost, an unreadable or internal-error response. The SDK replayed it already (a transaction
/// with the same client request token); whether it happened is unknown.
fn outcome_unknown<E, R>(e: &SdkError<E, R>) -> Option<StoreError>
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let ambiguous = match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(_) => matches!(
            e.code(),
            Some("InternalServerError" | "InternalFailure" | "ServiceUnavailable")
        ),
        _ => false,
    };
    ambiguous.then(|| StoreError::OutcomeUnknown(format!("{e:?}")))
}

/// A failed single-item call (PutItem, UpdateItem, DeleteItem) on `key`.
pub fn single<E, R>(e: SdkError<E, R>, key: &Key) -> Attempt
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    if let Some(unknown) = outcome_unknown(&e) {
        return Attempt::Final(unknown);
    }
    match e.code() {
        Some("ConditionalCheckFailedException") => {
            Attempt::Final(StoreError::ConditionFailed { key: key.clone() })
        }
        Some(
            "TransactionConflictException"
            | "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded",
        ) => Attempt::Retry(format!("{e:?}")),
        _ => Attempt::Final(unavailable(e)),
    }
}

/// A failed TransactWriteItems of the items `keys`, in request order.
pub fn transaction<R: std::fmt::Debug + Send + Sync + 'static>(
    err: SdkError<TransactWriteItemsError, R>,
    keys: &[Key],
) -> Attempt {
    use TransactWriteItemsError as E;
    if let Some(unknown) = outcome_unknown(&err) {
        return Attempt::Final(unknown);
    }
    let detail = format!("{err:?}");
    match err.into_service_error() {
        E::TransactionCanceledException(cancel) => {
            // One reason per item, in request order: the first failed condition names its item.
            let reasons = cancel.cancellation_reasons();
            if let Some(i) = reasons
                .iter()
                .position(|r| r.code() == Some("ConditionalCheckFailed"))
            {
                return match keys.get(i) {
                    Some(key) => Attempt::Final(StoreError::ConditionFailed { key: key.clone() }),
                    None => Attempt::Final(StoreError::Unavailable(detail)),
                };
            }
            let retryable = reasons.iter().any(|r| {
                matches!(
                    r.code(),
                    Some(
                        "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
                    )
                )
            });
            if retryable {
                Attempt::Retry(detail)
            } else {
                Attempt::Final(StoreError::Unavailable(detail))
            }
        }
        E::TransactionInProgressException(_)
        | E::ProvisionedThroughputExceededException(_)
        | E::ThrottlingException(_)
        | E::RequestLimitExceeded(_) => Attempt::Retry(detail),
        other if other.meta().code() == Some("TransactionConflictException") => {
            Attempt::Retry(detail)
        }
        _ => Attempt::Final(StoreError::Unavailable(detail)),
    }
}
