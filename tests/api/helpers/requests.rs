//! Requests to the server and what is asserted of their answers.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::TestApp;

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

impl TestApp {
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
