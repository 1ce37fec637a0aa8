//! Failing fast when a dependency hangs (docs/architecture.md, "Deadlines"): a store that
//! accepts calls and never answers gets a 503 in the error shape within 5 seconds on every
//! endpoint, in-flight requests stay bounded, a write whose outcome is unknown says so (and an
//! Idempotency-Key retry still gets the first answer), and the mailer fails only the records
//! a hung provider holds.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::Event;
use buddo_mailer::Mailer;
use buddo_shared::config::Deadlines;
use buddo_shared::mail::{Mail, MailSender};
use buddo_shared::store::{
    DynamoTable, Item, Key, Page, Query, SharedTable, StoreError, Table, Update, WriteOp,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::backend_tests;
use crate::helpers::{Backend, Resp, TestApp};

/// The bound every answer must meet while the store hangs.
const BOUND: Duration = Duration::from_secs(5);

/// Which kinds of store call never answer.
#[derive(Default)]
struct Hangs {
    get: AtomicBool,
    query: AtomicBool,
    write: AtomicBool,
    update: AtomicBool,
}

impl Hangs {
    fn set(&self, kind: &str, on: bool) {
        match kind {
            "get" => self.get.store(on, Ordering::SeqCst),
            "query" => self.query.store(on, Ordering::SeqCst),
            "write" => self.write.store(on, Ordering::SeqCst),
            "update" => self.update.store(on, Ordering::SeqCst),
            _ => unreachable!(),
        }
    }
}

/// A store whose calls of the chosen kinds are accepted and never answered.
struct HangingTable {
    inner: SharedTable,
    hangs: Arc<Hangs>,
}

async fn hang_if(on: &AtomicBool) {
    if on.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
}

#[async_trait]
impl Table for HangingTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        hang_if(&self.hangs.get).await;
        self.inner.get(key).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        hang_if(&self.hangs.query).await;
        self.inner.query(query).await
    }
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        hang_if(&self.hangs.write).await;
        self.inner.write(ops).await
    }
    async fn update_returning(&self, update: Update) -> Result<Item, StoreError> {
        hang_if(&self.hangs.update).await;
        self.inner.update_returning(update).await
    }
}

/// The server with the production deadlines, over a store that hangs on demand.
async fn spawn_hanging(
    backend: Backend,
    tweak: impl FnOnce(&mut buddo_shared::config::Config),
) -> (TestApp, Arc<Hangs>) {
    let hangs = Arc::new(Hangs::default());
    let handle = hangs.clone();
    let app = TestApp::spawn_wrapped(
        backend,
        |c| {
            c.deadlines = Deadlines::default();
            tweak(c);
        },
        move |inner| {
            Arc::new(HangingTable {
                inner,
                hangs: handle,
            })
        },
    )
    .await;
    (app, hangs)
}

/// A 503 in the error shape, within the bound.
#[track_caller]
fn assert_fast_503(what: &str, resp: &Resp, took: Duration) {
    assert!(took < BOUND, "{what} took {took:?}");
    assert_eq!(resp.status.as_u16(), 503, "{what}: {}", resp.body);
    let code = resp.body["error"].as_str().unwrap_or_default();
    assert!(
        ["service_unavailable", "outcome_unknown"].contains(&code),
        "{what}: {}",
        resp.body
    );
    assert!(resp.body["message"].is_string(), "{what}: {}", resp.body);
}

async fn timed<F: std::future::Future<Output = Resp>>(f: F) -> (Resp, Duration) {
    let start = Instant::now();
    let resp = f.await;
    (resp, start.elapsed())
}

backend_tests! {
    async fn a_hung_store_gets_503_within_the_bound_and_the_server_recovers(backend) {
        let (app, hangs) = spawn_hanging(backend, |_| {}).await;
        let op = app.operated(&["profile:read", "points:spend"]).await;
        app.grant_points(&op.user, 100).await;
        let refresh = {
            let tokens = app.oauth_tokens(&op.jwt, &op.client, "profile:read points:spend").await;
            tokens.refresh_token
        };
        for kind in ["get", "query", "write", "update"] {
            hangs.set(kind, true);
            let login = app.login(&op.user.email, &op.user.password, None);
            let me = app.me(&op.jwt);
            let spend = app.post_auth("/api/external/points/spend", &op.access_token, Some(json!({ "amount": 1 })));
            let exchange = app.refresh_oauth(&op.client, &refresh);
            let health = app.get("/api/health");
            let history = app.get_auth("/api/user/points/history", &op.jwt);
            let (login, me, spend, exchange, health, history) = tokio::join!(
                timed(login), timed(me), timed(spend), timed(exchange), timed(health), timed(history)
            );
            for (what, (resp, took)) in [("login", &login), ("me", &me), ("spend", &spend), ("token", &exchange), ("health", &health), ("history", &history)] {
                // What does not make this kind of call answers as usual; nothing waits longer.
                assert!(*took < BOUND, "{kind}: {what} took {took:?}");
                if resp.status.as_u16() >= 500 {
                    assert_fast_503(&format!("{kind}: {what}"), resp, *took);
                }
            }
            // Every endpoint here reads an item first: a hung GetItem stops each of them.
            if kind == "get" {
                for (what, (resp, took)) in [("login", &login), ("me", &me), ("spend", &spend), ("token", &exchange), ("health", &health)] {
                    assert_fast_503(what, resp, *took);
                }
            }
            if kind == "write" {
                for (what, (resp, took)) in [("login", &login), ("spend", &spend)] {
                    assert_fast_503(what, resp, *took);
                }
                // A write that was sent and never answered may have happened: it says so.
                assert_eq!(spend.0.body["error"], "outcome_unknown", "{}", spend.0.body);
            }
            if kind == "query" {
                assert_fast_503("history", &history.0, history.1);
            }
            hangs.set(kind, false);
            // The store answers again: so does the server, at once.
            app.get("/api/health").await.assert_status(200);
            app.me(&op.jwt).await.assert_status(200);
        }
        let (points, ledger) = app.balance_and_ledger(&op.user.id).await;
        assert_eq!(points, ledger, "whatever happened, the ledger adds up");
    }

    async fn a_burst_against_a_hung_store_is_shed_at_once(backend) {
        let (app, hangs) = spawn_hanging(backend, |c| c.deadlines.max_in_flight = 4).await;
        hangs.set("get", true);
        let started = Instant::now();
        let burst = futures::future::join_all((0..40).map(|_| timed(app.get("/api/health")))).await;
        for (resp, took) in &burst {
            assert_fast_503("health", resp, *took);
        }
        // Four wait for the store's deadline; the rest are shed without waiting.
        let shed = burst.iter().filter(|(_, took)| *took < Duration::from_millis(1000)).count();
        assert!(shed >= 30, "only {shed} of 40 were shed at once");
        assert!(started.elapsed() < BOUND);
        hangs.set("get", false);
        app.get("/api/health").await.assert_status(200);
    }

    async fn a_write_that_commits_and_then_fails(backend) {
        let mut handle = None;
        let app = TestApp::spawn_wrapped(backend, |_| {}, |inner| {
            let table = Arc::new(CommitsThenFails { inner, armed: AtomicUsize::new(0) });
            handle = Some(table.clone());
            table
        }).await;
        let faults = handle.unwrap();
        let op = app.operated(&["points:spend"]).await;
        app.grant_points(&op.user, 100).await;
        // The spend commits, the store reports a failure: the key's record shows the spend
        // happened, so the answer is the spend's, and a retry gets exactly that answer.
        faults.arm_movements(1);
        let first = app.post_idempotent("/api/external/points/spend", &op.access_token, "order-9", json!({ "amount": 30 })).await;
        let body = first.assert_status(200).clone();
        assert_eq!(body["points"], 70);
        app.post_auth("/api/external/points/spend", &op.access_token, Some(json!({ "amount": 5 }))).await.assert_status(200);
        let retry = app.post_idempotent("/api/external/points/spend", &op.access_token, "order-9", json!({ "amount": 30 })).await;
        assert_eq!(retry.assert_status(200), &body);
        assert_eq!(app.balance_and_ledger(&op.user.id).await, (65, 65));
        // Without a key nothing can tell: the answer says the outcome is unknown.
        faults.arm_movements(1);
        let unknown = app.post_auth("/api/external/points/spend", &op.access_token, Some(json!({ "amount": 5 }))).await;
        unknown.assert_error(503, "outcome_unknown");
        assert_eq!(app.balance_and_ledger(&op.user.id).await, (60, 60), "it did happen, once");
    }
}

/// Commits the next armed multi-item writes, then reports that their outcome is unknown.
struct CommitsThenFails {
    inner: SharedTable,
    armed: AtomicUsize,
}

impl CommitsThenFails {
    fn arm_movements(&self, n: usize) {
        self.armed.store(n, Ordering::SeqCst);
    }
}

#[async_trait]
impl Table for CommitsThenFails {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }
    async fn query(&self, query: &Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }
    async fn write(&self, ops: Vec<WriteOp>) -> Result<(), StoreError> {
        // A movement is the only write of more than three items here.
        let movement = ops.len() > 3;
        self.inner.write(ops).await?;
        if movement
            && self
                .armed
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return Err(StoreError::OutcomeUnknown(
                "injected: committed, then no answer".into(),
            ));
        }
        Ok(())
    }
    async fn update_returning(&self, update: Update) -> Result<Item, StoreError> {
        self.inner.update_returning(update).await
    }
}

// ---- DynamoDB Local behind a proxy that stops answering ----

/// What the proxy in front of DynamoDB Local does wrong.
#[derive(Default)]
struct ProxyFaults {
    /// Accept what clients send and answer nothing.
    hang: AtomicBool,
    /// Let the next TransactWriteItems through and lose its answer (once): the write happens,
    /// the client never hears of it.
    lose_next_transaction_answer: AtomicBool,
    /// TransactWriteItems requests that reached DynamoDB Local.
    transactions: AtomicUsize,
}

/// A TCP proxy to DynamoDB Local with `faults`.
async fn faulty_proxy(upstream: String, faults: Arc<ProxyFaults>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let (upstream, faults) = (upstream.clone(), faults.clone());
            tokio::spawn(async move {
                let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.split();
                let (mut server_read, mut server_write) = server.split();
                // Set by the request side: this connection's answers are lost from now on.
                let deaf = AtomicBool::new(false);
                let up = async {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match client_read.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if faults.hang.load(Ordering::SeqCst) {
                            continue; // swallowed: the request never arrives
                        }
                        let text = String::from_utf8_lossy(&buf[..n]);
                        if text.contains("DynamoDB_20120810.TransactWriteItems") {
                            faults.transactions.fetch_add(1, Ordering::SeqCst);
                            if faults
                                .lose_next_transaction_answer
                                .swap(false, Ordering::SeqCst)
                            {
                                deaf.store(true, Ordering::SeqCst);
                            }
                        }
                        if server_write.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                };
                let down = async {
                    let mut buf = vec![0u8; 16 * 1024];
                    loop {
                        let n = match server_read.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        if deaf.load(Ordering::SeqCst) {
                            continue; // the answer is lost on the way
                        }
                        if client_write.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                };
                tokio::select! { _ = up => {}, _ = down => {} }
            });
        }
    });
    format!("http://{addr}")
}

/// The server over a fresh DynamoDB Local table reached only through a faulty proxy, with the
/// production deadlines and the functions' SDK configuration.
async fn spawn_behind_proxy() -> (TestApp, Arc<ProxyFaults>) {
    let upstream = crate::helpers::dynamodb_endpoint();
    let faults = Arc::new(ProxyFaults::default());
    let proxy = faulty_proxy(
        upstream.trim_start_matches("http://").to_string(),
        faults.clone(),
    )
    .await;
    let name = format!("deadline-{}", uuid::Uuid::new_v4().simple());
    let app = TestApp::spawn_over(
        Backend::Dynamo,
        |c| c.deadlines = Deadlines::default(),
        |inner, clock| {
            drop(inner);
            Arc::new(DynamoTable::new(client_for(&proxy), name.clone(), clock))
        },
    )
    .await;
    DynamoTable::new(
        crate::helpers::dynamodb_client(),
        name.clone(),
        app.clock.clone(),
    )
    .create_table()
    .await
    .expect("creating the table");
    (app, faults)
}

/// A DynamoDB client configured as the functions configure theirs (production deadlines).
fn client_for(endpoint: &str) -> aws_sdk_dynamodb::Client {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    let deadlines = Deadlines::default();
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(endpoint)
        .timeout_config(buddo_shared::aws::timeouts(&deadlines))
        .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::standard().with_max_attempts(3))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_behind_a_proxy_that_stops_answering() {
    let (app, faults) = spawn_behind_proxy().await;
    let hang = &faults.hang;
    let user = app.new_user().await;
    let jwt = app.login_ok(&user).await.token;
    app.get("/api/health").await.assert_status(200);

    hang.store(true, Ordering::SeqCst);
    let (health, me, login) = tokio::join!(
        timed(app.get("/api/health")),
        timed(app.me(&jwt)),
        timed(app.login(&user.email, &user.password, None)),
    );
    assert_fast_503("health", &health.0, health.1);
    assert_fast_503("me", &me.0, me.1);
    assert_fast_503("login", &login.0, login.1);

    hang.store(false, Ordering::SeqCst);
    app.get("/api/health").await.assert_status(200);
    app.me(&jwt).await.assert_status(200);
}

// ---- the mailer under a provider that hangs ----

/// Sends at once, except to addresses starting with `slow`: those never get an answer.
#[derive(Default)]
struct HangingProvider {
    sent: Mutex<Vec<String>>,
}

#[async_trait]
impl MailSender for HangingProvider {
    async fn send(&self, _from: &str, mail: &Mail) -> anyhow::Result<String> {
        if mail.to.starts_with("slow") {
            std::future::pending::<()>().await;
        }
        self.sent.lock().unwrap().push(mail.to.clone());
        Ok("id".into())
    }
}

fn outbox_batch(pks: &[String]) -> Event {
    let records: Vec<Value> = pks
        .iter()
        .enumerate()
        .map(|(i, pk)| json!({
            "eventID": format!("{i}"), "eventName": "INSERT", "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
            "dynamodb": {
                "Keys": { "PK": { "S": pk }, "SK": { "S": "OUTBOX" } },
                "SequenceNumber": format!("{}", 100 + i), "SizeBytes": 120, "StreamViewType": "NEW_IMAGE"
            }
        }))
        .collect();
    serde_json::from_value(json!({ "Records": records })).expect("a DynamoDB stream event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_mailer_fails_only_what_a_hung_provider_holds() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let mut addresses = Vec::new();
    for name in ["slow-one", "fast-one", "slow-two", "fast-two"] {
        let email = format!("{name}-{}@example.com", uuid::Uuid::new_v4().simple());
        let username = format!("u{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        app.register(&email, &username, "a long enough secret")
            .await
            .assert_status(201);
        addresses.push(email);
    }
    let pending = buddo_shared::mail::pending(app.state.table.as_ref())
        .await
        .unwrap();
    let pks: Vec<String> = addresses
        .iter()
        .map(|a| {
            pending
                .iter()
                .find(|m| &m.to == a)
                .map(|m| buddo_shared::keys::outbox(&m.id).pk)
                .unwrap()
        })
        .collect();
    let provider = Arc::new(HangingProvider::default());
    let mailer = Mailer {
        table: app.state.table.clone(),
        sender: provider.clone(),
        from: "no-reply@buddo.test".into(),
        clock: app.clock.clone(),
        send_deadline: Duration::from_secs(1),
    };
    let started = Instant::now();
    let answer = serde_json::to_value(mailer.handle(&outbox_batch(&pks)).await).unwrap();
    // The batch takes about one send's deadline, not one per hung send.
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        answer,
        json!({ "batchItemFailures": [{ "itemIdentifier": "100" }, { "itemIdentifier": "102" }] })
    );
    let mut sent = provider.sent.lock().unwrap().clone();
    sent.sort();
    let mut fast = vec![addresses[1].clone(), addresses[3].clone()];
    fast.sort();
    assert_eq!(sent, fast);
    // The hung messages are back in the queue for Lambda's retry of their records.
    let still_pending: Vec<String> = buddo_shared::mail::pending(app.state.table.as_ref())
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.to)
        .collect();
    assert!(
        still_pending.contains(&addresses[0]) && still_pending.contains(&addresses[2]),
        "{still_pending:?}"
    );
}

// ---- the template's timeouts sit above the deadlines ----

/// A function of the template: its name, its `Timeout` (seconds) when it sets one, and the
/// `TimeoutInMillis` of each of its HttpApi events.
type FunctionTimeouts = (String, Option<u64>, Vec<Option<u64>>);

/// The global `Timeout` and every function's timeouts, from template.yaml.
fn template_timeouts() -> (u64, Vec<FunctionTimeouts>) {
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("template.yaml"),
    )
    .expect("template.yaml");
    let mut global = None;
    let mut functions: Vec<FunctionTimeouts> = Vec::new();
    let mut in_globals = false;
    for line in text.lines() {
        if !line.starts_with(' ') {
            in_globals = line.starts_with("Globals:");
        }
        if let Some(name) = line.strip_prefix("  ").and_then(|l| l.strip_suffix(':')) {
            if !name.starts_with(' ') && name.ends_with("Function") {
                functions.push((name.to_string(), None, Vec::new()));
            }
        }
        let trimmed = line.trim();
        if let Some(t) = trimmed.strip_prefix("Timeout: ") {
            let t = t.parse().expect("a Timeout in seconds");
            match functions.last_mut() {
                Some(f) if !in_globals => f.1 = Some(t),
                _ => global = Some(t),
            }
        }
        if trimmed == "Type: HttpApi" {
            if let Some(f) = functions.last_mut() {
                f.2.push(None);
            }
        }
        if let Some(ms) = trimmed.strip_prefix("TimeoutInMillis: ") {
            if let Some(last) = functions.last_mut().and_then(|f| f.2.last_mut()) {
                *last = Some(ms.parse().expect("TimeoutInMillis"));
            }
        }
    }
    (global.expect("a global Timeout"), functions)
}

#[test]
fn the_template_gives_every_route_more_time_than_the_request_deadline() {
    let (global, functions) = template_timeouts();
    let request = Deadlines::default().request.as_millis() as u64;
    let mut routes = 0;
    for (name, timeout, events) in functions {
        let timeout_ms = timeout.unwrap_or(global) * 1000;
        assert!(
            timeout_ms > request + 1000,
            "{name}: Timeout {timeout_ms} ms is not above the request deadline"
        );
        for event in events {
            routes += 1;
            let ms =
                event.unwrap_or_else(|| panic!("{name}: an HttpApi event without TimeoutInMillis"));
            assert_eq!(
                ms, timeout_ms,
                "{name}: API Gateway waits as long as the function may run"
            );
            assert!(ms <= 30_000, "{name}: above the HTTP API's 30 s");
        }
    }
    assert!(routes >= 10, "found {routes} HttpApi events");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_transaction_whose_answer_is_lost_is_replayed_with_its_token() {
    let (app, faults) = spawn_behind_proxy().await;
    let op = app.operated(&["points:spend"]).await;
    app.grant_points(&op.user, 100).await;
    let before = faults.transactions.load(Ordering::SeqCst);
    // The spend's transaction reaches the table; its answer does not come back. The SDK's
    // attempt times out and it sends the transaction again with the same client request
    // token: DynamoDB applies it once, and the spend succeeds.
    faults
        .lose_next_transaction_answer
        .store(true, Ordering::SeqCst);
    let (spent, took) = timed(app.post_auth(
        "/api/external/points/spend",
        &op.access_token,
        Some(json!({ "amount": 30 })),
    ))
    .await;
    assert!(took < BOUND, "{took:?}");
    assert_eq!(spent.assert_status(200)["points"], 70);
    assert_eq!(
        faults.transactions.load(Ordering::SeqCst) - before,
        2,
        "sent twice"
    );
    assert_eq!(
        app.balance_and_ledger(&op.user.id).await,
        (70, 70),
        "applied once"
    );
}
