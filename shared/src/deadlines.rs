//! How long anything may wait on a dependency: the values, apart from the configuration
//! that parses them, so the AWS clients and the store can take them without depending on it.

use std::time::Duration;

/// How long anything may wait on a dependency (docs/architecture.md, "Deadlines"). Each
/// bound sits under the next: an SDK attempt under the SDK operation, the operation under one
/// store call, store calls under the request, the request under the function's `Timeout` and
/// API Gateway's integration timeout (template.yaml).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deadlines {
    /// Opening a connection to an AWS endpoint (in-region: a few milliseconds).
    pub aws_connect: Duration,
    /// One attempt of an AWS call (a GetItem answers in single milliseconds in-region; a
    /// 100-item transaction in tens).
    pub aws_attempt: Duration,
    /// One AWS call with the SDK's own retries.
    pub aws_operation: Duration,
    /// One call of the store (the DynamoDB backend's conflict retries included), on both
    /// backends. A read past it is 503 `service_unavailable`, a write 503 `outcome_unknown`.
    pub store_call: Duration,
    /// One call to a sign-in provider (Google's or GitHub's token, keys or API endpoint).
    /// A sign-in makes at most two in a row, so two fit in a request; past it the answer is
    /// 502 `provider_unavailable`.
    pub provider_call: Duration,
    /// A whole request (a login's hashing included); past it the answer is 503.
    pub request: Duration,
    /// Requests in flight in one process; past it a request is shed at once with 503.
    pub max_in_flight: usize,
}

impl Default for Deadlines {
    fn default() -> Self {
        Deadlines {
            aws_connect: Duration::from_millis(1000),
            aws_attempt: Duration::from_millis(1000),
            aws_operation: Duration::from_millis(2000),
            store_call: Duration::from_millis(3000),
            provider_call: Duration::from_millis(1500),
            request: Duration::from_millis(4500),
            max_in_flight: 512,
        }
    }
}
