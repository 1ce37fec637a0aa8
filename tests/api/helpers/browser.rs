//! `Browser`: a real headless Chromium, driven over WebDriver (`chromedriver`, which
//! `tests/run.sh` starts and names in `BUDDO_TEST_WEBDRIVER`), for the hosted pages.
//!
//! Every test gets a session of its own (its own profile, so its own cookies) on the one
//! chromedriver; at most [`MAX_SESSIONS`] run at once, the others wait for a free one.

use std::path::Path;
use std::time::Duration;

use fantoccini::wd::Capabilities;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::from_run_sh;

/// Browsers open at once across the test binary: each is a Chromium with its renderers, and
/// the tests run in parallel.
pub const MAX_SESSIONS: usize = 2;
static SESSIONS: Semaphore = Semaphore::const_new(MAX_SESSIONS);

/// How long `find`, `click` and friends wait for an element to show up.
const WAIT: Duration = Duration::from_secs(10);

pub fn webdriver_url() -> String {
    from_run_sh("BUDDO_TEST_WEBDRIVER", "starts chromedriver")
}

/// The Chromium chromedriver starts: `BUDDO_TEST_CHROMIUM` (set by `tests/run.sh`), else
/// Debian's `/usr/bin/chromium`.
fn chromium_binary() -> String {
    std::env::var("BUDDO_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_string())
}

fn capabilities() -> Capabilities {
    let options = serde_json::json!({
        "binary": chromium_binary(),
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-dev-shm-usage",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--window-size=1280,900",
        ],
    });
    let mut caps = Capabilities::new();
    caps.insert("browserName".into(), "chrome".into());
    caps.insert("goog:chromeOptions".into(), options);
    // A page may be half-loaded when a command returns; the helpers wait for elements.
    caps.insert("pageLoadStrategy".into(), "normal".into());
    caps
}

/// A command of a WebDriver extension: `POST /session/{id}/<path>` with a JSON body.
#[derive(Debug)]
struct SessionPost {
    path: &'static str,
    body: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for SessionPost {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        let session = session_id.unwrap_or_default();
        base_url.join(&format!("session/{session}/{}", self.path))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

pub struct Browser {
    client: Client,
    _slot: SemaphorePermit<'static>,
}

impl Browser {
    /// A new headless Chromium session on `BUDDO_TEST_WEBDRIVER`, waiting for a free slot
    /// and retrying a start that failed (Chromium can be slow to come up on a busy machine).
    pub async fn open() -> Browser {
        let webdriver = webdriver_url();
        let slot = SESSIONS
            .acquire()
            .await
            .expect("the session slots are never closed");
        let mut last_error = String::new();
        for attempt in 1..=3 {
            let connected = ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities())
                .connect(&webdriver)
                .await;
            match connected {
                Ok(client) => {
                    return Browser {
                        client,
                        _slot: slot,
                    }
                }
                Err(error) => {
                    last_error = format!("attempt {attempt}: {error}");
                    tokio::time::sleep(Duration::from_millis(500 * attempt)).await;
                }
            }
        }
        panic!("could not open a Chromium session on {webdriver}: {last_error}");
    }

    /// Gives the browser a virtual authenticator (WebAuthn's WebDriver extension, "Virtual
    /// Authenticators"): a platform authenticator that keeps discoverable credentials and
    /// verifies its user, with no prompt. Its id.
    pub async fn add_virtual_authenticator(&self) -> String {
        let added = self
            .client
            .issue_cmd(SessionPost {
                path: "webauthn/authenticator",
                body: serde_json::json!({
                    "protocol": "ctap2",
                    "transport": "internal",
                    "hasResidentKey": true,
                    "hasUserVerification": true,
                    "isUserConsenting": true,
                    "isUserVerified": true,
                }),
            })
            .await
            .expect("adding a virtual authenticator");
        added.as_str().expect("the authenticator's id").to_string()
    }

    /// The underlying WebDriver client, for what the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("goto {url}: {e}"));
    }

    pub async fn current_url(&self) -> url::Url {
        self.client.current_url().await.expect("current URL")
    }

    /// The URL once the browser has gone to one starting with `prefix` (a click's navigation
    /// may still be under way when the click returns).
    pub async fn url_starting_with(&self, prefix: &str) -> url::Url {
        for _ in 0..100 {
            let url = self.current_url().await;
            if url.as_str().starts_with(prefix) {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "the browser never reached {prefix}: at {}",
            self.current_url().await
        );
    }

    /// Types `value` into the form field `name` (an `<input>`, `<textarea>` or `<select>`),
    /// replacing what it held.
    pub async fn fill(&self, name: &str, value: &str) {
        let css = format!("[name=\"{name}\"]");
        let field = self.wait_for(&css).await;
        field
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clearing field {name}: {e}"));
        field
            .send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("typing into field {name}: {e}"));
    }

    /// Clicks the element with this `id` (a submit button, a link).
    pub async fn click(&self, id: &str) {
        self.wait_for(&format!("#{id}"))
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking #{id}: {e}"));
    }

    /// The rendered text of the first element matching `css`.
    pub async fn text_of(&self, css: &str) -> String {
        self.wait_for(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    /// Whether an element matches `css` now (no waiting).
    pub async fn has(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("finding {css}: {e}"))
            .is_empty()
    }

    /// The page's HTML as the browser has it.
    pub async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    /// Saves a PNG of the viewport at `path` (for a failing test's artifacts).
    pub async fn screenshot(&self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    }

    /// Ends the session (and its Chromium) and frees the slot.
    pub async fn close(self) {
        self.client.close().await.expect("closing the browser");
    }

    async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        let url = self.client.current_url().await.ok();
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| {
                let at = url.map(|u| u.to_string()).unwrap_or_default();
                panic!("no element {css} at {at} within {WAIT:?}: {e}")
            })
    }
}
