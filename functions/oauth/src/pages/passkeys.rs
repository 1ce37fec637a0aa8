//! Passkeys on the hosted pages: "Sign in with a passkey" on `/signin` and "Add a passkey" on
//! `/account`, through the one script of the pages (`/assets/passkey.js`); renaming and
//! removing one there are plain forms. Each ceremony is a
//! challenge the script fetches (a form post with the page's CSRF token, answered in JSON) and
//! the authenticator's answer, posted with the page's form. The rules are the API's
//! (`domain::identity::passkeys`).

use axum::body::Bytes;
use axum::extract::Path;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use buddo_shared::domain::identity::passkeys::{self, Options};
use buddo_shared::ApiError;

use super::signin::{account_owner, session_age, signin_again};
use super::{has_csrf, safe_next, settle, Answer, PageResult, Visit, SESSION_COOKIE};

/// `GET /assets/passkey.js`.
pub async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../assets/passkey.js"),
    )
}

#[derive(Deserialize)]
pub struct OptionsForm {
    #[serde(default)]
    csrf_token: String,
}

#[derive(Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    challenge_id: String,
    #[serde(default)]
    credential: String,
}

#[derive(Deserialize)]
pub struct RenameForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    name: String,
}

has_csrf!(OptionsForm, AnswerForm, RenameForm);

/// A challenge for the script.
#[derive(Serialize)]
struct Challenge {
    challenge_id: String,
    options: Value,
}

fn challenge(options: Options) -> Response {
    axum::Json(Challenge {
        challenge_id: options.challenge_id,
        options: options.public_key,
    })
    .into_response()
}

/// The authenticator's answer as posted.
fn parsed<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, ApiError> {
    serde_json::from_str(raw)
        .map_err(|_| ApiError::field("credential", "is not an answer of an authenticator"))
}

/// `POST /signin/passkey/options`: a sign-in challenge (JSON).
pub async fn sign_in_options(visit: Visit, body: Bytes) -> Response {
    if let Err(answer) = visit.form::<OptionsForm>(&body) {
        return answer.into_response();
    }
    match passkeys::start_sign_in(&visit.state, &visit.meta).await {
        Ok(options) => challenge(options),
        Err(e) => e.into_response(),
    }
}

/// `POST /signin/passkey`: the answer; signed in, the browser goes on to `next`.
pub async fn submit_sign_in(visit: Visit, body: Bytes) -> Answer {
    settle(sign_in(&visit, &body).await)
}

async fn sign_in(visit: &Visit, body: &Bytes) -> PageResult {
    let form: AnswerForm = visit.form(body)?;
    let next = safe_next(form.next.as_deref());
    let again = |error: ApiError| signin_again(visit, &next, error);
    let answer = parsed(&form.credential).map_err(again)?;
    let cookie = passkeys::sign_in_browser(&visit.state, &form.challenge_id, &answer, &visit.meta)
        .await
        .map_err(again)?;
    Ok(visit.redirect(&next).cookie(visit.set_cookie(
        SESSION_COOKIE,
        &cookie,
        Some(session_age(visit)),
    )))
}

/// `POST /account/passkeys/options`: a registration challenge for the signed-in browser
/// (JSON; a recent sign-in is needed, as in the API).
pub async fn registration_options(visit: Visit, body: Bytes) -> Response {
    if let Err(answer) = visit.form::<OptionsForm>(&body) {
        return answer.into_response();
    }
    let auth = match visit.signed_in().await {
        Ok(Some(auth)) => auth,
        Ok(None) => return ApiError::invalid_token().into_response(),
        Err(answer) => return answer.into_response(),
    };
    match passkeys::start_registration(&visit.state, &auth).await {
        Ok(options) => challenge(options),
        Err(e) => e.into_response(),
    }
}

/// `POST /account/passkeys`: the authenticator's answer; the account page again.
pub async fn submit_registration(visit: Visit, body: Bytes) -> Answer {
    settle(register(&visit, &body).await)
}

async fn register(visit: &Visit, body: &Bytes) -> PageResult {
    let form: AnswerForm = visit.form(body)?;
    let auth = account_owner(visit).await?;
    let answer = parsed(&form.credential).map_err(|e| visit.failed(e))?;
    passkeys::finish_registration(
        &visit.state,
        &auth,
        &form.challenge_id,
        None,
        &answer,
        &visit.meta,
    )
    .await
    .map_err(|e| visit.failed(e))?;
    Ok(visit.redirect("/account"))
}

/// `POST /account/passkeys/{id}/rename`: a new name; the account page again.
pub async fn rename(visit: Visit, Path(id): Path<String>, body: Bytes) -> Answer {
    settle(renamed(&visit, &id, &body).await)
}

async fn renamed(visit: &Visit, id: &str, body: &Bytes) -> PageResult {
    let form: RenameForm = visit.form(body)?;
    let auth = account_owner(visit).await?;
    passkeys::rename(&visit.state, &auth.user, id, &form.name)
        .await
        .map_err(|e| visit.failed(e))?;
    Ok(visit.redirect("/account"))
}

/// `POST /account/passkeys/{id}/remove`: it signs in no more; the account page again.
pub async fn remove(visit: Visit, Path(id): Path<String>, body: Bytes) -> Answer {
    settle(removed(&visit, &id, &body).await)
}

async fn removed(visit: &Visit, id: &str, body: &Bytes) -> PageResult {
    let _: OptionsForm = visit.form(body)?;
    let auth = account_owner(visit).await?;
    passkeys::remove(&visit.state, &auth.user, id, &visit.meta)
        .await
        .map_err(|e| visit.failed(e))?;
    Ok(visit.redirect("/account"))
}
