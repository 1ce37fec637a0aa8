//! `tests/smoke.sh`, the smoke test that runs against every deployment, run here against the
//! real `buddo` server (what `cargo run` starts) on a free port with a fresh data directory:
//! it passes with either source of a verified app owner, reuses the owner's app on the next
//! run, and fails, naming the step, when nothing answers, when a server answers wrongly,
//! when the owner cannot sign in, and when no owner is configured.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_buddo");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/smoke.sh");

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("buddo-smoke-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `buddo` server on a free port, its data in a fresh directory; killed when dropped.
struct Server {
    child: Child,
    url: String,
    dir: PathBuf,
}

impl Server {
    async fn start() -> Server {
        let dir = temp_dir();
        let port = free_port();
        let child = Command::new(BIN)
            .current_dir(&dir)
            .env_remove("BUDDO_STORE")
            .env_remove("TABLE_NAME")
            .env_remove("PUBLIC_API_URL")
            .env_remove("PUBLIC_WEB_URL")
            .env("BUDDO_DATA_DIR", dir.join("data"))
            .env("PORT", port.to_string())
            .env("RUST_LOG", "warn")
            // The runs below register four users and sign in a dozen times from one address
            // within seconds; a deployment sees one run at a time.
            .env("RATE_LIMIT_REGISTER", "100/3600")
            .env("RATE_LIMIT_LOGIN", "100/60")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("server.log")).unwrap())
            .spawn()
            .expect("buddo");
        let server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let started = Instant::now();
        loop {
            let up = reqwest::get(format!("{}/api/health", server.url)).await;
            if up.is_ok_and(|r| r.status().is_success()) {
                return server;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the server did not answer within 30 s: {}",
                std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn mail_dir(&self) -> PathBuf {
        self.dir.join("data").join("mail")
    }

    /// Registers `email` and verifies it with the mailed code, as a person does once for a
    /// deployment's smoke account.
    async fn verified_account(&self, email: &str, username: &str, password: &str) {
        let client = reqwest::Client::new();
        let registered = client
            .post(format!("{}/api/auth/register", self.url))
            .json(&json!({"email": email, "username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(registered.status(), 201);
        let token = self.mailed_token(email).await;
        let verified = client
            .post(format!("{}/api/auth/verify-email", self.url))
            .json(&json!({ "token": token }))
            .send()
            .await
            .unwrap();
        assert_eq!(verified.status(), 200);
    }

    async fn mailed_token(&self, email: &str) -> String {
        let started = Instant::now();
        loop {
            for entry in std::fs::read_dir(self.mail_dir()).into_iter().flatten() {
                let text = std::fs::read_to_string(entry.unwrap().path()).unwrap_or_default();
                if !text.contains(&format!("\nTo: {email}\n")) {
                    continue;
                }
                if let Some((_, rest)) = text.split_once("/verify-email?token=") {
                    return rest.split_whitespace().next().unwrap().to_string();
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "no mail to {email}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// `bash tests/smoke.sh <url>` with only `env` of the SMOKE_ variables.
fn smoke(url: &str, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(SCRIPT)
        .arg(url)
        .env_remove("SMOKE_MAIL_DIR")
        .env_remove("SMOKE_EMAIL")
        .env_remove("SMOKE_PASSWORD")
        .env("SMOKE_TIMEOUT", "20")
        .stdin(Stdio::null());
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd.output().expect("bash")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_passed(output: &Output) {
    assert!(
        output.status.success() && stderr(output).ends_with("smoke: passed\n"),
        "the smoke test failed ({}):\n{}",
        output.status,
        stderr(output)
    );
}

/// The run failed with exit code 1 and this message on its last line.
fn assert_failed(output: &Output, message: &str) {
    let errors = stderr(output);
    let last = errors.lines().last().unwrap_or_default();
    assert!(
        output.status.code() == Some(1)
            && last.starts_with("smoke: FAIL: ")
            && last.contains(message),
        "expected a failure with {message:?}, got {}:\n{errors}",
        output.status
    );
}

#[tokio::test]
async fn the_smoke_test_passes_against_a_fresh_server() {
    let server = Server::start().await;
    let mail_dir = server.mail_dir();

    // A local server: the new user verifies its address from the mail and owns the app.
    let run = smoke(
        &server.url,
        &[("SMOKE_MAIL_DIR", mail_dir.to_str().unwrap())],
    );
    assert_passed(&run);
    let log = stderr(&run);
    for step in [
        "health: ok",
        "registered smoke_",
        "with the mailed code",
        "registered the app bci_",
        "authorized with PKCE, exchanged the code",
        "introspected the access token, acted with it",
        "refreshed, revoked; the revoked token is refused",
        "deleted smoke_",
    ] {
        assert!(log.contains(step), "no {step:?} in:\n{log}");
    }

    // A deployment: a verified account owns the app, registers it once and reuses it.
    let (email, password) = ("smoke-owner@example.com", "smoke owner password");
    server
        .verified_account(email, "smoke_owner", password)
        .await;
    let owner = [("SMOKE_EMAIL", email), ("SMOKE_PASSWORD", password)];
    let first = smoke(&server.url, &owner);
    assert_passed(&first);
    let client_id = stderr(&first)
        .lines()
        .find_map(|l| l.strip_prefix("smoke: registered the app "))
        .expect("the first run registers the app")
        .to_string();
    let second = smoke(&server.url, &owner);
    assert_passed(&second);
    assert!(
        stderr(&second).contains(&format!("smoke: reusing the app {client_id}\n")),
        "{}",
        stderr(&second)
    );

    // The new users of the three runs are gone; the owner's one app remains.
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{}/api/auth/login", server.url))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let apps: Value = client
        .get(format!("{}/api/oauth/my-apps", server.url))
        .bearer_auth(login["token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(apps.as_array().unwrap().len(), 1, "{apps}");
    for run in [&run, &first, &second] {
        let username = stderr(run)
            .lines()
            .find_map(|l| l.strip_prefix("smoke: deleted "))
            .unwrap()
            .to_string();
        let available: Value = reqwest::get(format!("{}/api/users/{username}", server.url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            available["error"], "user_not_found",
            "{username}: {available}"
        );
    }

    // A wrong password for the owner fails the run at that step.
    let wrong = smoke(
        &server.url,
        &[
            ("SMOKE_EMAIL", email),
            ("SMOKE_PASSWORD", "not the password"),
        ],
    );
    assert_failed(
        &wrong,
        "POST /api/auth/login (SMOKE_EMAIL): HTTP 401, expected 200",
    );
}

/// A server that answers every request with 200 and `{"status":"ok","version":"0"}`.
fn wrong_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 8192];
            let _ = stream.read(&mut request);
            let body = r#"{"status":"ok","version":"0"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

#[test]
fn the_smoke_test_fails_when_a_step_fails() {
    let mail_dir = Path::new("/nonexistent-buddo-mail");
    let owner = [("SMOKE_MAIL_DIR", mail_dir.to_str().unwrap())];

    let nothing = format!("http://127.0.0.1:{}", free_port());
    assert_failed(
        &smoke(&nothing, &owner),
        &format!("GET /api/health: no answer from {nothing}"),
    );

    let wrong = wrong_server();
    let run = smoke(&wrong, &owner);
    assert_failed(&run, "POST /api/auth/register: HTTP 200, expected 201");
    assert!(
        stderr(&run).contains("smoke: health: ok"),
        "{}",
        stderr(&run)
    );

    assert_failed(
        &smoke(&wrong, &[]),
        "set SMOKE_EMAIL and SMOKE_PASSWORD (an account of the deployment), or SMOKE_MAIL_DIR",
    );

    let usage = smoke("not a url", &owner);
    assert_eq!(usage.status.code(), Some(2), "{}", stderr(&usage));
}
