//! The AWS SDK configuration (region, credentials, endpoints from the environment), loaded
//! once per process and shared by every client: a cold start resolves it a single time.
//!
//! Every call has deadlines (docs/architecture.md, "Deadlines"): connecting, each attempt, and
//! the whole operation with the SDK's own retries, so a dependency that accepts a connection
//! and never answers costs a request a bounded time.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use tokio::sync::OnceCell;

use crate::deadlines::Deadlines;

static SDK_CONFIG: OnceCell<SdkConfig> = OnceCell::const_new();

/// The SDK's timeouts for these deadlines.
pub fn timeouts(deadlines: &Deadlines) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(deadlines.aws_connect)
        .operation_attempt_timeout(deadlines.aws_attempt)
        .operation_timeout(deadlines.aws_operation)
        .build()
}

/// The SDK configuration of this process, with these deadlines (the first caller's: a process
/// parses one configuration).
pub async fn sdk_config(deadlines: &Deadlines) -> &'static SdkConfig {
    SDK_CONFIG
        .get_or_init(|| {
            aws_config::defaults(BehaviorVersion::latest())
                // HTTPS by rustls on ring, the crypto library jsonwebtoken links already (the
                // SDK's default client would add aws-lc-rs to every binary).
                .http_client(
                    aws_smithy_http_client::Builder::new()
                        .tls_provider(Provider::Rustls(CryptoMode::Ring))
                        .build_https(),
                )
                .timeout_config(timeouts(deadlines))
                // The standard mode's three attempts, all within the operation deadline.
                .retry_config(RetryConfig::standard().with_max_attempts(3))
                .load()
        })
        .await
}
