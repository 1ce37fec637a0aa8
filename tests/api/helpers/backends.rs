//! The two store backends and the configuration every test starts from.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use buddo_shared::clock::Clock;
use buddo_shared::config::{
    Config, Deadlines, Limit, PasskeyConfig, PasswordConfig, RateLimits, StreamConfig,
};
use buddo_shared::store::{DynamoTable, EmbeddedTable, SharedTable, StoreConfig};

use super::Backend;

pub fn dynamodb_endpoint() -> String {
    from_run_sh("BUDDO_TEST_DYNAMODB_ENDPOINT", "starts DynamoDB Local")
}

pub fn ses_endpoint() -> String {
    from_run_sh("BUDDO_TEST_SES_ENDPOINT", "starts moto_server")
}

/// A variable `tests/run.sh` sets (an emulator's endpoint, a tool's path); without it the test
/// fails with the one line that says what to do (no panic location or backtrace: the unwind
/// skips the panic hook).
pub fn from_run_sh(variable: &str, what_run_sh_does: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        let line = format!(
            "{variable} is not set: run the tests with tests/run.sh, which {what_run_sh_does}"
        );
        eprintln!("{line}");
        std::panic::resume_unwind(Box::new(line))
    })
}

/// A DynamoDB client for DynamoDB Local with dummy credentials.
pub fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(dynamodb_endpoint())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

static TABLE_SEQ: AtomicU32 = AtomicU32::new(0);

/// A new, empty table on DynamoDB Local.
pub async fn fresh_dynamo_table(clock: Arc<dyn Clock>) -> DynamoTable {
    let name = format!(
        "test-{}-{}",
        TABLE_SEQ.fetch_add(1, Ordering::SeqCst),
        uuid::Uuid::new_v4().simple()
    );
    let table = DynamoTable::new(dynamodb_client(), name, clock);
    table
        .create_table()
        .await
        .expect("creating a DynamoDB Local table");
    table
}

/// A new, empty table on the chosen backend.
pub async fn fresh_table(backend: Backend, clock: Arc<dyn Clock>) -> SharedTable {
    match backend {
        Backend::Embedded => Arc::new(EmbeddedTable::in_memory(clock).expect("in-memory table")),
        Backend::Dynamo => Arc::new(fresh_dynamo_table(clock).await),
    }
}

/// Limits high enough that only the rate-limit tests ever reach them.
pub fn generous_limits() -> RateLimits {
    RateLimits::all(Limit::new(100_000, 60))
}

/// The configuration every test starts from: fast hashing, generous limits.
pub fn test_config() -> Config {
    let defaults = Config::default();
    Config {
        store: StoreConfig::Memory,
        data_dir: std::env::temp_dir()
            .join(format!("buddo-test-{}", uuid::Uuid::new_v4().simple())),
        public_web_url: "https://app.buddo.test".into(),
        password: PasswordConfig {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        },
        rate_limits: generous_limits(),
        admin_emails: vec!["boss@buddo.test".into()],
        // DynamoDB Local on a busy CI machine can take seconds for one transaction: only the
        // deadline tests (tests/api/deadlines.rs) hold the server to the production bounds.
        deadlines: Deadlines {
            store_call: Duration::from_secs(60),
            request: Duration::from_secs(120),
            max_in_flight: 100_000,
            ..defaults.deadlines.clone()
        },
        // A stream a test opens (the events test, a client that reads to the end) ends soon,
        // and reads and keeps alive quickly; tests/api/account/stream.rs sets its own.
        stream: StreamConfig {
            max_duration: Duration::from_secs(2),
            poll_interval: Duration::from_millis(50),
            keep_alive: Duration::from_millis(500),
        },
        // The software authenticator's page (helpers/passkeys.rs).
        passkeys: PasskeyConfig {
            rp_id: super::PASSKEY_RP_ID.into(),
            origins: vec![super::PASSKEY_ORIGIN.into()],
            ..PasskeyConfig::default()
        },
        ..defaults
    }
}
