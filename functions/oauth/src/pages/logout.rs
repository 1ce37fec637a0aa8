//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): `/oauth/logout` ends the
//! browser's session, then goes to a `post_logout_redirect_uri` the app registered, or shows
//! a page. A request without a valid `id_token_hint` is confirmed by the user first, so no
//! other site can sign anyone out by a link alone.

use askama::Template;
use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::http::StatusCode;
use serde::Deserialize;

use buddo_shared::domain::oauth::openid;

use super::signin::end_session;
use super::{has_csrf, settle, Answer, PageResult, Visit, SESSION_COOKIE};

#[derive(Default, Deserialize)]
pub struct LogoutRequest {
    #[serde(default)]
    id_token_hint: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    post_logout_redirect_uri: Option<String>,
    #[serde(default)]
    state: Option<String>,
}

#[derive(Deserialize)]
pub struct ConfirmedLogout {
    #[serde(default)]
    csrf_token: String,
    #[serde(flatten)]
    request: LogoutRequest,
}

has_csrf!(ConfirmedLogout);

#[derive(Template)]
#[template(path = "logout.html")]
struct ConfirmPage<'a> {
    csrf: &'a str,
    fields: Vec<(&'static str, String)>,
}

/// `GET /oauth/logout`.
pub async fn show(visit: Visit, RawQuery(query): RawQuery) -> Answer {
    let request: LogoutRequest =
        serde_urlencoded::from_str(&query.unwrap_or_default()).unwrap_or_default();
    settle(logging_out(&visit, request, false).await)
}

/// `POST /oauth/logout`: the user confirmed.
pub async fn confirm(visit: Visit, body: Bytes) -> Answer {
    settle(confirmed(&visit, &body).await)
}

async fn confirmed(visit: &Visit, body: &Bytes) -> PageResult {
    let form: ConfirmedLogout = visit.form(body)?;
    logging_out(visit, form.request, true).await
}

async fn logging_out(visit: &Visit, request: LogoutRequest, confirmed: bool) -> PageResult {
    let checked = openid::logout(
        &visit.state,
        request.id_token_hint.as_deref(),
        request.client_id.as_deref(),
        request.post_logout_redirect_uri.as_deref(),
        request.state.as_deref(),
    )
    .await
    .map_err(|e| visit.failed(e))?;
    let hinted = request
        .id_token_hint
        .as_deref()
        .is_some_and(|h| !h.is_empty());
    if !confirmed && !hinted && visit.cookie(SESSION_COOKIE).is_some() {
        let fields = [
            ("client_id", request.client_id),
            ("post_logout_redirect_uri", request.post_logout_redirect_uri),
            ("state", request.state),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
        return Ok(visit.page(
            StatusCode::OK,
            ConfirmPage {
                csrf: &visit.csrf,
                fields,
            },
        ));
    }
    end_session(visit).await?;
    let answer = match checked.redirect {
        Some(to) => visit.redirect(&to),
        None => visit.message_with_link(
            "Signed out",
            "You are signed out of Buddo.",
            "/signin",
            "Sign in",
        ),
    };
    Ok(answer.cookie(visit.clear_cookie(SESSION_COOKIE)))
}
