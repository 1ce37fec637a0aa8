//! Sign-in (password, then a TOTP or recovery code when the account has one, unless the
//! browser is a trusted device), sign-out and the signed-in account page. The limits and
//! lockouts are the API's: the same domain calls.

use askama::Template;
use axum::body::Bytes;
use axum::extract::Query;
use axum::http::StatusCode;
use serde::Deserialize;

use buddo_shared::domain::identity::accounts::{self, BrowserSignIn};
use buddo_shared::domain::identity::passkeys;
use buddo_shared::domain::identity::sessions::{self, Authenticated};
use buddo_shared::domain::input::{Email, OtpCode};
use buddo_shared::ApiError;

use super::providers::buttons;
use super::{
    has_csrf, safe_next, settle, Answer, PageResult, Visit, DEVICE_COOKIE, PENDING_COOKIE,
    SESSION_COOKIE,
};

#[derive(Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    pub(super) next: Option<String>,
    #[serde(default)]
    login_hint: Option<String>,
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage<'a> {
    csrf: &'a str,
    next: &'a str,
    email: &'a str,
    error: Option<String>,
    /// The configured sign-in providers: (path name, title).
    providers: Vec<(&'static str, &'static str)>,
}

#[derive(Template)]
#[template(path = "totp.html")]
struct CodePage<'a> {
    csrf: &'a str,
    next: &'a str,
    error: Option<String>,
    /// How long "remember this device" trusts the browser.
    remember_days: u64,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage<'a> {
    csrf: &'a str,
    username: &'a str,
    email: &'a str,
    /// The account's passkeys: id and name.
    passkeys: Vec<(String, String)>,
}

/// The seconds a session cookie lives: as long as its login session.
pub(super) fn session_age(visit: &Visit) -> i64 {
    visit.state.config.refresh_ttl.as_secs() as i64
}

/// The seconds a trusted device's cookie lives: as long as the device is trusted.
fn device_age(visit: &Visit) -> i64 {
    visit.state.config.trusted_device_ttl.as_secs() as i64
}

fn remember_days(visit: &Visit) -> u64 {
    visit.state.config.trusted_device_ttl.as_secs() / (24 * 3600)
}

/// `GET /signin`: the form (the email filled from `login_hint`).
pub async fn show(visit: Visit, Query(q): Query<NextQuery>) -> Answer {
    let next = safe_next(q.next.as_deref());
    let email = q.login_hint.unwrap_or_default();
    visit.page(
        StatusCode::OK,
        SignInPage {
            csrf: &visit.csrf,
            next: &next,
            email: email.get(..254).unwrap_or(&email),
            error: None,
            providers: buttons(&visit),
        },
    )
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    code: String,
    /// The "remember this device" box: sent only when ticked.
    #[serde(default)]
    remember_device: Option<String>,
}

#[derive(Deserialize)]
pub struct SignOutForm {
    #[serde(default)]
    csrf_token: String,
}

has_csrf!(SignInForm, CodeForm, SignOutForm);

/// `POST /signin`: the password step.
pub async fn submit(visit: Visit, body: Bytes) -> Answer {
    settle(sign_in(&visit, &body).await)
}

async fn sign_in(visit: &Visit, body: &Bytes) -> PageResult {
    let form: SignInForm = visit.form(body)?;
    let next = safe_next(form.next.as_deref());
    let again = |error: ApiError| {
        visit.form_again(error, |error| SignInPage {
            csrf: &visit.csrf,
            next: &next,
            email: &form.email,
            error: Some(error.describe().1),
            providers: buttons(visit),
        })
    };
    let email = Email::parse("email", &form.email).map_err(again)?;
    let device = visit.cookie(DEVICE_COOKIE).map(str::to_string);
    let step = accounts::browser_sign_in(&visit.state, &email, form.password, device, &visit.meta)
        .await
        .map_err(again)?;
    Ok(match step {
        BrowserSignIn::Done(cookie) => visit.redirect(&next).cookie(visit.set_cookie(
            SESSION_COOKIE,
            &cookie,
            Some(session_age(visit)),
        )),
        BrowserSignIn::NeedsCode(pending) => visit
            .redirect(&format!("/signin/totp?next={}", percent(&next)))
            .cookie(visit.set_cookie(PENDING_COOKIE, &pending, Some(300))),
    })
}

/// The sign-in page again, saying why the last attempt did not work (with its status).
pub(super) fn signin_again(visit: &Visit, next: &str, error: ApiError) -> Answer {
    visit.form_again(error, |error| SignInPage {
        csrf: &visit.csrf,
        next,
        email: "",
        error: Some(error.describe().1),
        providers: buttons(visit),
    })
}

pub fn percent(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// `GET /signin/totp`: the code step.
pub async fn show_code(visit: Visit, Query(q): Query<NextQuery>) -> Answer {
    let next = safe_next(q.next.as_deref());
    if visit.cookie(PENDING_COOKIE).is_none() {
        return visit.redirect(&format!("/signin?next={}", percent(&next)));
    }
    visit.page(
        StatusCode::OK,
        CodePage {
            csrf: &visit.csrf,
            next: &next,
            error: None,
            remember_days: remember_days(&visit),
        },
    )
}

/// `POST /signin/totp`.
pub async fn submit_code(visit: Visit, body: Bytes) -> Answer {
    settle(sign_in_code(&visit, &body).await)
}

async fn sign_in_code(visit: &Visit, body: &Bytes) -> PageResult {
    let form: CodeForm = visit.form(body)?;
    let next = safe_next(form.next.as_deref());
    let again = |error: ApiError| {
        visit.form_again(error, |error| CodePage {
            csrf: &visit.csrf,
            next: &next,
            error: Some(error.describe().1),
            remember_days: remember_days(visit),
        })
    };
    let Some(pending) = visit.cookie(PENDING_COOKIE) else {
        return Ok(visit.redirect(&format!("/signin?next={}", percent(&next))));
    };
    let code = OtpCode::parse("code", &form.code).map_err(again)?;
    let remember = form.remember_device.is_some_and(|v| !v.is_empty());
    let (cookie, device) =
        accounts::browser_sign_in_code(&visit.state, pending, &code, remember, &visit.meta)
            .await
            .map_err(again)?;
    let mut answer = visit
        .redirect(&next)
        .cookie(visit.clear_cookie(PENDING_COOKIE))
        .cookie(visit.set_cookie(SESSION_COOKIE, &cookie, Some(session_age(visit))));
    if let Some(device) = device {
        answer =
            answer.cookie(visit.set_cookie(DEVICE_COOKIE, &device.token, Some(device_age(visit))));
    }
    Ok(answer)
}

/// `POST /signout`: ends the browser's login session.
pub async fn sign_out(visit: Visit, body: Bytes) -> Answer {
    settle(signing_out(&visit, &body).await)
}

async fn signing_out(visit: &Visit, body: &Bytes) -> PageResult {
    let _: SignOutForm = visit.form(body)?;
    end_session(visit).await?;
    Ok(visit
        .message_with_link(
            "Signed out",
            "You are signed out of Buddo.",
            "/signin",
            "Sign in",
        )
        .cookie(visit.clear_cookie(SESSION_COOKIE)))
}

/// Ends the browser's session, if it has one.
pub async fn end_session(visit: &Visit) -> Result<(), Answer> {
    if let Some(cookie) = visit.cookie(SESSION_COOKIE) {
        sessions::end_browser(&visit.state, cookie)
            .await
            .map_err(|e| visit.failed(e))?;
    }
    Ok(())
}

/// `GET /account`: who is signed in, and signing out.
pub async fn account(visit: Visit) -> Answer {
    settle(account_page(&visit).await)
}

/// Who the account page (and each of its forms) is for; a browser not signed in is sent to
/// sign in first, and back to the page after.
pub(super) async fn account_owner(visit: &Visit) -> Result<Authenticated, Answer> {
    visit
        .signed_in()
        .await?
        .ok_or_else(|| visit.redirect("/signin?next=%2Faccount"))
}

async fn account_page(visit: &Visit) -> PageResult {
    let auth = account_owner(visit).await?;
    let passkeys = passkeys::list(&visit.state, &auth.user.id)
        .await
        .map_err(|e| visit.failed(e))?;
    Ok(visit.page(
        StatusCode::OK,
        AccountPage {
            csrf: &visit.csrf,
            username: &auth.user.username,
            email: &auth.user.email,
            passkeys: passkeys.into_iter().map(|p| (p.id, p.name)).collect(),
        },
    ))
}
