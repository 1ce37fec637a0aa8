//! The live activity streams: Server-Sent Events of one's own activity (admins: everyone's),
//! resumed from `Last-Event-ID`, kept alive, ended after their maximum duration or when the
//! login session ends; and an off-the-shelf SSE client (Python's httpx-sse) reading one,
//! reconnecting where it left off.

use std::time::Duration;

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{TestApp, TestUser};

const MINE: &str = "/api/user/activity/stream";
const EVERYONE: &str = "/api/admin/activity/stream";

/// One event as a client sees it.
#[derive(Debug, Default)]
struct SseEvent {
    id: Option<String>,
    event: Option<String>,
    data: Option<Value>,
    comment: Option<String>,
    retry: Option<u64>,
}

/// A stream read as it arrives.
struct SseReader {
    resp: reqwest::Response,
    buffer: String,
}

impl SseReader {
    async fn open(
        app: &TestApp,
        path: &str,
        token: &str,
        last_event_id: Option<&str>,
    ) -> SseReader {
        let mut req = app.client.get(app.url(path)).bearer_auth(token);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let resp = req.send().await.expect("stream request");
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        SseReader {
            resp,
            buffer: String::new(),
        }
    }

    /// The next event or comment; `None` when the stream ended or `within` passed.
    async fn next(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent::default();
                for line in block.lines().filter(|l| !l.is_empty()) {
                    let (field, value) = line.split_once(':').unwrap_or((line, ""));
                    let value = value.strip_prefix(' ').unwrap_or(value);
                    match field {
                        "" => event.comment = Some(value.to_string()),
                        "id" => event.id = Some(value.to_string()),
                        "event" => event.event = Some(value.to_string()),
                        "data" => {
                            event.data = Some(serde_json::from_str(value).expect("data is JSON"))
                        }
                        "retry" => event.retry = value.parse().ok(),
                        _ => {}
                    }
                }
                return Some(event);
            }
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// The next entry (skipping comments), within `within`.
    async fn next_entry(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next(left).await?;
            if event.id.is_some() {
                return Some(event);
            }
        }
    }
}

/// A stream config for these tests: long enough to read, quick to poll.
fn streaming(
    max_seconds: u64,
    keep_alive_ms: u64,
) -> impl FnOnce(&mut buddo_shared::config::Config) {
    move |c| {
        c.stream.max_duration = Duration::from_secs(max_seconds);
        c.stream.poll_interval = Duration::from_millis(50);
        c.stream.keep_alive = Duration::from_millis(keep_alive_ms);
    }
}

/// A signed-in user whose earlier activity is in the past (streams start now).
async fn signed_in(app: &TestApp) -> (TestUser, String) {
    let user = app.new_user().await;
    let token = app.login_ok(&user).await.token;
    app.clock.advance(1);
    (user, token)
}

const WAIT: Duration = Duration::from_secs(10);

backend_tests! {
    async fn a_stream_carries_ones_own_activity_as_it_happens(backend) {
        let app = TestApp::spawn_with(backend, streaming(30, 5000)).await;
        let (user, token) = signed_in(&app).await;
        let (other, _) = signed_in(&app).await;
        let mut stream = SseReader::open(&app, MINE, &token, None).await;
        let hello = stream.next(WAIT).await.expect("the greeting");
        assert_eq!(hello.retry, Some(1000));
        assert_eq!(hello.comment.as_deref(), Some("connected"));
        // Someone else signs in, then the user does: only the user's sign-in comes.
        app.login_ok(&other).await;
        app.login_ok(&user).await;
        let event = stream.next_entry(WAIT).await.expect("the user's sign-in");
        assert_eq!(event.event.as_deref(), Some("login"));
        let data = event.data.unwrap();
        assert_eq!(data["user_id"], user.id.as_str());
        assert_eq!(data["kind"], "login");
        assert_eq!(event.id.unwrap(), format!("{}#{}", data["at"].as_str().unwrap(), data["id"].as_str().unwrap()));
        // Then a sign-in and a failed one, each once, in order; nothing of the other user's.
        app.login_ok(&other).await;
        app.login_ok(&user).await;
        app.post("/api/auth/login", json!({ "email": user.email, "password": "not the password" })).await.assert_status(401);
        let kinds: Vec<String> = [stream.next_entry(WAIT).await.unwrap(), stream.next_entry(WAIT).await.unwrap()]
            .into_iter()
            .map(|e| { assert_eq!(e.data.as_ref().unwrap()["user_id"], user.id.as_str()); e.event.unwrap() })
            .collect();
        assert_eq!(kinds, ["login", "login_failed"]);
        assert!(stream.next_entry(Duration::from_millis(500)).await.is_none(), "nothing more, nothing twice");
    }

    async fn a_stream_resumes_after_its_last_event_id(backend) {
        let app = TestApp::spawn_with(backend, streaming(30, 5000)).await;
        let (user, token) = signed_in(&app).await;
        let mut stream = SseReader::open(&app, MINE, &token, None).await;
        app.login_ok(&user).await;
        let first = stream.next_entry(WAIT).await.unwrap();
        drop(stream);
        // While nobody listens: two more sign-ins, a second apart.
        app.clock.advance(1);
        app.login_ok(&user).await;
        app.clock.advance(1);
        app.login_ok(&user).await;
        let last_id = first.id.clone().unwrap();
        let mut resumed = SseReader::open(&app, MINE, &token, Some(&last_id)).await;
        let a = resumed.next_entry(WAIT).await.unwrap();
        let b = resumed.next_entry(WAIT).await.unwrap();
        assert!(a.id.as_ref().unwrap() > &last_id && b.id > a.id, "{a:?} {b:?}");
        assert!(resumed.next_entry(Duration::from_millis(500)).await.is_none());
        // A Last-Event-ID that is not one: 400, named.
        let resp = app.client.get(app.url(MINE)).bearer_auth(&token).header("last-event-id", "yesterday").send().await.unwrap();
        assert_eq!(resp.status(), 400);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "validation_failed");
        assert!(body["fields"]["Last-Event-ID"].is_string());
    }

    async fn admins_stream_everyones_activity_and_nobody_else_may(backend) {
        let app = TestApp::spawn_with(backend, streaming(30, 5000)).await;
        let admin = app.admin_token().await;
        let (user, token) = signed_in(&app).await;
        app.get_auth(EVERYONE, &token).await.assert_error(403, "forbidden");
        app.get(MINE).await.assert_error(401, "invalid_token");
        app.get(EVERYONE).await.assert_error(401, "invalid_token");
        let mut stream = SseReader::open(&app, EVERYONE, &admin, None).await;
        let other = app.new_user().await;
        app.login_ok(&user).await;
        app.login_ok(&other).await;
        let mut users = Vec::new();
        while users.len() < 2 {
            let e = stream.next_entry(WAIT).await.expect("both sign-ins");
            if e.event.as_deref() == Some("login") {
                users.push(e.data.unwrap()["user_id"].as_str().unwrap().to_string());
            }
        }
        users.sort();
        let mut want = vec![user.id.clone(), other.id.clone()];
        want.sort();
        assert_eq!(users, want);
    }

    async fn keep_alives_flow_and_a_stream_ends_with_its_session_or_its_time(backend) {
        let app = TestApp::spawn_with(backend, streaming(3, 200)).await;
        let (_, token) = signed_in(&app).await;
        // Its time: keep-alive comments, then the end (the client reconnects).
        let started = tokio::time::Instant::now();
        let mut stream = SseReader::open(&app, MINE, &token, None).await;
        let mut keep_alives = 0;
        while let Some(e) = stream.next(WAIT).await {
            if e.comment.as_deref() == Some("keep-alive") {
                keep_alives += 1;
            }
        }
        assert!(keep_alives >= 3, "{keep_alives}");
        assert!(started.elapsed() < Duration::from_secs(8));
        // Its session: signing out ends it at the next keep-alive.
        let (_, token) = signed_in(&app).await;
        let mut stream = SseReader::open(&app, MINE, &token, None).await;
        stream.next(WAIT).await.unwrap();
        app.post_auth("/api/auth/logout", &token, None).await.assert_status(200);
        let ended = tokio::time::Instant::now();
        while stream.next(WAIT).await.is_some() {}
        assert!(ended.elapsed() < Duration::from_secs(2), "ended at the next keep-alive");
    }
}

/// httpx-sse, an off-the-shelf client, reads the stream and reconnects with the id of the last
/// event it got (tests/sse_client.py).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_off_the_shelf_sse_client_reads_and_resumes() {
    let python = crate::oauth::real_client::client_python();
    let app = TestApp::spawn_with(crate::helpers::Backend::Embedded, streaming(30, 5000)).await;
    let (user, token) = signed_in(&app).await;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sse_client.py");
    let run = |last: Option<String>, wanted: usize| {
        let mut command = std::process::Command::new(&python);
        command
            .arg(&script)
            .arg(app.url(MINE))
            .arg(wanted.to_string())
            .env("BUDDO_TOKEN", &token);
        if let Some(id) = last {
            command.env("LAST_EVENT_ID", id);
        }
        tokio::task::spawn_blocking(move || command.output())
    };
    // The client connects, then the user signs in twice; it prints the two events and stops.
    let reader = run(None, 2);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.login_ok(&user).await;
    app.clock.advance(1);
    app.login_ok(&user).await;
    let out = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2);
    assert!(events
        .iter()
        .all(|e| e["event"] == "login" && e["data"]["user_id"] == json!(user.id)));
    // Reconnected with the first event's id, it gets the second one only, then a new one.
    let first = events[0]["id"].as_str().unwrap().to_string();
    let reader = run(Some(first), 2);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    app.clock.advance(1);
    let session = app.login_ok(&user).await;
    let out = tokio::time::timeout(Duration::from_secs(30), reader)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resumed: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(resumed[0]["id"], events[1]["id"]);
    assert!(resumed[1]["id"].as_str().unwrap() > events[1]["id"].as_str().unwrap());
    drop(session);
}
