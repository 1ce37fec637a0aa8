//! Latency and CPU time per endpoint, in-process through `buddo::app` on the in-memory
//! embedded store (figures to read, never timed assertions):
//!
//! 1. **Latency.** Every store call waits a fixed delay first (`BENCH_STORE_DELAY_MS`,
//!    default 5: a DynamoDB call from Lambda in the same region), so a request takes about
//!    its rounds of store calls (calls one after another) times the delay, plus its CPU time.
//!    `BENCH_LATENCY_REQUESTS` requests per endpoint (default 50), one at a time; p50 and p99.
//! 2. **CPU time.** No delay; `BENCH_CPU_REQUESTS` requests per endpoint (default 200), each
//!    timed by the process's CPU time (getrusage, user + system, every thread) around the
//!    request alone; the mean per request is written to `tests/cost/cpu.json`
//!    (`BENCH_CPU_JSON` another path, `-` none). The store's own work is the embedded store's
//!    here, not the DynamoDB client's.
//!
//! What a request needs first (a fresh code for a code exchange, a login to log out) is made
//! outside the timing. `BENCH_BUILD` names the build in the JSON (tests/bench.sh sets it).
//! Run with `cargo bench --bench latency` or `tests/bench.sh`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use buddo_shared::clock::{Clock, SystemClock};
use buddo_shared::config::{Config, Limit, RateLimits};
use buddo_shared::jwt::{JwtKeys, SigningKeyPair};
use buddo_shared::store::{
    EmbeddedTable, Item, Key, Page, Query, SharedTable, StoreConfig, StoreError, Table, Update,
    WriteOp,
};
use buddo_shared::AppState;
use http::{header, Method, Request, StatusCode};
use serde_json::{json, Map, Value};
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery staple";
const SCOPES: &str = "profile:read points:read points:spend points:transfer app:balance:read";

/// The endpoints measured: (name as in tests/cost/store-calls.json, Lambda function).
const ENDPOINTS: &[(&str, &str)] = &[
    ("POST /api/auth/register", "auth"),
    ("POST /api/auth/login", "auth"),
    ("POST /api/auth/refresh", "auth"),
    ("GET /api/auth/me", "auth"),
    ("POST /api/auth/logout", "auth"),
    ("GET /api/user/profile", "user"),
    ("PATCH /api/user/profile", "user"),
    ("GET /api/user/points/history", "user"),
    ("GET /api/user/connected-apps", "user"),
    ("GET /api/external/user", "external"),
    ("GET /api/external/points", "external"),
    ("POST /api/external/points/spend", "external"),
    ("POST /api/external/points/transfer", "external"),
    ("GET /api/external/app/balance", "external"),
    ("GET /api/external/session/status", "external"),
    ("GET /api/external/ads/serve", "external"),
    ("POST /api/external/ads/event", "external"),
    ("POST /api/session/refresh", "session"),
    ("POST /api/oauth/token (refresh_token)", "oauth"),
    ("POST /api/oauth/token/verify", "oauth"),
    ("POST /api/admin/users/{id}/points", "admin"),
    // Last: new authorizations evict the oldest token families, the benchmark's own among them.
    ("GET /api/oauth/authorize", "oauth"),
    ("POST /api/oauth/token (authorization_code)", "oauth"),
];

/// A store whose every call waits `delay` first.
struct Delayed {
    inner: SharedTable,
    delay: Duration,
}

impl Delayed {
    async fn wait(&self) {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }
}

#[async_trait]
impl Table for Delayed {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.wait().await;
        self.inner.get(key).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.wait().await;
        self.inner.query(query).await
    }
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.wait().await;
        self.inner.write(ops).await
    }
    async fn update_returning(&self, update: Update) -> Result<Item, StoreError> {
        self.wait().await;
        self.inner.update_returning(update).await
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The process's CPU time so far, every thread, user and system.
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given; RUSAGE_SELF is always valid.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The app over a delayed in-memory store, and what a live app has: an approved app with
/// the scopes to move points, a user with points who authorized it, another user, an admin
/// and a running campaign the user saw.
struct Bench {
    app: Router,
    seq: u64,
    jwt: String,
    email: String,
    refresh_token: String,
    admin: String,
    friend_id: String,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    access_token: String,
    oauth_refresh: String,
    session_token: String,
    campaign: String,
    code: Option<(String, String)>,
    logout_jwt: Option<String>,
}

fn request(
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    let body = match body {
        Some(Value::String(form)) => {
            builder = builder.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
            Body::from(form)
        }
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

async fn send(app: &Router, req: Request<Body>) -> (StatusCode, Value) {
    let resp = app.clone().oneshot(req).await.expect("infallible router");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn ok(app: &Router, req: Request<Body>) -> Value {
    let what = format!("{} {}", req.method(), req.uri());
    let (status, body) = send(app, req).await;
    assert!(status.is_success(), "{what}: {status} {body}");
    body
}

fn text(v: &Value) -> String {
    v.as_str().expect("a string").to_string()
}

fn form(pairs: &[(&str, &str)]) -> Value {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    Value::String(out.finish())
}

fn pkce() -> (String, String) {
    use base64::Engine;
    use sha2::Digest;
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

impl Bench {
    async fn new(delay: Duration) -> Bench {
        let config = Config {
            store: StoreConfig::Memory,
            data_dir: std::env::temp_dir().join(format!("buddo-latency-{}", std::process::id())),
            rate_limits: RateLimits::all(Limit::new(u32::MAX, 60)),
            ..Config::default()
        };
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let inner = Arc::new(EmbeddedTable::in_memory(clock.clone()).expect("memory store"));
        let table = Arc::new(Delayed { inner, delay });
        let keys = JwtKeys::new(&config.jwt, Some(SigningKeyPair::generate()), None).expect("keys");
        let state = AppState::with_keys(config, table, clock, keys).expect("state");
        let app = buddo::app(state.clone());

        let (admin_id, admin_email, admin_jwt, _) = register_and_login(&app, "operator").await;
        let email = buddo_shared::domain::input::Email::parse("email", &admin_email).unwrap();
        buddo_shared::domain::identity::accounts::promote_admin(&state, &email)
            .await
            .expect("promote");
        state
            .table
            .write(vec![Update::new(buddo_shared::keys::user(&admin_id))
                .set("email_verified", true)
                .into_op()])
            .await
            .expect("verify");
        let redirect_uri = "https://quest.example/callback".to_string();
        let created = ok(
            &app,
            request(
                Method::POST,
                "/api/oauth/apps",
                Some(&admin_jwt),
                Some(json!({
                    "app_name": "Quest", "redirect_uris": [redirect_uri],
                    "allowed_scopes": SCOPES.split(' ').collect::<Vec<_>>(),
                })),
                &[],
            ),
        )
        .await;
        let app_id = text(&created["app"]["id"]);
        let pending = ok(
            &app,
            request(
                Method::GET,
                &format!("/api/oauth/my-apps/{app_id}/scope-requests"),
                Some(&admin_jwt),
                None,
                &[],
            ),
        )
        .await;
        for r in pending.as_array().unwrap() {
            let path = format!("/api/admin/scope-requests/{}/approve", text(&r["id"]));
            ok(
                &app,
                request(Method::POST, &path, Some(&admin_jwt), None, &[]),
            )
            .await;
        }
        let path = format!("/api/admin/apps/{app_id}/approve");
        ok(
            &app,
            request(Method::POST, &path, Some(&admin_jwt), None, &[]),
        )
        .await;

        let (user_id, email, jwt, refresh_token) = register_and_login(&app, "player").await;
        let (friend_id, ..) = register_and_login(&app, "friend").await;
        let path = format!("/api/admin/users/{user_id}/points");
        let grant = json!({ "amount": 1_000_000_000, "reason": "bench" });
        ok(
            &app,
            request(Method::POST, &path, Some(&admin_jwt), Some(grant), &[]),
        )
        .await;
        let campaign = ok(
            &app,
            request(
                Method::POST,
                "/api/admin/campaigns",
                Some(&admin_jwt),
                Some(json!({
                    "name": "Banner", "surface_type": "banner", "payout_rate": 1,
                    "budget": 1_000_000_000,
                })),
                &[],
            ),
        )
        .await;
        let mut bench = Bench {
            app,
            seq: 0,
            jwt,
            email,
            refresh_token,
            admin: admin_jwt,
            friend_id,
            client_id: text(&created["app"]["client_id"]),
            client_secret: text(&created["app"]["client_secret"]),
            redirect_uri,
            access_token: String::new(),
            oauth_refresh: String::new(),
            session_token: String::new(),
            campaign: text(&campaign["campaign"]["id"]),
            code: None,
            logout_jwt: None,
        };
        bench.new_code().await;
        let req = bench.exchange();
        let tokens = ok(&bench.app, req).await;
        bench.access_token = text(&tokens["access_token"]);
        bench.oauth_refresh = text(&tokens["refresh_token"]);
        bench.session_token = text(&tokens["session_token"]);
        let impression = json!({ "campaign_id": bench.campaign, "event_type": "impression" });
        let req = request(
            Method::POST,
            "/api/external/ads/event",
            Some(&bench.access_token),
            Some(impression),
            &[],
        );
        ok(&bench.app, req).await;
        bench
    }

    /// The authorization request of the benchmark's app for every scope, with this challenge.
    fn authorize_path(&self, challenge: &str) -> String {
        let query = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("client_id", &self.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", SCOPES)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256")
            .finish();
        format!("/api/oauth/authorize?{query}")
    }

    async fn new_code(&mut self) {
        let (verifier, challenge) = pkce();
        let path = self.authorize_path(&challenge);
        let body = ok(
            &self.app,
            request(Method::GET, &path, Some(&self.jwt), None, &[]),
        )
        .await;
        self.code = Some((text(&body["code"]), verifier));
    }

    fn exchange(&mut self) -> Request<Body> {
        let (code, verifier) = self.code.take().expect("a code");
        let body = form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &self.client_id),
            ("client_secret", &self.client_secret),
            ("code", &code),
            ("redirect_uri", &self.redirect_uri),
            ("code_verifier", &verifier),
        ]);
        request(Method::POST, "/api/oauth/token", None, Some(body), &[])
    }

    /// What `name` needs before its request, made untimed.
    async fn prepare(&mut self, name: &str) {
        match name {
            "POST /api/oauth/token (authorization_code)" => self.new_code().await,
            "POST /api/auth/logout" => {
                let login = json!({ "email": self.email, "password": PASSWORD });
                let req = request(Method::POST, "/api/auth/login", None, Some(login), &[]);
                self.logout_jwt = Some(text(&ok(&self.app, req).await["token"]));
            }
            _ => {}
        }
    }

    /// The request of `name`.
    fn request(&mut self, name: &str) -> Request<Body> {
        self.seq += 1;
        let seq = self.seq;
        let (jwt, token) = (Some(self.jwt.as_str()), Some(self.access_token.as_str()));
        let key = format!("bench-{seq}");
        let post = |path: &str, token: Option<&str>, body: Value| {
            request(Method::POST, path, token, Some(body), &[])
        };
        let get = |path: &str, token: Option<&str>| request(Method::GET, path, token, None, &[]);
        match name {
            "POST /api/auth/register" => post(
                "/api/auth/register",
                None,
                json!({ "email": format!("new{seq}@bench.test"), "username": format!("new_{seq}"), "password": PASSWORD }),
            ),
            "POST /api/auth/login" => post(
                "/api/auth/login",
                None,
                json!({ "email": self.email, "password": PASSWORD }),
            ),
            "POST /api/auth/refresh" => post(
                "/api/auth/refresh",
                None,
                json!({ "refresh_token": self.refresh_token }),
            ),
            "GET /api/auth/me" => get("/api/auth/me", jwt),
            "POST /api/auth/logout" => request(
                Method::POST,
                "/api/auth/logout",
                self.logout_jwt.as_deref(),
                None,
                &[],
            ),
            "GET /api/user/profile" => get("/api/user/profile", jwt),
            "PATCH /api/user/profile" => request(
                Method::PATCH,
                "/api/user/profile",
                jwt,
                Some(json!({ "bio": format!("bio {seq}") })),
                &[],
            ),
            "GET /api/external/user" => get("/api/external/user", token),
            "GET /api/external/points" => get("/api/external/points", token),
            "POST /api/external/points/spend" => request(
                Method::POST,
                "/api/external/points/spend",
                token,
                Some(json!({ "amount": 1 })),
                &[("idempotency-key", &key)],
            ),
            "POST /api/external/points/transfer" => request(
                Method::POST,
                "/api/external/points/transfer",
                token,
                Some(json!({ "amount": 1, "to_user_id": self.friend_id })),
                &[("idempotency-key", &key)],
            ),
            "GET /api/external/app/balance" => get("/api/external/app/balance", token),
            "GET /api/external/session/status" => get("/api/external/session/status", token),
            "GET /api/external/ads/serve" => {
                get("/api/external/ads/serve?surface_type=banner", token)
            }
            "GET /api/user/points/history" => get("/api/user/points/history?limit=20", jwt),
            "GET /api/user/connected-apps" => get("/api/user/connected-apps", jwt),
            "POST /api/external/ads/event" => post(
                "/api/external/ads/event",
                token,
                json!({ "campaign_id": self.campaign, "event_type": "click" }),
            ),
            "POST /api/session/refresh" => post(
                "/api/session/refresh",
                None,
                json!({ "session_token": self.session_token }),
            ),
            "GET /api/oauth/authorize" => {
                let (_, challenge) = pkce();
                get(&self.authorize_path(&challenge), jwt)
            }
            "POST /api/oauth/token (authorization_code)" => self.exchange(),
            "POST /api/oauth/token (refresh_token)" => post(
                "/api/oauth/token",
                None,
                form(&[
                    ("grant_type", "refresh_token"),
                    ("client_id", &self.client_id),
                    ("client_secret", &self.client_secret),
                    ("refresh_token", &self.oauth_refresh),
                ]),
            ),
            "POST /api/oauth/token/verify" => post(
                "/api/oauth/token/verify",
                None,
                json!({ "token": self.access_token }),
            ),
            "POST /api/admin/users/{id}/points" => post(
                &format!("/api/admin/users/{}/points", self.friend_id),
                Some(&self.admin),
                json!({ "amount": 1, "reason": "bench" }),
            ),
            other => unreachable!("{other}"),
        }
    }

    /// Keeps what the answer rotated.
    fn absorb(&mut self, name: &str, body: &Value) {
        match name {
            "POST /api/auth/refresh" => self.refresh_token = text(&body["refresh_token"]),
            "POST /api/session/refresh" => self.session_token = text(&body["session_token"]),
            "POST /api/oauth/token (refresh_token)" => {
                self.oauth_refresh = text(&body["refresh_token"])
            }
            _ => {}
        }
    }

    /// Runs `n` requests of `name`: each one's wall time and CPU time.
    async fn run(&mut self, name: &str, n: u64) -> (Vec<Duration>, Duration) {
        let mut walls = Vec::with_capacity(n as usize);
        let mut cpu = Duration::ZERO;
        for _ in 0..n {
            self.prepare(name).await;
            let req = self.request(name);
            let (wall0, cpu0) = (Instant::now(), cpu_time());
            let (status, body) = send(&self.app, req).await;
            let (wall, used) = (wall0.elapsed(), cpu_time().saturating_sub(cpu0));
            assert!(status.is_success(), "{name}: {status} {body}");
            self.absorb(name, &body);
            walls.push(wall);
            cpu += used;
        }
        (walls, cpu)
    }
}

async fn register_and_login(app: &Router, name: &str) -> (String, String, String, String) {
    let email = format!("{name}@bench.test");
    let body = json!({ "email": email, "username": name, "password": PASSWORD });
    let registered = ok(
        app,
        request(Method::POST, "/api/auth/register", None, Some(body), &[]),
    )
    .await;
    let login = json!({ "email": email, "password": PASSWORD });
    let session = ok(
        app,
        request(Method::POST, "/api/auth/login", None, Some(login), &[]),
    )
    .await;
    (
        text(&registered["user"]["id"]),
        email,
        text(&session["token"]),
        text(&session["refresh_token"]),
    )
}

fn percentile(sorted: &[Duration], q: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn machine() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{model}, {cores} cores")
}

fn main() {
    // `cargo bench` passes --bench; nothing else is taken from the command line.
    let delay = Duration::from_millis(env_number("BENCH_STORE_DELAY_MS", 5));
    let latency_n = env_number("BENCH_LATENCY_REQUESTS", 50).max(1);
    let cpu_n = env_number("BENCH_CPU_REQUESTS", 200).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");

    println!(
        "latency: {latency_n} requests per endpoint, one at a time, each store call delayed {} ms",
        delay.as_millis()
    );
    println!("| endpoint | p50 ms | p99 ms |\n|---|---|---|");
    rt.block_on(async {
        let mut bench = Bench::new(delay).await;
        for (name, _) in ENDPOINTS {
            let (mut walls, _) = bench.run(name, latency_n).await;
            walls.sort_unstable();
            println!(
                "| `{name}` | {:.1} | {:.1} |",
                ms(percentile(&walls, 0.5)),
                ms(percentile(&walls, 0.99))
            );
        }
    });

    println!("\nCPU time: {cpu_n} requests per endpoint, no delay");
    println!("| endpoint | CPU ms per request | wall p50 ms |\n|---|---|---|");
    let mut endpoints = Map::new();
    rt.block_on(async {
        let mut bench = Bench::new(Duration::ZERO).await;
        for (name, function) in ENDPOINTS {
            // A few untimed requests first: caches and allocator warm.
            bench.run(name, 5).await;
            let (mut walls, cpu) = bench.run(name, cpu_n).await;
            walls.sort_unstable();
            let cpu_ms = ms(cpu) / cpu_n as f64;
            println!(
                "| `{name}` | {cpu_ms:.3} | {:.3} |",
                ms(percentile(&walls, 0.5))
            );
            let rounded = (cpu_ms * 1000.0).round() / 1000.0;
            endpoints.insert(
                name.to_string(),
                json!({ "function": function, "cpu_ms": rounded }),
            );
        }
    });

    let path = std::env::var("BENCH_CPU_JSON").unwrap_or_else(|_| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cost/cpu.json").to_string()
    });
    if path != "-" {
        let build = std::env::var("BENCH_BUILD").unwrap_or_else(|_| "cargo bench".into());
        let date = time::OffsetDateTime::now_utc().date();
        let doc = json!({
            "measured": format!("{}, {date}, {build}", machine()),
            "endpoints": endpoints,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&doc).unwrap() + "\n")
            .expect("write the CPU figures");
        println!("\nwrote {path}");
    }
}
