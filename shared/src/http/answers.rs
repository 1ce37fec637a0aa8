//! Answers shared by the groups: a plain acknowledgement, the OAuth endpoints' errors, and
//! responses never to be cached.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::openapi::Message;
use super::Json;
use crate::domain::oauth::OAuthError;

/// `{"message": text}`.
pub fn message(text: impl Into<String>) -> Json<Message> {
    Json(Message {
        message: text.into(),
    })
}

/// RFC 6749 errors in their own shape (RFC 6749 §5.2); any other failure in its usual one.
impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        self.into_api().into_response()
    }
}

/// RFC 6749 §5.1: token responses are never cached, by any cache (`Pragma` for HTTP/1.0
/// ones). Every answer says `no-store` already (see [`super::finish`]); these routes say it
/// whatever the handler set.
pub(super) async fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// What every hosted page says about itself: never framed (clickjacking), never cached, no
/// script, styles and forms only from this server, images from https.
pub(super) async fn page_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' https: data:; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        // Not `no-referrer`: with it browsers send `Origin: null` on the pages' own forms.
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
