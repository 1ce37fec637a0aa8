//! The hosted pages: sign-in, sign-up, consent and the pages mail links open. Server-rendered
//! (askama), plain HTML forms; one script, from the pages' own origin, for passkeys only
//! (`passkeys.rs`): without it every form works. A browser's sign-in is a cookie naming a login
//! session (`sessions::start_browser`); every form carries a CSRF token that must equal the
//! browser's CSRF cookie, and a form posted from another origin is refused.

mod account;
mod consent;
mod logout;
mod passkeys;
mod providers;
mod signin;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use buddo_shared::crypto::{constant_time_eq, random_token};
use buddo_shared::domain::identity::sessions::{self, Authenticated};
use buddo_shared::domain::RequestMeta;
use buddo_shared::http::Routes;
use buddo_shared::{ApiError, AppState};

/// The browser's session cookie (`__Host-` prefixed on https).
pub const SESSION_COOKIE: &str = "buddo_session";
/// The CSRF cookie every form's `csrf_token` must equal.
pub const CSRF_COOKIE: &str = "buddo_csrf";
/// A sign-in waiting for its TOTP code.
pub const PENDING_COOKIE: &str = "buddo_pending";
/// The token of a device trusted to stand in for the TOTP code ("remember this device").
pub const DEVICE_COOKIE: &str = "buddo_device";

/// Where a signed-in browser lands when nothing else was asked.
const HOME: &str = "/account";

/// The pages' routes.
pub fn routes() -> Routes {
    Routes::new()
        .get("/oauth/authorize", consent::show)
        .post("/oauth/authorize", consent::decide)
        .get("/signin", signin::show)
        .post("/signin", signin::submit)
        .get("/signin/totp", signin::show_code)
        .post("/signin/totp", signin::submit_code)
        .post("/signin/passkey/options", passkeys::sign_in_options)
        .post("/signin/passkey", passkeys::submit_sign_in)
        .get("/signin/{provider}", providers::start)
        .get("/signin/{provider}/callback", providers::callback)
        .get("/signup/provider", providers::show_signup)
        .post("/signup/provider", providers::submit_signup)
        .post("/signout", signin::sign_out)
        .get("/account", signin::account)
        .post("/account/passkeys/options", passkeys::registration_options)
        .post("/account/passkeys", passkeys::submit_registration)
        .post("/account/passkeys/{id}/rename", passkeys::rename)
        .post("/account/passkeys/{id}/remove", passkeys::remove)
        .get("/oauth/logout", logout::show)
        .post("/oauth/logout", logout::confirm)
        .merge(account::routes())
        .get("/assets/buddo.css", stylesheet)
        .get("/assets/passkey.js", passkeys::script)
        .pages()
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/buddo.css"),
    )
}

/// One visit of a page: the browser's cookies, its CSRF token, where it came from.
pub struct Visit {
    pub state: AppState,
    pub meta: RequestMeta,
    cookies: Vec<(String, String)>,
    /// The CSRF token of the browser (new when it had none: set with the answer).
    pub csrf: String,
    new_csrf: bool,
    /// The request came from this server's own pages (or says nothing of its origin).
    same_origin: bool,
    secure: bool,
}

impl<S> FromRequestParts<S> for Visit
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let meta = RequestMeta::from_request_parts(parts, state).await?;
        let state = AppState::from_ref(state);
        let secure = state.config.oauth.issuer.starts_with("https://");
        let cookies = read_cookies(&parts.headers);
        let existing = cookie_in(&cookies, &cookie_name(secure, CSRF_COOKIE))
            .filter(|v| v.len() == 43)
            .map(str::to_string);
        let new_csrf = existing.is_none();
        let same_origin = same_origin(&parts.headers, &state.config.oauth.issuer);
        Ok(Visit {
            csrf: existing.unwrap_or_else(random_token),
            new_csrf,
            cookies,
            same_origin,
            secure,
            meta,
            state,
        })
    }
}

fn read_cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn cookie_in<'a>(cookies: &'a [(String, String)], name: &str) -> Option<&'a str> {
    cookies
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `__Host-` cookies are only for https (RFC 6265bis §4.1.3.2): a plain-http local server
/// could not set them.
fn cookie_name(secure: bool, base: &str) -> String {
    if secure {
        format!("__Host-{base}")
    } else {
        base.to_string()
    }
}

/// A `Set-Cookie` value: never readable by script, not sent with other sites' POSTs, and on
/// https `Secure` with the `__Host-` prefix (this host only, every path).
fn set_cookie(secure: bool, base: &str, value: &str, max_age: Option<i64>) -> String {
    let mut cookie = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax",
        cookie_name(secure, base)
    );
    if secure {
        cookie.push_str("; Secure");
    }
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={age}"));
    }
    cookie
}

/// A form from another site is refused: the `Origin` (or `Sec-Fetch-Site`) must say it came
/// from these pages. Browsers send one of them on every POST.
fn same_origin(headers: &HeaderMap, issuer: &str) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site") {
        if !matches!(site, "same-origin" | "none") {
            return false;
        }
    }
    match header("origin") {
        None => true,
        Some(origin) => url::Url::parse(issuer)
            .map(|u| u.origin().ascii_serialization() == origin)
            .unwrap_or(false),
    }
}

impl Visit {
    pub fn cookie(&self, base: &str) -> Option<&str> {
        cookie_in(&self.cookies, &cookie_name(self.secure, base))
    }

    /// The signed-in user, while the browser's login session is live.
    pub async fn signed_in(&self) -> Result<Option<Authenticated>, Answer> {
        let Some(cookie) = self.cookie(SESSION_COOKIE) else {
            return Ok(None);
        };
        sessions::browser(&self.state, cookie)
            .await
            .map_err(|e| self.failed(e))
    }

    /// A posted form: its CSRF token must equal the browser's, from this server's origin.
    pub fn form<T: DeserializeOwned + HasCsrf>(&self, body: &Bytes) -> Result<T, Answer> {
        let form: T = serde_urlencoded::from_bytes(body).map_err(|_| {
            self.message(
                StatusCode::BAD_REQUEST,
                "Something is wrong",
                "The form could not be read.",
            )
        })?;
        let token_ok =
            !self.new_csrf && constant_time_eq(form.csrf_token().as_bytes(), self.csrf.as_bytes());
        if !token_ok || !self.same_origin {
            return Err(self.message(
                StatusCode::FORBIDDEN,
                "This form expired",
                "The form was not sent from this page, or it expired. Go back, reload the page and try again.",
            ));
        }
        Ok(form)
    }

    /// An answer that starts with this visit's cookies.
    pub fn answer(&self) -> Answer {
        let mut answer = Answer {
            status: StatusCode::OK,
            location: None,
            body: None,
            cookies: Vec::new(),
        };
        if self.new_csrf {
            answer = answer.cookie(self.set_cookie(CSRF_COOKIE, &self.csrf, None));
        }
        answer
    }

    pub fn set_cookie(&self, base: &str, value: &str, max_age: Option<i64>) -> String {
        set_cookie(self.secure, base, value, max_age)
    }

    pub fn clear_cookie(&self, base: &str) -> String {
        self.set_cookie(base, "", Some(0))
    }

    /// A page.
    pub fn page(&self, status: StatusCode, page: impl Template) -> Answer {
        match page.render() {
            Ok(html) => self.answer().status(status).html(html),
            Err(e) => self.failed(ApiError::internal(format!("rendering a page: {e}"))),
        }
    }

    /// A page of one message.
    pub fn message(&self, status: StatusCode, title: &str, text: &str) -> Answer {
        self.page(
            status,
            MessagePage {
                title,
                text,
                alert: status.is_client_error() || status.is_server_error(),
                link: None,
            },
        )
    }

    /// A page of one message and a link on.
    pub fn message_with_link(&self, title: &str, text: &str, href: &str, label: &str) -> Answer {
        self.page(
            StatusCode::OK,
            MessagePage {
                title,
                text,
                alert: false,
                link: Some((href, label)),
            },
        )
    }

    /// A form refused: the form again, with its status and `page` built from the error (a
    /// server failure gets the failure page instead).
    pub fn form_again<T: Template>(
        &self,
        error: ApiError,
        page: impl FnOnce(&ApiError) -> T,
    ) -> Answer {
        let status = error.status();
        if status.is_server_error() {
            return self.failed(error);
        }
        self.page(status, page(&error))
    }

    /// A failure no form can fix: its status, and no detail of the internals.
    pub fn failed(&self, error: ApiError) -> Answer {
        let status = error.status();
        if status.is_server_error() {
            tracing::error!(error = %error, "a hosted page failed");
            return self.message(
                status,
                "Something went wrong",
                "Buddo could not finish this. Try again in a moment.",
            );
        }
        let (_, text) = error.describe();
        self.message(status, "That did not work", &text)
    }

    /// `303 See Other` to `to`.
    pub fn redirect(&self, to: &str) -> Answer {
        let mut answer = self.answer().status(StatusCode::SEE_OTHER);
        answer.location = Some(to.to_string());
        answer
    }
}

/// A form with a CSRF token.
pub trait HasCsrf {
    fn csrf_token(&self) -> &str;
}

macro_rules! has_csrf {
    ($($form:ty),*) => {
        $(impl $crate::pages::HasCsrf for $form {
            fn csrf_token(&self) -> &str {
                &self.csrf_token
            }
        })*
    };
}
pub(crate) use has_csrf;

/// A page's answer: a status, a page or a redirect, and cookies to set.
pub struct Answer {
    status: StatusCode,
    location: Option<String>,
    body: Option<String>,
    cookies: Vec<String>,
}

impl Answer {
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn html(mut self, html: String) -> Self {
        self.body = Some(html);
        self
    }

    pub fn cookie(mut self, cookie: String) -> Self {
        self.cookies.push(cookie);
        self
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let mut response = match self.body {
            Some(html) => (
                self.status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                html,
            )
                .into_response(),
            None => self.status.into_response(),
        };
        let headers = response.headers_mut();
        if let Some(location) = self.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
            headers.insert(header::LOCATION, location);
        }
        for cookie in self.cookies {
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                headers.append(header::SET_COOKIE, value);
            }
        }
        response
    }
}

/// Either way, an answer.
pub type PageResult = Result<Answer, Answer>;

/// Collapses a page handler's two outcomes.
pub fn settle(result: PageResult) -> Answer {
    result.unwrap_or_else(|answer| answer)
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    text: &'a str,
    alert: bool,
    link: Option<(&'a str, &'a str)>,
}

/// Where a page may send the browser on: only back into an authorization request or to the
/// account page, never another site (no open redirect).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n.starts_with("/oauth/authorize?") || n == HOME)
                && !n.contains(['\\', '\r', '\n']) =>
        {
            n.to_string()
        }
        _ => HOME.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_these_pages() {
        assert_eq!(
            safe_next(Some("/oauth/authorize?client_id=x")),
            "/oauth/authorize?client_id=x"
        );
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/oauth/authorize\\@evil",
            "/admin",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), HOME, "{bad}");
        }
        assert_eq!(safe_next(None), HOME);
    }

    #[test]
    fn cookies_are_host_only_and_secure_on_https() {
        assert_eq!(
            set_cookie(true, SESSION_COOKIE, "v", Some(60)),
            "__Host-buddo_session=v; Path=/; HttpOnly; SameSite=Lax; Secure; Max-Age=60"
        );
        assert_eq!(
            set_cookie(false, CSRF_COOKIE, "v", None),
            "buddo_csrf=v; Path=/; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn origin_check() {
        let mut h = HeaderMap::new();
        assert!(same_origin(&h, "http://localhost:3000"));
        h.insert("origin", HeaderValue::from_static("http://localhost:3000"));
        assert!(same_origin(&h, "http://localhost:3000"));
        h.insert("origin", HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&h, "http://localhost:3000"));
        let mut h = HeaderMap::new();
        h.insert("sec-fetch-site", HeaderValue::from_static("cross-site"));
        assert!(!same_origin(&h, "http://localhost:3000"));
    }
}
