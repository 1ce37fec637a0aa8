//! `GET /oauth/authorize`, the authorization endpoint for browsers (RFC 6749 §4.1.1, OpenID
//! Connect Core §3.1.2), and `POST /oauth/authorize`, the user's decision on the consent page.
//!
//! The request is checked as the JSON endpoint checks it. An unknown client or redirect URI
//! gets an error page; every other refusal goes back to the app with `error`, `state` and
//! `iss` (RFC 9207). A browser not signed in goes to the sign-in page and comes back here.

use askama::Template;
use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use serde::Deserialize;

use buddo_shared::domain::identity::sessions::Authenticated;
use buddo_shared::domain::oauth::authorize::{
    self, AuthorizationRequest, Checked, CheckedRequest, Refusal,
};
use buddo_shared::ApiError;

use super::signin::percent;
use super::{has_csrf, settle, Answer, PageResult, Visit};

/// A sign-in this recent satisfies the `prompt=login` that sent the browser to sign in.
const FRESH_SIGN_IN_SECONDS: i64 = 600;

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    csrf: &'a str,
    app_name: &'a str,
    app_description: Option<&'a str>,
    logo_url: Option<&'a str>,
    website_url: Option<&'a str>,
    reviewed: bool,
    username: &'a str,
    scopes: Vec<&'static str>,
    redirect_host: String,
    fields: Vec<(&'static str, String)>,
}

/// `GET /oauth/authorize`.
pub async fn show(visit: Visit, RawQuery(query): RawQuery) -> Answer {
    let query = query.unwrap_or_default();
    let fresh =
        url::form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k == "fresh" && v == "1");
    let request = match serde_urlencoded::from_str::<AuthorizationRequest>(&query) {
        Ok(request) => request,
        Err(_) => {
            return visit.message(
                StatusCode::BAD_REQUEST,
                "This sign-in link is broken",
                "The authorization request could not be read.",
            )
        }
    };
    settle(proceed(&visit, request, None, fresh).await)
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    decision: String,
    #[serde(flatten)]
    request: AuthorizationRequest,
}

has_csrf!(DecisionForm);

/// `POST /oauth/authorize`: Allow or Deny on the consent page.
pub async fn decide(visit: Visit, body: Bytes) -> Answer {
    settle(deciding(&visit, &body).await)
}

async fn deciding(visit: &Visit, body: &Bytes) -> PageResult {
    let form: DecisionForm = visit.form(body)?;
    let allow = match form.decision.as_str() {
        "allow" => true,
        "deny" => false,
        _ => {
            return Err(visit.message(
                StatusCode::BAD_REQUEST,
                "Something is wrong",
                "Choose Allow or Deny.",
            ))
        }
    };
    proceed(visit, form.request, Some(allow), false).await
}

/// Everything after the request is read: check it, see the user signed in, ask (or not), and
/// answer the app.
async fn proceed(
    visit: &Visit,
    request: AuthorizationRequest,
    decision: Option<bool>,
    fresh: bool,
) -> PageResult {
    let state = &visit.state;
    let mut checked = authorize::check(state, request)
        .await
        .map_err(|r| refused(visit, r))?;
    let auth = visit.signed_in().await?;
    if fresh
        && auth
            .as_ref()
            .is_some_and(|a| state.now_unix() - a.session.auth_time < FRESH_SIGN_IN_SECONDS)
    {
        checked.request.prompt.login = false;
    }
    let Some(auth) = auth.filter(|a| !authorize::needs_sign_in(state, &checked.request, Some(a)))
    else {
        if checked.request.prompt.none {
            return Err(to_app(
                visit,
                &checked.request,
                error("login_required", "The user is not signed in"),
            ));
        }
        return Ok(to_sign_in(visit, &checked.request));
    };
    authorize::may_authorize(&checked.app, &auth.user)
        .map_err(|e| to_app(visit, &checked.request, e))?;
    match decision {
        Some(false) => {
            return Err(to_app(
                visit,
                &checked.request,
                error("access_denied", "The user denied the request"),
            ))
        }
        Some(true) => {}
        None => {
            let ask = authorize::needs_consent(state, &auth.user, &checked)
                .await
                .map_err(|e| visit.failed(e))?;
            if ask && checked.request.prompt.none {
                return Err(to_app(
                    visit,
                    &checked.request,
                    error("consent_required", "The user has not granted these scopes"),
                ));
            }
            if ask {
                return Ok(consent_page(visit, &auth, &checked));
            }
        }
    }
    let request = checked.request.clone();
    let granted = authorize::issue(state, &auth, checked, &visit.meta)
        .await
        .map_err(|e| match e.status() {
            s if s.is_client_error() => to_app(visit, &request, e),
            _ => visit.failed(e),
        })?;
    let mut params = vec![("code", granted.code)];
    params.extend(granted.state.map(|s| ("state", s)));
    params.push(("iss", granted.iss));
    Ok(visit.redirect(&with_params(&granted.redirect_uri, &params)))
}

fn error(code: &'static str, message: &'static str) -> ApiError {
    ApiError::bad_request(code, message)
}

fn refused(visit: &Visit, refusal: Refusal) -> Answer {
    match refusal {
        Refusal::Shown(error) if error.status().is_server_error() => visit.failed(error),
        Refusal::Shown(error) => visit.message(
            StatusCode::BAD_REQUEST,
            "This app's sign-in link is not valid",
            &error.describe().1,
        ),
        Refusal::Redirected {
            error,
            redirect_uri,
            state,
        } => redirect_error(visit, &redirect_uri, state.as_deref(), &error),
    }
}

/// The app hears of a refusal at its redirect URI.
fn to_app(visit: &Visit, request: &CheckedRequest, error: ApiError) -> Answer {
    redirect_error(
        visit,
        &request.redirect_uri,
        request.state.as_deref(),
        &error,
    )
}

fn redirect_error(
    visit: &Visit,
    redirect_uri: &str,
    state: Option<&str>,
    error: &ApiError,
) -> Answer {
    let mut params = vec![
        ("error", Refusal::oauth_code(error).to_string()),
        ("error_description", error.describe().1),
    ];
    params.extend(state.map(|s| ("state", s.to_string())));
    params.push(("iss", visit.state.config.oauth.issuer.clone()));
    visit.redirect(&with_params(redirect_uri, &params))
}

/// `uri` with `params` added to its query (a registered URI may have one already).
fn with_params(uri: &str, params: &[(&str, String)]) -> String {
    match url::Url::parse(uri) {
        Ok(mut url) => {
            url.query_pairs_mut()
                .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
            url.to_string()
        }
        Err(_) => uri.to_string(),
    }
}

/// The request's parameters as the consent form sends them back.
fn fields(request: &CheckedRequest) -> Vec<(&'static str, String)> {
    let mut fields = vec![("client_id", request.client_id.clone())];
    if let Some(uri) = &request.request_uri {
        fields.push(("request_uri", uri.clone()));
        return fields;
    }
    fields.extend([
        ("response_type", "code".to_string()),
        ("redirect_uri", request.redirect_uri.clone()),
        ("scope", request.scopes.to_param()),
        ("code_challenge", request.code_challenge.clone()),
        ("code_challenge_method", "S256".to_string()),
    ]);
    fields.extend(request.state.clone().map(|s| ("state", s)));
    fields.extend(request.nonce.clone().map(|n| ("nonce", n)));
    fields.extend(request.max_age.map(|m| ("max_age", m.to_string())));
    fields
}

/// To the sign-in page, and back here after; `fresh` marks that the sign-in `prompt=login`
/// asked for happened.
fn to_sign_in(visit: &Visit, request: &CheckedRequest) -> Answer {
    let mut query: Vec<(&str, String)> = fields(request);
    if request.request_uri.is_none() {
        let prompt = [
            ("login", request.prompt.login),
            ("consent", request.prompt.consent),
        ];
        let prompt: Vec<&str> = prompt
            .iter()
            .filter(|(_, on)| *on)
            .map(|(p, _)| *p)
            .collect();
        if !prompt.is_empty() {
            query.push(("prompt", prompt.join(" ")));
        }
    }
    if request.prompt.login {
        query.push(("fresh", "1".into()));
    }
    let back = format!(
        "/oauth/authorize?{}",
        serde_urlencoded::to_string(&query).unwrap_or_default()
    );
    let mut to = format!("/signin?next={}", percent(&back));
    if let Some(hint) = &request.login_hint {
        to.push_str(&format!("&login_hint={}", percent(hint)));
    }
    visit.redirect(&to)
}

fn consent_page(visit: &Visit, auth: &Authenticated, checked: &Checked) -> Answer {
    let app = &checked.app;
    let redirect_host = url::Url::parse(&checked.request.redirect_uri)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    visit.page(
        StatusCode::OK,
        ConsentPage {
            csrf: &visit.csrf,
            app_name: &app.shown.app_name,
            app_description: app.shown.app_description.as_deref(),
            logo_url: app.shown.logo_url.as_deref(),
            website_url: app.shown.website_url.as_deref(),
            reviewed: app.is_approved,
            username: &auth.user.username,
            scopes: checked
                .request
                .scopes
                .iter()
                .map(|s| s.description())
                .collect(),
            redirect_host,
            fields: fields(&checked.request),
        },
    )
}
