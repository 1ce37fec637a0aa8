//! The AWS SDK configuration (region, credentials, endpoints from the environment), loaded
//! once per process and shared by every client: a cold start resolves it a single time.

use aws_config::{BehaviorVersion, SdkConfig};
use tokio::sync::OnceCell;

static SDK_CONFIG: OnceCell<SdkConfig> = OnceCell::const_new();

pub async fn sdk_config() -> &'static SdkConfig {
    SDK_CONFIG
        .get_or_init(|| aws_config::load_defaults(BehaviorVersion::latest()))
        .await
}
