//! `TestApp`: the whole API on a random port over a fresh table, with typed helpers that
//! read like the API docs, by area: the backends and their configuration, requests and their
//! assertions, accounts and mail, OAuth, points, counting store calls, and a headless browser.

use std::net::SocketAddr;
use std::sync::Arc;

use buddo_shared::clock::ManualClock;
use buddo_shared::config::Config;
use buddo_shared::jwt::{JwtKeys, SigningKeyPair};
use buddo_shared::store::SharedTable;
use buddo_shared::AppState;

mod accounts;
mod backends;
mod browser;
mod counting;
mod log;
mod oauth;
mod pages;
mod passkeys;
mod points;
mod providers;
mod requests;

pub use accounts::*;
pub use backends::*;
pub use browser::*;
pub use counting::*;
pub use oauth::*;
pub use pages::*;
pub use passkeys::*;
pub use points::*;
pub use providers::*;
pub use requests::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Dynamo,
}

/// Generates one test per backend from each body: `mod embedded` and `mod dynamodb`.
#[macro_export]
macro_rules! backend_tests {
    ($(async fn $name:ident($backend:ident) $body:block)*) => {
        mod embedded {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let $backend = $crate::helpers::Backend::Embedded;
                    $body
                }
            )*
        }
        mod dynamodb {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let $backend = $crate::helpers::Backend::Dynamo;
                    $body
                }
            )*
        }
    };
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub client: reqwest::Client,
    /// The signing key's secret text, to forge tokens in tests.
    pub signing_key: String,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        Self::spawn_wrapped(backend, tweak, |table| table).await
    }

    /// As [`TestApp::spawn_with`], behind a proxy the server trusts: the client address is
    /// taken from `X-Forwarded-For` (`get_from`, `login_from`).
    pub async fn spawn_behind_proxy(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        Self::spawn_with(backend, |config| {
            config.trust_forwarded_for = true;
            tweak(config);
        })
        .await
    }

    /// As [`TestApp::spawn_with`], over a table wrapped by `wrap` (fault injection, counting).
    pub async fn spawn_wrapped(
        backend: Backend,
        tweak: impl FnOnce(&mut Config),
        wrap: impl FnOnce(SharedTable) -> SharedTable,
    ) -> TestApp {
        Self::spawn_over(backend, tweak, |table, _| wrap(table)).await
    }

    /// As [`TestApp::spawn_wrapped`], `make` also given the test's clock (a table of its own
    /// must read time from it).
    pub async fn spawn_over(
        backend: Backend,
        tweak: impl FnOnce(&mut Config),
        make: impl FnOnce(SharedTable, Arc<ManualClock>) -> SharedTable,
    ) -> TestApp {
        log::init();
        let mut config = test_config();
        tweak(&mut config);
        // Frozen at the start of an hour: every window a test uses (TOTP steps, rate limits)
        // starts with it, and time moves only when the test moves it.
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let start = time::OffsetDateTime::from_unix_timestamp(now - now.rem_euclid(3600)).unwrap();
        let clock = Arc::new(ManualClock::frozen_at(start));
        let table = make(fresh_table(backend, clock.clone()).await, clock.clone());
        let pair = SigningKeyPair::generate();
        let signing_key = pair.to_secret_text();
        let keys = JwtKeys::new(&config.jwt, Some(pair), None).expect("keys");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        // The server's metadata names its own address, as PUBLIC_API_URL would.
        config.oauth.issuer = format!("http://{addr}");
        // A test that asks for passkeys on `localhost` (a real browser's: an IP address is no
        // relying party id) has the pages served there, on this port.
        if config.passkeys.rp_id == "localhost" {
            let origin = format!("http://localhost:{}", addr.port());
            config.oauth.issuer = origin.clone();
            config.passkeys.origins = vec![origin];
        }
        let state = AppState::with_keys(config, table, clock.clone(), keys).expect("state");
        let app = buddo::app(state.clone());
        tokio::spawn(async move {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .await
            .expect("server");
        });
        TestApp {
            addr,
            state,
            clock,
            client: reqwest::Client::new(),
            signing_key,
        }
    }
}
