//! `TestApp`: the whole API on a random port over a fresh table, with typed helpers that
//! read like the API docs.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use buddo_shared::clock::{Clock, ManualClock};
use buddo_shared::config::{Config, Deadlines, Limit, PasswordConfig, RateLimits};
use buddo_shared::jwt::{JwtKeys, SigningKeyPair};
use buddo_shared::mail::{self, OutboxMessage};
use buddo_shared::store::{
    DynamoTable, EmbeddedTable, Item, Key, Page, Query, SharedTable, StoreConfig, StoreError,
    Table, Update, WriteOp,
};
use buddo_shared::AppState;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

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

pub fn dynamodb_endpoint() -> String {
    std::env::var("BUDDO_TEST_DYNAMODB_ENDPOINT").expect(
        "BUDDO_TEST_DYNAMODB_ENDPOINT is not set: run the tests with tests/run.sh, which starts DynamoDB Local",
    )
}

pub fn ses_endpoint() -> String {
    std::env::var("BUDDO_TEST_SES_ENDPOINT")
        .expect("BUDDO_TEST_SES_ENDPOINT is not set: run the tests with tests/run.sh, which starts moto_server")
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
        ..defaults
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub state: AppState,
    pub clock: Arc<ManualClock>,
    pub client: reqwest::Client,
    /// The signing key's secret text, to forge tokens in tests.
    pub signing_key: String,
}

pub struct Resp {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Resp {
    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            self.body
        );
        &self.body
    }

    /// Asserts 429 `rate_limited` with `Retry-After` and the same `retry_after` in the body.
    #[track_caller]
    pub fn assert_limited(&self) {
        self.assert_error(429, "rate_limited");
        let retry: u64 = self.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(retry >= 1);
        assert_eq!(self.body["retry_after"], retry);
    }

    /// Asserts the error shape (docs/architecture.md, "Errors") with this status and code.
    #[track_caller]
    pub fn assert_error(&self, status: u16, code: &str) {
        self.assert_status(status);
        assert_eq!(self.body["error"], code, "body: {}", self.body);
        assert!(
            self.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "no message: {}",
            self.body
        );
    }
}

/// A registered user and the password it was registered with.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: String,
    pub username: String,
    pub email: String,
    pub password: String,
    pub referral_code: String,
}

/// Tokens from a login.
#[derive(Clone, Debug)]
pub struct Session {
    pub token: String,
    pub refresh_token: String,
}

static USER_SEQ: AtomicU32 = AtomicU32::new(0);

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
        Self::spawn_wrapped(backend, tweak, |table| table).await
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

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        Self::read(req.send().await.expect("request")).await
    }

    pub async fn read(resp: reqwest::Response) -> Resp {
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        // The docs page is the one answer that is not JSON: its text.
        let html = headers
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
        let body = if html {
            Value::String(String::from_utf8_lossy(&bytes).into_owned())
        } else {
            json_body(status, &bytes)
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.request(Method::POST, path, None, Some(body)).await
    }

    pub async fn post_auth(&self, path: &str, token: &str, body: Option<Value>) -> Resp {
        self.request(Method::POST, path, Some(token), body).await
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> Resp {
        self.request(Method::GET, path, Some(token), None).await
    }

    pub async fn put_auth(&self, path: &str, token: &str, body: Value) -> Resp {
        self.request(Method::PUT, path, Some(token), Some(body))
            .await
    }

    pub async fn delete_auth(&self, path: &str, token: &str) -> Resp {
        self.request(Method::DELETE, path, Some(token), None).await
    }

    pub async fn delete_with(&self, path: &str, token: &str, body: Value) -> Resp {
        self.request(Method::DELETE, path, Some(token), Some(body))
            .await
    }

    pub async fn patch_auth(&self, path: &str, token: &str, body: Value) -> Resp {
        self.request(Method::PATCH, path, Some(token), Some(body))
            .await
    }

    /// A request without a token.
    pub async fn get(&self, path: &str) -> Resp {
        self.request(Method::GET, path, None, None).await
    }

    /// A GET from another client address and browser (needs `trust_forwarded_for`).
    pub async fn get_from(&self, ip: &str, path: &str) -> Resp {
        let req = self
            .client
            .get(self.url(path))
            .header("x-forwarded-for", ip);
        Self::read(req.send().await.expect("request")).await
    }

    /// A body sent as-is, with a JSON content type.
    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Resp {
        let mut req = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        Self::read(req.send().await.expect("request")).await
    }

    // ---- accounts ----

    pub async fn register(&self, email: &str, username: &str, password: &str) -> Resp {
        self.post(
            "/api/auth/register",
            json!({ "email": email, "username": username, "password": password }),
        )
        .await
    }

    /// Registers a fresh user with a unique name.
    pub async fn new_user(&self) -> TestUser {
        self.new_user_referred(None).await
    }

    pub async fn new_user_referred(&self, referral_code: Option<&str>) -> TestUser {
        let n = USER_SEQ.fetch_add(1, Ordering::SeqCst);
        let username = format!(
            "user{n}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..6]
        );
        let email = format!("{username}@example.com");
        let password = format!("pw-{username}-secret");
        let mut body = json!({ "email": email, "username": username, "password": password });
        if let Some(code) = referral_code {
            body["referral_code"] = json!(code);
        }
        let resp = self.post("/api/auth/register", body).await;
        let user = resp.assert_status(201)["user"].clone();
        TestUser {
            id: user["id"].as_str().unwrap().to_string(),
            username,
            email,
            password,
            referral_code: user["referral_code"].as_str().unwrap().to_string(),
        }
    }

    pub async fn login(&self, email: &str, password: &str, totp_code: Option<&str>) -> Resp {
        let mut body = json!({ "email": email, "password": password });
        if let Some(code) = totp_code {
            body["totp_code"] = json!(code);
        }
        self.post("/api/auth/login", body).await
    }

    /// A login from another client address (needs `trust_forwarded_for` in the config).
    pub async fn login_from(&self, ip: &str, email: &str, password: &str) -> Resp {
        let req = self
            .client
            .post(self.url("/api/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({ "email": email, "password": password }));
        Self::read(req.send().await.expect("request")).await
    }

    /// A registered user whose address is verified.
    pub async fn new_verified_user(&self) -> TestUser {
        let user = self.new_user().await;
        self.verify_email_of(&user).await;
        user
    }

    pub async fn login_ok(&self, user: &TestUser) -> Session {
        let resp = self.login(&user.email, &user.password, None).await;
        session_of(resp.assert_status(200))
    }

    pub async fn me(&self, token: &str) -> Resp {
        self.get_auth("/api/auth/me", token).await
    }

    // ---- mail ----

    /// Queued (not yet delivered) mail to this address, oldest first.
    pub async fn mails_to(&self, email: &str) -> Vec<OutboxMessage> {
        mail::pending(self.state.table.as_ref())
            .await
            .expect("outbox")
            .into_iter()
            .filter(|m| m.to == email)
            .collect()
    }

    /// The tokens of every mail to `email` whose link has this path, oldest first.
    pub async fn tokens_from_mail(&self, email: &str, link_path: &str) -> Vec<String> {
        let prefix = format!("{}{}?token=", self.state.config.public_web_url, link_path);
        self.mails_to(email)
            .await
            .iter()
            .filter_map(|m| {
                let text = m.text.as_deref()?;
                let start = text.find(&prefix)? + prefix.len();
                Some(
                    text[start..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                        .collect(),
                )
            })
            .collect()
    }

    /// The token in the newest mail to `email` whose link has this path.
    pub async fn token_from_mail(&self, email: &str, link_path: &str) -> String {
        self.tokens_from_mail(email, link_path)
            .await
            .pop()
            .unwrap_or_else(|| panic!("no mail to {email} with a {link_path} link"))
    }

    pub async fn verify_email_of(&self, user: &TestUser) {
        let token = self.token_from_mail(&user.email, "/verify-email").await;
        self.post("/api/auth/verify-email", json!({ "token": token }))
            .await
            .assert_status(200);
    }

    // ---- TOTP ----

    /// Sets up and enables TOTP; returns the secret and the recovery codes.
    pub async fn enable_totp(&self, token: &str) -> (String, Vec<String>) {
        let setup = self.post_auth("/api/auth/totp/setup", token, None).await;
        let secret = setup.assert_status(200)["secret"]
            .as_str()
            .unwrap()
            .to_string();
        let code = self.totp_now(&secret);
        let enabled = self
            .post_auth(
                "/api/auth/totp/enable",
                token,
                Some(json!({ "code": code })),
            )
            .await;
        let codes = enabled.assert_status(200)["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        (secret, codes)
    }

    /// The TOTP code for the app's current time.
    pub fn totp_now(&self, secret: &str) -> String {
        buddo_shared::totp::code_at(secret, self.clock.now().unix_timestamp() as u64).unwrap()
    }

    /// Moves the clock to the next TOTP step so a new code can be used.
    pub fn next_totp_step(&self) {
        self.clock.advance(30);
    }
}

/// A response body as JSON (`Null` when empty); anything else fails the test.
#[track_caller]
pub fn json_body(status: impl std::fmt::Display, bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        return Value::Null;
    }
    serde_json::from_slice(bytes).unwrap_or_else(|_| {
        panic!(
            "response is not JSON ({status}): {}",
            String::from_utf8_lossy(bytes)
        )
    })
}

pub fn session_of(body: &Value) -> Session {
    Session {
        token: body["token"].as_str().expect("token").to_string(),
        refresh_token: body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_string(),
    }
}

/// Asserts that a JSON object has exactly these keys.
#[track_caller]
pub fn assert_keys(value: &Value, keys: &[&str]) {
    let mut actual: Vec<&str> = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect();
    actual.sort_unstable();
    let mut expected = keys.to_vec();
    expected.sort_unstable();
    assert_eq!(actual, expected, "keys of {value}");
}

/// An operator app registered through the API, with what its developer keeps.
#[derive(Clone, Debug)]
pub struct TestClient {
    pub id: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub owner_token: String,
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
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

/// Tokens from the token endpoint.
#[derive(Clone, Debug)]
pub struct OAuthTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub session_token: Option<String>,
}

impl TestApp {
    /// Makes a user an admin (as `buddo admin promote` does).
    pub async fn promote(&self, user: &TestUser) {
        let email = buddo_shared::domain::input::Email::parse("email", &user.email).unwrap();
        buddo_shared::domain::identity::accounts::promote_admin(&self.state, &email)
            .await
            .expect("promote");
    }

    /// A signed-in admin's token.
    pub async fn admin_token(&self) -> String {
        let admin = self.new_user().await;
        self.promote(&admin).await;
        self.login_ok(&admin).await.token
    }

    /// A verified owner registers an app with these scopes; approved by an admin if asked.
    pub async fn new_client(&self, scopes: &[&str], approved: bool) -> TestClient {
        let owner = self.new_verified_user().await;
        let owner_token = self.login_ok(&owner).await.token;
        let redirect_uri = format!("https://{}.example/callback", uuid::Uuid::new_v4().simple());
        let resp = self
            .post_auth(
                "/api/oauth/apps",
                &owner_token,
                Some(json!({
                    "app_name": "Test App",
                    "app_description": "An app for tests",
                    "redirect_uris": [redirect_uri],
                    "allowed_scopes": scopes,
                })),
            )
            .await;
        let app = resp.assert_status(201)["app"].clone();
        let client = TestClient {
            id: app["id"].as_str().unwrap().to_string(),
            client_id: app["client_id"].as_str().unwrap().to_string(),
            client_secret: app["client_secret"].as_str().unwrap().to_string(),
            redirect_uri,
            owner_token,
        };
        // Scopes that need review: approve every pending request of the app.
        let pending = self
            .get_auth(
                &format!("/api/oauth/my-apps/{}/scope-requests", client.id),
                &client.owner_token,
            )
            .await;
        let pending: Vec<String> = pending
            .assert_status(200)
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "pending")
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        if approved || !pending.is_empty() {
            let admin = self.admin_token().await;
            for id in pending {
                self.post_auth(
                    &format!("/api/admin/scope-requests/{id}/approve"),
                    &admin,
                    None,
                )
                .await
                .assert_status(200);
            }
            if approved {
                self.post_auth(
                    &format!("/api/admin/apps/{}/approve", client.id),
                    &admin,
                    None,
                )
                .await
                .assert_status(200);
            }
        }
        client
    }

    /// `GET /api/oauth/authorize` with these query parameters, as the signed-in user.
    pub async fn authorize(&self, token: &str, query: &[(&str, &str)]) -> Resp {
        let req = self
            .client
            .get(self.url("/api/oauth/authorize"))
            .query(query)
            .bearer_auth(token);
        Self::read(req.send().await.expect("request")).await
    }

    /// A code for `user_token` to `client` with PKCE; returns the code and the verifier.
    pub async fn code_for(
        &self,
        user_token: &str,
        client: &TestClient,
        scope: &str,
    ) -> (String, String) {
        let (verifier, challenge) = pkce();
        let resp = self
            .authorize(
                user_token,
                &[
                    ("client_id", &client.client_id),
                    ("response_type", "code"),
                    ("redirect_uri", &client.redirect_uri),
                    ("scope", scope),
                    ("state", "xyz"),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
            )
            .await;
        let code = resp.assert_status(200)["code"]
            .as_str()
            .unwrap()
            .to_string();
        (code, verifier)
    }

    /// `POST /api/oauth/token` with form parameters.
    pub async fn token_form(&self, params: &[(&str, &str)]) -> Resp {
        let req = self.client.post(self.url("/api/oauth/token")).form(params);
        Self::read(req.send().await.expect("request")).await
    }

    pub async fn token_form_owned(&self, params: Vec<(&str, String)>) -> Resp {
        let req = self.client.post(self.url("/api/oauth/token")).form(&params);
        Self::read(req.send().await.expect("request")).await
    }

    /// Exchanges a code (client secret in the body).
    pub async fn exchange(&self, client: &TestClient, code: &str, verifier: &str) -> Resp {
        self.token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &client.client_id),
            ("client_secret", &client.client_secret),
            ("code", code),
            ("redirect_uri", &client.redirect_uri),
            ("code_verifier", verifier),
        ])
        .await
    }

    /// The whole flow for a user: authorize, exchange.
    pub async fn oauth_tokens(
        &self,
        user_token: &str,
        client: &TestClient,
        scope: &str,
    ) -> OAuthTokens {
        let (code, verifier) = self.code_for(user_token, client, scope).await;
        let resp = self.exchange(client, &code, &verifier).await;
        let body = resp.assert_status(200);
        OAuthTokens {
            access_token: body["access_token"].as_str().unwrap().to_string(),
            refresh_token: body["refresh_token"].as_str().unwrap().to_string(),
            session_token: body["session_token"].as_str().map(str::to_string),
        }
    }

    pub async fn refresh_oauth(&self, client: &TestClient, refresh_token: &str) -> Resp {
        self.token_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client.client_id),
            ("client_secret", &client.client_secret),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// `POST /api/oauth/token/verify`.
    pub async fn introspect(&self, token: &str) -> Resp {
        self.post("/api/oauth/token/verify", json!({ "token": token }))
            .await
    }

    /// Asserts a token is inactive, and that nothing but the reason is told.
    #[track_caller]
    pub fn assert_inactive(resp: &Resp) {
        let body = resp.assert_status(200);
        assert_eq!(body["active"], false, "{body}");
        assert_keys(body, &["active", "reason"]);
    }
}

/// Every scope an operator app can hold.
pub const ALL_SCOPES: [&str; 6] = [
    "profile:read",
    "points:read",
    "points:spend",
    "points:transfer",
    "app:balance:read",
    "deploy:manage",
];

/// A user signed in, an app, and the app's access token for the user.
pub struct Operated {
    pub user: TestUser,
    pub jwt: String,
    pub client: TestClient,
    pub access_token: String,
    pub session_token: Option<String>,
}

impl TestApp {
    /// An approved app with `scopes`, and a user who granted them to it.
    pub async fn operated(&self, scopes: &[&str]) -> Operated {
        let client = self.new_client(scopes, true).await;
        self.operated_by(&client, scopes).await
    }

    /// A new user who granted `scopes` to an existing app.
    pub async fn operated_by(&self, client: &TestClient, scopes: &[&str]) -> Operated {
        let user = self.new_user().await;
        let jwt = self.login_ok(&user).await.token;
        let tokens = self.oauth_tokens(&jwt, client, &scopes.join(" ")).await;
        Operated {
            user,
            jwt,
            client: client.clone(),
            access_token: tokens.access_token,
            session_token: tokens.session_token,
        }
    }

    /// An admin grants the user points.
    pub async fn grant_points(&self, user: &TestUser, amount: i64) {
        let admin = self.admin_token().await;
        self.post_auth(
            &format!("/api/admin/users/{}/points", user.id),
            &admin,
            Some(json!({ "amount": amount, "reason": "test balance" })),
        )
        .await
        .assert_status(200);
    }

    /// An admin creates a campaign; its id.
    pub async fn campaign(&self, admin: &str, body: Value) -> String {
        let resp = self
            .post_auth("/api/admin/campaigns", admin, Some(body))
            .await;
        resp.assert_status(201)["campaign"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A request with an `Idempotency-Key`.
    pub async fn post_idempotent(&self, path: &str, token: &str, key: &str, body: Value) -> Resp {
        let req = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(&body);
        Self::read(req.send().await.expect("request")).await
    }

    /// The user's balance and what their ledger adds up to.
    pub async fn balance_and_ledger(&self, user_id: &str) -> (i64, i64) {
        let user = buddo_shared::domain::identity::users::get(self.state.table.as_ref(), user_id)
            .await
            .unwrap()
            .unwrap();
        let mut sum = 0;
        let mut cursor = None;
        loop {
            let page = self
                .state
                .table
                .query(
                    &buddo_shared::store::Query::partition(buddo_shared::keys::user_pk(user_id))
                        .sk(buddo_shared::store::SortKey::BeginsWith(
                            buddo_shared::keys::LEDGER_PREFIX.into(),
                        ))
                        .limit(500)
                        .cursor(cursor),
                )
                .await
                .unwrap();
            sum += page
                .items
                .iter()
                .map(|e| e["amount"].as_i64().unwrap())
                .sum::<i64>();
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return (user.points, sum),
            }
        }
    }
}

// ---- counting what requests cost the store ----

/// Store calls counted: GetItem, Query, write calls, and items written.
#[derive(Default)]
pub struct Counts {
    gets: AtomicUsize,
    queries: AtomicUsize,
    writes: AtomicUsize,
    items: AtomicUsize,
}

struct CountingTable {
    inner: SharedTable,
    counts: Arc<Counts>,
}

#[async_trait]
impl Table for CountingTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.counts.gets.fetch_add(1, Ordering::SeqCst);
        self.inner.get(key).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.counts.queries.fetch_add(1, Ordering::SeqCst);
        self.inner.query(query).await
    }
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        self.counts.writes.fetch_add(1, Ordering::SeqCst);
        self.counts.items.fetch_add(ops.len(), Ordering::SeqCst);
        self.inner.write(ops).await
    }
    async fn update_returning(&self, update: Update) -> Result<Item, StoreError> {
        self.counts.writes.fetch_add(1, Ordering::SeqCst);
        self.counts.items.fetch_add(1, Ordering::SeqCst);
        self.inner.update_returning(update).await
    }
}

impl Counts {
    /// The counts since the last call, and a fresh start.
    pub fn take(&self) -> (usize, usize, usize, usize) {
        (
            self.gets.swap(0, Ordering::SeqCst),
            self.queries.swap(0, Ordering::SeqCst),
            self.writes.swap(0, Ordering::SeqCst),
            self.items.swap(0, Ordering::SeqCst),
        )
    }
}

impl TestApp {
    /// A TestApp whose store counts every call.
    pub async fn spawn_counting(backend: Backend) -> (TestApp, Arc<Counts>) {
        let counts = Arc::new(Counts::default());
        let handle = counts.clone();
        let app = TestApp::spawn_wrapped(
            backend,
            |_| {},
            move |inner| {
                Arc::new(CountingTable {
                    inner,
                    counts: handle,
                })
            },
        )
        .await;
        (app, counts)
    }
}
