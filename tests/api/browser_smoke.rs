//! The headless browser the hosted pages are tested with: a Chromium session opens, fills and
//! clicks on a page, loads the running API, takes a screenshot and closes.

use base64::Engine;

use crate::helpers::{Backend, Browser, TestApp};

const PAGE: &str = r#"<!doctype html><title>smoke</title>
<form onsubmit="event.preventDefault(); document.getElementById('out').textContent = 'hello ' + this.email.value">
<input name="email"><button id="submit">Go</button></form><p id="out">waiting</p>"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_browser_opens_fills_clicks_and_loads_the_api() {
    let app = TestApp::spawn(Backend::Embedded).await;
    let browser = Browser::open().await;

    let data = base64::engine::general_purpose::STANDARD.encode(PAGE);
    browser.goto(&format!("data:text/html;base64,{data}")).await;
    assert_eq!(browser.client().title().await.unwrap(), "smoke");
    assert_eq!(browser.text_of("#out").await, "waiting");
    assert!(!browser.has("#missing").await);
    browser.fill("email", "ada@example.com").await;
    browser.click("submit").await;
    assert_eq!(browser.text_of("#out").await, "hello ada@example.com");
    assert!(browser.source().await.contains("hello ada@example.com"));

    let jwks = app.url("/.well-known/jwks.json");
    browser.goto(&jwks).await;
    assert_eq!(browser.current_url().await.as_str(), jwks);
    let body: serde_json::Value =
        serde_json::from_str(&browser.text_of("body").await).expect("the JWK Set as JSON");
    assert_eq!(body["keys"][0]["alg"], "EdDSA");

    let shot =
        std::env::temp_dir().join(format!("buddo-browser-smoke-{}.png", uuid::Uuid::new_v4()));
    browser.screenshot(&shot).await;
    let png = std::fs::read(&shot).unwrap();
    std::fs::remove_file(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");

    browser.close().await;
}
