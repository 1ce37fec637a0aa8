//! Everything a handler needs, built once per process (per Lambda instance).

use std::ops::Deref;
use std::sync::Arc;

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Features};
use crate::id_token::IdTokenKeys;
use crate::jwt::JwtKeys;
use crate::password::PasswordHashing;
use crate::providers::Providers;
use crate::ratelimit::RateLimiter;
use crate::store::{self, SharedTable};

/// How long a process trusts what it last read of the webhook endpoints' wants: an endpoint
/// registered elsewhere hears of events from at most this long after.
pub const LISTENERS_KEPT_FOR: std::time::Duration = std::time::Duration::from_secs(10);

pub struct Services {
    pub config: Config,
    pub table: SharedTable,
    pub jwt: JwtKeys,
    /// The keys that sign ID tokens; none in a Lambda function not given them.
    pub id_tokens: IdTokenKeys,
    pub passwords: PasswordHashing,
    pub clock: Arc<dyn Clock>,
    pub limiter: RateLimiter,
    /// The sign-in providers configured (Google, GitHub).
    pub providers: Providers,
    /// Which event types some webhook endpoint wants, as last read
    /// (`domain::webhooks::listening`).
    pub webhook_listeners: crate::cache::Timed<u32>,
    /// Where profile images are kept.
    #[cfg(feature = "images")]
    pub images: crate::images::Images,
}

#[derive(Clone)]
pub struct AppState(Arc<Services>);

impl Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.0
    }
}

impl AppState {
    /// Configuration from the environment, the configured store and keys.
    pub async fn from_env() -> anyhow::Result<Self> {
        let config = Config::from_env()?;
        config.check_features(Features::BUILT, false)?;
        tracing::info!(stage = %config.stage, store = ?config.store, "starting");
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let table = store::open(&config.store, &config.deadlines, clock.clone()).await?;
        Self::build(config, table, clock).await
    }

    pub async fn build(
        mut config: Config,
        table: SharedTable,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        config.social.resolve_secrets(&config.deadlines).await?;
        let jwt = JwtKeys::load(&config.jwt, &config.data_dir, &config.deadlines).await?;
        let id_tokens =
            IdTokenKeys::load(&config.id_token_keys, &config.data_dir, &config.deadlines).await?;
        Self::with_all_keys(config, table, clock, jwt, id_tokens)
    }

    /// For tests and benches: as [`AppState::with_all_keys`] with the ID-token keys generated
    /// once per process ([`IdTokenKeys::generated`]).
    #[cfg(feature = "keygen")]
    pub fn with_keys(
        config: Config,
        table: SharedTable,
        clock: Arc<dyn Clock>,
        jwt: JwtKeys,
    ) -> anyhow::Result<Self> {
        Self::with_all_keys(config, table, clock, jwt, IdTokenKeys::generated())
    }

    pub fn with_all_keys(
        config: Config,
        table: SharedTable,
        clock: Arc<dyn Clock>,
        jwt: JwtKeys,
        id_tokens: IdTokenKeys,
    ) -> anyhow::Result<Self> {
        // One JWK Set publishes every key: a kid must name one key only.
        let access_kids: Vec<&str> = jwt.jwks()["keys"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|k| k["kid"].as_str())
            .collect();
        if let Some(kid) = id_tokens
            .kids()
            .into_iter()
            .find(|kid| access_kids.contains(&kid.as_str()))
        {
            anyhow::bail!("the ID-token key id {kid} is also an access-token key id");
        }
        let passwords = PasswordHashing::new(&config.password)?;
        let providers = Providers::new(&config.social, &config.deadlines)?;
        #[cfg(feature = "images")]
        let images = crate::images::Images::new(&config)?;
        // Every store call, whichever backend, answers within its deadline.
        let table: SharedTable = Arc::new(store::Deadline::new(table, config.deadlines.store_call));
        let limiter = RateLimiter::new(table.clone(), clock.clone());
        Ok(AppState(Arc::new(Services {
            config,
            table,
            jwt,
            id_tokens,
            passwords,
            clock,
            limiter,
            providers,
            webhook_listeners: crate::cache::Timed::new(LISTENERS_KEPT_FOR),
            #[cfg(feature = "images")]
            images,
        })))
    }

    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    pub fn now_unix(&self) -> i64 {
        self.clock.now().unix_timestamp()
    }
}
