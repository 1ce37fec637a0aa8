//! A webhook receiver on a random port of this machine, and an independent check of the
//! Standard Webhooks signature (HMAC-SHA256 of `<id>.<timestamp>.<body>` with the base64 key of
//! the `whsec_` secret, `v1,<base64>` entries separated by spaces).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// One request the receiver got.
#[derive(Clone, Debug)]
pub struct Received {
    pub id: String,
    pub timestamp: i64,
    pub signature: String,
    pub body: String,
    /// What the receiver answered.
    pub accepted: bool,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
    pub fn event_type(&self) -> String {
        self.json()["type"].as_str().unwrap().to_string()
    }
    pub fn user_id(&self) -> String {
        self.json()["data"]["user_id"].as_str().unwrap().to_string()
    }
}

#[derive(Default)]
struct Inner {
    received: Mutex<Vec<Received>>,
    /// Requests still to be refused with a 500.
    fail_next: AtomicUsize,
}

#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let refuse = inner
        .fail_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    inner.received.lock().unwrap().push(Received {
        id: header("webhook-id"),
        timestamp: header("webhook-timestamp").parse().unwrap_or(0),
        signature: header("webhook-signature"),
        body: String::from_utf8_lossy(&body).into_owned(),
        accepted: !refuse,
    });
    if refuse {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

impl Receiver {
    pub async fn start() -> Receiver {
        let inner = Arc::new(Inner::default());
        let router = Router::new()
            .route("/hook", post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Receiver { addr, inner }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// The next `n` requests are answered 500.
    pub fn fail_next(&self, n: usize) {
        self.inner.fail_next.store(n, Ordering::SeqCst);
    }

    pub fn all(&self) -> Vec<Received> {
        self.inner.received.lock().unwrap().clone()
    }

    /// The requests it accepted.
    pub fn accepted(&self) -> Vec<Received> {
        self.all().into_iter().filter(|r| r.accepted).collect()
    }

    pub fn of_type(&self, event_type: &str) -> Vec<Received> {
        self.accepted()
            .into_iter()
            .filter(|r| r.event_type() == event_type)
            .collect()
    }
}

/// The `v1` signature of a message under a `whsec_` secret, computed here.
pub fn expected_signature(secret: &str, id: &str, timestamp: i64, body: &str) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("base64 key");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// True when one of the `webhook-signature` entries is the signature under `secret`.
pub fn signed_by(received: &Received, secret: &str) -> bool {
    let want = expected_signature(secret, &received.id, received.timestamp, &received.body);
    received
        .signature
        .split(' ')
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .any(|sig| sig == want)
}

/// Asserts the request is a well-formed Standard Webhooks message signed by `secret`, sent at
/// `now` (epoch seconds).
pub fn assert_signed(received: &Received, secret: &str, now: i64) {
    assert!(
        received.id.starts_with("msg_"),
        "webhook-id {}",
        received.id
    );
    assert!(
        (received.timestamp - now).abs() <= 300,
        "webhook-timestamp {} is not now ({now})",
        received.timestamp
    );
    assert!(
        signed_by(received, secret),
        "signature {} does not verify",
        received.signature
    );
    let body = received.json();
    assert!(body["type"].is_string() && body["timestamp"].is_string());
    assert!(body["data"].is_object());
}
