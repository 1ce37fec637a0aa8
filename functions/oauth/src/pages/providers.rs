//! Signing in with Google and GitHub on the hosted pages: the buttons of the configured
//! providers lead to `/signin/{provider}`, which sends the browser to the provider; the
//! provider sends it back to `/signin/{provider}/callback`. The same domain calls as the API's
//! (`identity::social`), with two additions a browser needs: the state is bound to the browser
//! that started the sign-in by a cookie (so nobody can sign a victim in to the attacker's
//! account by sending them a callback link), and a person with no account chooses a username
//! on `/signup/provider`.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use serde::Deserialize;

use buddo_shared::crypto::constant_time_eq;
use buddo_shared::domain::identity::accounts::BrowserSignIn;
use buddo_shared::domain::identity::social::{self, BrowserOutcome, Callback};
use buddo_shared::domain::input::{self, Username};
use buddo_shared::providers::ProviderName;
use buddo_shared::ApiError;

use super::signin::{percent, session_age, signin_again, NextQuery};
use super::{
    has_csrf, safe_next, settle, Answer, PageResult, Visit, DEVICE_COOKIE, PENDING_COOKIE,
    SESSION_COOKIE,
};

/// The sign-in sent to a provider from this browser: `<state>.<percent-encoded next>`.
const PROVIDER_COOKIE: &str = "buddo_provider";
/// A sign-up through a provider waiting for its username.
const SIGNUP_COOKIE: &str = "buddo_signup";
/// As long as the state and the sign-up token live.
const FLOW_SECONDS: i64 = 600;

/// The configured providers, as the sign-in page lists them.
pub fn buttons(visit: &Visit) -> Vec<(&'static str, &'static str)> {
    visit
        .state
        .providers
        .names()
        .into_iter()
        .map(|p| (p.as_str(), p.title()))
        .collect()
}

fn provider(visit: &Visit, name: &str) -> Result<ProviderName, Answer> {
    ProviderName::parse(name)
        .filter(|p| visit.state.providers.names().contains(p))
        .ok_or_else(|| {
            visit.message(
                StatusCode::NOT_FOUND,
                "Not available",
                "This way of signing in is not offered here.",
            )
        })
}

/// `GET /signin/{provider}`: off to the provider.
pub async fn start(visit: Visit, Path(name): Path<String>, Query(q): Query<NextQuery>) -> Answer {
    settle(starting(&visit, &name, q.next.as_deref()).await)
}

async fn starting(visit: &Visit, name: &str, next: Option<&str>) -> PageResult {
    let provider = provider(visit, name)?;
    let next = safe_next(next);
    let callback = social::page_callback(&visit.state, provider);
    let started = social::authorize(&visit.state, provider, &callback, &visit.meta)
        .await
        .map_err(|e| visit.failed(e))?;
    let bound = format!("{}.{}", started.state, percent(&next));
    Ok(visit.redirect(&started.url).cookie(visit.set_cookie(
        PROVIDER_COOKIE,
        &bound,
        Some(FLOW_SECONDS),
    )))
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    /// The provider's refusal (`access_denied` when the person said no).
    #[serde(default)]
    error: Option<String>,
}

/// `GET /signin/{provider}/callback`: back from the provider.
pub async fn callback(
    visit: Visit,
    Path(name): Path<String>,
    Query(q): Query<CallbackQuery>,
) -> Answer {
    settle(coming_back(&visit, &name, q).await)
}

async fn coming_back(visit: &Visit, name: &str, q: CallbackQuery) -> PageResult {
    let provider = provider(visit, name)?;
    // The state must be the one this browser was sent off with.
    let (bound_state, next) = visit
        .cookie(PROVIDER_COOKIE)
        .and_then(|c| c.split_once('.'))
        .map(|(s, n)| {
            let next: String = url::form_urlencoded::parse(format!("n={n}").as_bytes())
                .map(|(_, v)| v.into_owned())
                .next()
                .unwrap_or_default();
            (s.to_string(), safe_next(Some(&next)))
        })
        .unwrap_or_default();
    let clear = visit.clear_cookie(PROVIDER_COOKIE);
    let refused = |error: ApiError| {
        let next = if next.is_empty() {
            safe_next(None)
        } else {
            next.clone()
        };
        signin_again(visit, &next, error).cookie(clear.clone())
    };
    if let Some(error) = q.error {
        tracing::info!(provider = provider.as_str(), %error, "the provider sent no code");
        return Err(refused(ApiError::bad_request(
            "provider_refused",
            format!(
                "{} did not sign you in. Try again, or sign in with your password.",
                provider.title()
            ),
        )));
    }
    let state = q.state.unwrap_or_default();
    let same_browser =
        !bound_state.is_empty() && constant_time_eq(bound_state.as_bytes(), state.as_bytes());
    if !same_browser {
        return Err(refused(ApiError::bad_request(
            "invalid_state",
            "This sign-in was not started in this browser, or it took too long. Start again.",
        )));
    }
    let callback = Callback {
        code: q.code.unwrap_or_default(),
        state,
    };
    // A device this browser was trusted as stands in for the code, as after a password.
    let device = visit.cookie(DEVICE_COOKIE).map(str::to_string);
    let outcome = social::browser_sign_in(&visit.state, provider, &callback, device, &visit.meta)
        .await
        .map_err(refused)?;
    Ok(match outcome {
        BrowserOutcome::SignIn(BrowserSignIn::Done(cookie)) => visit
            .redirect(&next)
            .cookie(clear)
            .cookie(visit.set_cookie(SESSION_COOKIE, &cookie, Some(session_age(visit)))),
        BrowserOutcome::SignIn(BrowserSignIn::NeedsCode(pending)) => visit
            .redirect(&format!("/signin/totp?next={}", percent(&next)))
            .cookie(clear)
            .cookie(visit.set_cookie(PENDING_COOKIE, &pending, Some(300))),
        BrowserOutcome::SignupRequired(offer) => visit
            .redirect(&format!("/signup/provider?next={}", percent(&next)))
            .cookie(clear)
            .cookie(visit.set_cookie(SIGNUP_COOKIE, &offer.signup_token, Some(FLOW_SECONDS))),
    })
}

#[derive(Template)]
#[template(path = "signup_provider.html")]
struct ChooseUsernamePage<'a> {
    csrf: &'a str,
    next: &'a str,
    provider: &'a str,
    email: &'a str,
    username: &'a str,
    error: Option<String>,
}

/// `GET /signup/provider`: the username to finish a sign-up through a provider.
pub async fn show_signup(visit: Visit, Query(q): Query<NextQuery>) -> Answer {
    settle(signup_page(&visit, q.next.as_deref()).await)
}

async fn signup_page(visit: &Visit, next: Option<&str>) -> PageResult {
    let next = safe_next(next);
    let token = visit.cookie(SIGNUP_COOKIE).unwrap_or_default();
    let offer = social::signup_offer(&visit.state, token)
        .await
        .map_err(|e| signin_again(visit, &next, e))?;
    Ok(visit.page(
        StatusCode::OK,
        ChooseUsernamePage {
            csrf: &visit.csrf,
            next: &next,
            provider: offer.provider.title(),
            email: &offer.email,
            username: &offer.suggested_username,
            error: None,
        },
    ))
}

#[derive(Deserialize)]
pub struct ChooseUsernameForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    username: String,
    #[serde(default)]
    marketing_opt_in: Option<String>,
}

has_csrf!(ChooseUsernameForm);

/// `POST /signup/provider`: creates the account and signs the browser in.
pub async fn submit_signup(visit: Visit, body: Bytes) -> Answer {
    settle(signing_up(&visit, &body).await)
}

async fn signing_up(visit: &Visit, body: &Bytes) -> PageResult {
    let form: ChooseUsernameForm = visit.form(body)?;
    let next = safe_next(form.next.as_deref());
    let token = visit.cookie(SIGNUP_COOKIE).unwrap_or_default().to_string();
    let offer = social::signup_offer(&visit.state, &token)
        .await
        .map_err(|e| signin_again(visit, &next, e))?;
    let again = |error: ApiError| {
        visit.form_again(error, |error| ChooseUsernamePage {
            csrf: &visit.csrf,
            next: &next,
            provider: offer.provider.title(),
            email: &offer.email,
            username: &form.username,
            error: Some(error.describe().1),
        })
    };
    let token = input::token("signup_token", &token).map_err(again)?;
    let username = Username::parse(&form.username).map_err(again)?;
    let opt_in = form.marketing_opt_in.as_deref() == Some("true");
    let cookie =
        social::complete_browser_signup(&visit.state, &token, &username, opt_in, &visit.meta)
            .await
            .map_err(again)?;
    Ok(visit
        .redirect(&next)
        .cookie(visit.clear_cookie(SIGNUP_COOKIE))
        .cookie(visit.set_cookie(SESSION_COOKIE, &cookie, Some(session_age(visit)))))
}
