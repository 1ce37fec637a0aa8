//! Benchmarks for the budgets of the README (checked by running them, never by timed tests):
//!
//! * `password/hash`, `password/verify`: Argon2id with the production parameters
//!   (`Config::default().password`: m=19 MiB, t=2, p=1); `password/verify_async` is the same
//!   check as login runs it, on tokio's blocking pool.
//! * `in_process/login`: `POST /api/auth/login` through `buddo::app` (production hashing,
//!   in-memory embedded store, limits too high to be reached).
//! * `in_process/me`: `GET /api/auth/me` with a bearer token — the "warm request without
//!   password hashing, p50 < 1 ms in-process on the embedded store" budget.
//! * `store/rate_limit_hit`: one rate-limit count, a single write transaction on the same
//!   store (login pays one, plus one more to start the session).
//!
//! Besides criterion's estimates (`target/criterion/<group>/<bench>/new/estimates.json`), the
//! in-process benchmarks time every single request and print per-request percentiles (over
//! criterion's warm-up and measurement iterations alike).
//!
//! Run with `cargo bench --bench auth` (or `tests/bench.sh`, which adds the HTTP load test).

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use buddo_shared::clock::{Clock, SystemClock};
use buddo_shared::config::{Config, Limit, RateLimits};
use buddo_shared::jwt::{JwtKeys, SigningKeyPair};
use buddo_shared::password::{PasswordHashing, Verified};
use buddo_shared::store::{EmbeddedTable, StoreConfig};
use buddo_shared::AppState;
use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use http::{header, Method, Request, StatusCode};
use serde_json::{json, Value};
use tower::ServiceExt;

const EMAIL: &str = "bench@buddo.test";
const USERNAME: &str = "bench_user";
const PASSWORD: &str = "correct horse battery staple";

/// Limits no benchmark run can reach.
fn generous_limits() -> RateLimits {
    RateLimits::all(Limit::new(u32::MAX, 60))
}

/// Production configuration (Argon2 included) over the in-memory embedded store.
fn bench_config() -> Config {
    Config {
        store: StoreConfig::Memory,
        data_dir: std::env::temp_dir().join(format!("buddo-bench-{}", std::process::id())),
        rate_limits: generous_limits(),
        ..Config::default()
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn app() -> (AppState, Router) {
    let config = bench_config();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let table = Arc::new(EmbeddedTable::in_memory(clock.clone()).expect("in-memory table"));
    let keys = JwtKeys::new(&config.jwt, Some(SigningKeyPair::generate()), None).expect("keys");
    let state = AppState::with_keys(config, table, clock, keys).expect("state");
    (state.clone(), buddo::app(state))
}

/// A request as the local server hands it to the router (with the peer address it adds).
fn request(method: Method, path: &str, token: Option<&str>, body: Option<&Value>) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = match body {
        Some(body) => {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
            Body::from(body.to_string())
        }
        None => Body::empty(),
    };
    let mut req = builder.body(body).expect("request");
    req.extensions_mut()
        .insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000))));
    req
}

/// Sends one request and reads the whole response body.
async fn send(app: &Router, req: Request<Body>) -> (StatusCode, axum::body::Bytes) {
    let resp = app.clone().oneshot(req).await.expect("infallible router");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("response body");
    (status, bytes)
}

fn login_body() -> Value {
    json!({ "email": EMAIL, "password": PASSWORD })
}

/// Registers the bench user and logs it in; returns the access token.
async fn setup_user(app: &Router) -> String {
    let register = json!({ "email": EMAIL, "username": USERNAME, "password": PASSWORD });
    let (status, body) = send(
        app,
        request(Method::POST, "/api/auth/register", None, Some(&register)),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "register: {}",
        String::from_utf8_lossy(&body)
    );
    let (status, body) = send(
        app,
        request(Method::POST, "/api/auth/login", None, Some(&login_body())),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "login: {}",
        String::from_utf8_lossy(&body)
    );
    let json: Value = serde_json::from_slice(&body).expect("login JSON");
    json["token"].as_str().expect("token").to_string()
}

/// Per-request latencies gathered across all of criterion's samples.
#[derive(Clone, Default)]
struct Latencies(Arc<Mutex<Vec<Duration>>>);

impl Latencies {
    fn record(&self, batch: &[Duration]) {
        self.0.lock().unwrap().extend_from_slice(batch);
    }

    fn report(&self, name: &str) {
        let mut all = self.0.lock().unwrap().clone();
        if all.is_empty() {
            return;
        }
        all.sort_unstable();
        let at = |q: f64| all[((all.len() - 1) as f64 * q).round() as usize];
        println!(
            "{name}: per-request latency over {} requests: p50 {:.3?}  p90 {:.3?}  p99 {:.3?}  max {:.3?}",
            all.len(),
            at(0.50),
            at(0.90),
            at(0.99),
            all[all.len() - 1],
        );
    }
}

/// Times `iters` requests one by one: returns their total and records each.
async fn timed_requests(
    app: &Router,
    iters: u64,
    latencies: &Latencies,
    make: impl Fn() -> Request<Body>,
) -> Duration {
    let mut batch = Vec::with_capacity(iters as usize);
    for _ in 0..iters {
        let req = make();
        let start = Instant::now();
        let (status, body) = send(app, req).await;
        let elapsed = start.elapsed();
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        black_box(body);
        batch.push(elapsed);
    }
    latencies.record(&batch);
    batch.iter().sum()
}

fn password(c: &mut Criterion) {
    let hashing = PasswordHashing::new(&Config::default().password).expect("argon2 parameters");
    let stored = hashing.hash(PASSWORD).expect("hash");
    assert_eq!(hashing.verify(PASSWORD, &stored), Verified::Yes);

    let mut group = c.benchmark_group("password");
    // Tens of milliseconds per call: few, flat samples.
    group.sample_size(20).sampling_mode(SamplingMode::Flat);
    group.bench_function("hash", |b| {
        b.iter(|| hashing.hash(black_box(PASSWORD)).expect("hash"))
    });
    group.bench_function("verify", |b| {
        b.iter(|| hashing.verify(black_box(PASSWORD), black_box(&stored)))
    });
    // As login runs it: on tokio's blocking pool (another thread, allocator arena and stack).
    let rt = runtime();
    group.bench_function("verify_async", |b| {
        b.to_async(&rt)
            .iter(|| hashing.verify_async(black_box(PASSWORD.to_string()), Some(stored.clone())))
    });
    group.finish();
}

fn in_process(c: &mut Criterion) {
    let rt = runtime();
    let (state, app) = app();
    let token = rt.block_on(setup_user(&app));

    let mut group = c.benchmark_group("in_process");

    // Login hashes a password: slow, so few flat samples like the password group.
    group.sample_size(20).sampling_mode(SamplingMode::Flat);
    let login_latencies = Latencies::default();
    group.bench_function("login", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (app, latencies) = (&app, &login_latencies);
            async move {
                timed_requests(app, iters, latencies, || {
                    request(Method::POST, "/api/auth/login", None, Some(&login_body()))
                })
                .await
            }
        })
    });

    group.sample_size(100).sampling_mode(SamplingMode::Auto);
    let me_latencies = Latencies::default();
    group.bench_function("me", |b| {
        b.to_async(&rt).iter_custom(|iters| {
            let (app, latencies, token) = (&app, &me_latencies, token.as_str());
            async move {
                timed_requests(app, iters, latencies, || {
                    request(Method::GET, "/api/auth/me", Some(token), None)
                })
                .await
            }
        })
    });
    group.finish();

    // One write transaction on the embedded store (what login and register pay per rate-limit
    // hit; a session start is another), to tell store time from hashing time in login.
    let mut group = c.benchmark_group("store");
    let limit = bench_config().rate_limits.login;
    group.bench_function("rate_limit_hit", |b| {
        b.to_async(&rt).iter(|| async {
            state
                .limiter
                .hit("bench", "127.0.0.1", limit)
                .await
                .expect("hit")
        })
    });
    group.finish();

    login_latencies.report("in_process/login");
    me_latencies.report("in_process/me");
}

criterion_group!(benches, password, in_process);
criterion_main!(benches);
