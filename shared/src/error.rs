//! The one error type of every endpoint and its JSON shape (docs/architecture.md, "Errors"):
//! `{"error": "<snake_case_code>", "message": "<human text>"}` plus documented extras.

use std::borrow::Cow;
use std::collections::BTreeMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::store::{Key, StoreError};

pub type Msg = Cow<'static, str>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: Msg },
    /// 400 `validation_failed` with a reason per field.
    #[error("validation failed")]
    Validation(BTreeMap<Msg, Msg>),
    #[error("{message}")]
    Unauthorized { code: &'static str, message: Msg },
    /// 401 with `totp_required: true`: the password was right, a TOTP code is needed.
    #[error("TOTP code required")]
    TotpRequired,
    #[error("{message}")]
    Forbidden { code: &'static str, message: Msg },
    #[error("{message}")]
    NotFound { code: &'static str, message: Msg },
    #[error("{message}")]
    Conflict { code: &'static str, message: Msg },
    #[error("{message}")]
    Status {
        status: StatusCode,
        code: &'static str,
        message: Msg,
    },
    #[error("too many requests")]
    TooManyRequests { retry_after: u64 },
    /// 409 with `Retry-After`: the same request is still being processed.
    #[error("{message}")]
    Busy {
        code: &'static str,
        message: Msg,
        retry_after: u64,
    },
    /// 403: the access token lacks this scope (RFC 6750 §3.1), with a `WWW-Authenticate`
    /// challenge naming it.
    #[error("insufficient scope")]
    InsufficientScope { scope: &'static str },
    /// An error of the OAuth token and revocation endpoints, in the shape of RFC 6749 §5.2:
    /// `{"error": "<code>", "error_description": "…"}`; 401 with a Basic challenge for
    /// `invalid_client`, else 400.
    #[error("{description}")]
    OAuth {
        code: &'static str,
        description: Msg,
    },
    /// 429 at the token and revocation endpoints, in the RFC 6749 §5.2 shape, with
    /// `Retry-After`.
    #[error("too many requests")]
    OAuthRateLimited { retry_after: u64 },
    /// A store failure nobody turned into a rule of the domain (see [`OnCondition`]).
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<Msg>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }
    pub fn unauthorized(code: &'static str, message: impl Into<Msg>) -> Self {
        ApiError::Unauthorized {
            code,
            message: message.into(),
        }
    }
    pub fn forbidden(code: &'static str, message: impl Into<Msg>) -> Self {
        ApiError::Forbidden {
            code,
            message: message.into(),
        }
    }
    pub fn not_found(code: &'static str, message: impl Into<Msg>) -> Self {
        ApiError::NotFound {
            code,
            message: message.into(),
        }
    }
    pub fn conflict(code: &'static str, message: impl Into<Msg>) -> Self {
        ApiError::Conflict {
            code,
            message: message.into(),
        }
    }
    /// 422: well-formed, but it contradicts what was sent before.
    pub fn unprocessable(code: &'static str, message: impl Into<Msg>) -> Self {
        ApiError::Status {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code,
            message: message.into(),
        }
    }
    /// 503 `service_unavailable`: a dependency (other than the table) does not answer.
    pub fn unavailable(message: impl Into<Msg>) -> Self {
        ApiError::Status {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "service_unavailable",
            message: message.into(),
        }
    }
    /// 402: the user's points do not cover what they asked for.
    pub fn payment_required(code: &'static str, message: impl Into<Msg>) -> Self {
        ApiError::Status {
            status: StatusCode::PAYMENT_REQUIRED,
            code,
            message: message.into(),
        }
    }
    pub fn field(name: impl Into<Msg>, reason: impl Into<Msg>) -> Self {
        ApiError::Validation(BTreeMap::from([(name.into(), reason.into())]))
    }
    /// The bearer token is missing, malformed, expired or revoked.
    pub fn invalid_token() -> Self {
        ApiError::unauthorized("invalid_token", "Missing, invalid or expired access token")
    }
    pub fn internal(message: impl std::fmt::Display) -> Self {
        ApiError::Internal(anyhow::anyhow!("{message}"))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } | ApiError::Validation(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized { .. } | ApiError::TotpRequired => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } | ApiError::InsufficientScope { .. } => {
                StatusCode::FORBIDDEN
            }
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } | ApiError::Busy { .. } => StatusCode::CONFLICT,
            ApiError::Status { status, .. } => *status,
            ApiError::TooManyRequests { .. } | ApiError::OAuthRateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::OAuth { code, .. } if *code == "invalid_client" => StatusCode::UNAUTHORIZED,
            ApiError::OAuth { .. } => StatusCode::BAD_REQUEST,
            ApiError::Store(StoreError::ConditionFailed { .. } | StoreError::Conflict) => {
                StatusCode::CONFLICT
            }
            ApiError::Store(StoreError::Unavailable(_) | StoreError::OutcomeUnknown(_)) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Store(_) | ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error's code and a sentence for a person (a page shows it): a validation error
    /// names each field's reason.
    pub fn describe(&self) -> (&str, String) {
        match self {
            ApiError::OAuth { code, description } => (code, description.to_string()),
            ApiError::Validation(fields) => (
                "validation_failed",
                fields
                    .iter()
                    .map(|(field, reason)| format!("{}: {reason}", field.replace('_', " ")))
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            ApiError::TooManyRequests { .. } | ApiError::OAuthRateLimited { .. } => (
                "rate_limited",
                "Too many attempts; wait a while and try again".into(),
            ),
            _ => {
                let (code, message, _) = self.parts();
                (code, message.into_owned())
            }
        }
    }

    fn body(&self) -> Value {
        match self {
            ApiError::OAuth { code, description } => {
                return json!({ "error": code, "error_description": description });
            }
            ApiError::OAuthRateLimited { retry_after } => {
                return json!({
                    "error": "rate_limited",
                    "error_description": "Too many requests; try again later",
                    "retry_after": retry_after,
                });
            }
            _ => {}
        }
        let (code, message, extra) = self.parts();
        let mut body = json!({ "error": code, "message": message });
        if let Some((name, value)) = extra {
            body[name] = value;
        }
        body
    }

    /// The error body's code and message (docs/architecture.md, "Errors"), and the one field
    /// some errors add.
    fn parts(&self) -> (&str, Cow<'_, str>, Option<(&'static str, Value)>) {
        match self {
            ApiError::BadRequest { code, message }
            | ApiError::Unauthorized { code, message }
            | ApiError::Forbidden { code, message }
            | ApiError::NotFound { code, message }
            | ApiError::Conflict { code, message }
            | ApiError::Status { code, message, .. } => (code, message.clone(), None),
            ApiError::Validation(fields) => (
                "validation_failed",
                "One or more fields are invalid".into(),
                Some((
                    "fields",
                    Value::Object(
                        fields
                            .iter()
                            .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                            .collect::<Map<_, _>>(),
                    ),
                )),
            ),
            ApiError::TotpRequired => (
                "totp_required",
                "A TOTP code is required for this account".into(),
                Some(("totp_required", Value::Bool(true))),
            ),
            ApiError::InsufficientScope { scope } => (
                "insufficient_scope",
                format!("This access token lacks the {scope} scope").into(),
                Some(("scope", json!(scope))),
            ),
            ApiError::TooManyRequests { retry_after } => (
                "rate_limited",
                "Too many requests; try again later".into(),
                Some(("retry_after", json!(retry_after))),
            ),
            ApiError::Busy {
                code,
                message,
                retry_after,
            } => (
                code,
                message.clone(),
                Some(("retry_after", json!(retry_after))),
            ),
            ApiError::OAuth { code, description } => (code, description.clone(), None),
            ApiError::OAuthRateLimited { .. } => ("rate_limited", "Too many requests".into(), None),
            ApiError::Store(StoreError::ConditionFailed { .. } | StoreError::Conflict) => (
                "conflict",
                "A concurrent request changed the same data; try again".into(),
                None,
            ),
            ApiError::Store(StoreError::Unavailable(_)) => (
                "service_unavailable",
                "The service is busy; try again".into(),
                None,
            ),
            ApiError::Store(StoreError::OutcomeUnknown(_)) => (
                "outcome_unknown",
                "The store did not confirm the change: it may or may not have happened. Retry with the same Idempotency-Key, or check before trying again".into(),
                None,
            ),
            ApiError::Store(_) | ApiError::Internal(_) => {
                ("internal_error", "Internal server error".into(), None)
            }
        }
    }
}

/// Turns "the condition on this item failed" into the error a user should see, in one line
/// per rule: `store.write(ops).await.on_condition(&keys::email_marker(e), email_taken)?`.
/// Every other outcome passes through unchanged, so calls chain.
pub trait OnCondition<T> {
    fn on_condition(self, key: &Key, error: impl FnOnce() -> ApiError) -> ApiResult<T>;
    /// A failed condition on any item of the write.
    fn on_any_condition(self, error: impl FnOnce() -> ApiError) -> ApiResult<T>;
}

impl<T, E: Into<ApiError>> OnCondition<T> for Result<T, E> {
    fn on_condition(self, key: &Key, error: impl FnOnce() -> ApiError) -> ApiResult<T> {
        self.map_err(Into::into).map_err(|e| match e {
            ApiError::Store(StoreError::ConditionFailed { key: failed }) if &failed == key => {
                error()
            }
            other => other,
        })
    }

    fn on_any_condition(self, error: impl FnOnce() -> ApiError) -> ApiResult<T> {
        self.map_err(Into::into).map_err(|e| match e {
            ApiError::Store(StoreError::ConditionFailed { .. }) => error(),
            other => other,
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(e) => tracing::error!(error = %e, "internal error"),
            ApiError::Store(StoreError::Unavailable(detail)) => {
                tracing::warn!(%detail, "store unavailable")
            }
            ApiError::Store(StoreError::OutcomeUnknown(detail)) => {
                tracing::warn!(%detail, "write outcome unknown")
            }
            ApiError::Store(e @ (StoreError::Invalid(_) | StoreError::Corrupt(_))) => {
                tracing::error!(error = %e, "store error")
            }
            ApiError::Store(e) => tracing::info!(error = %e, "write lost a race"),
            _ => {}
        }
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        match self {
            ApiError::TooManyRequests { retry_after }
            | ApiError::OAuthRateLimited { retry_after }
            | ApiError::Busy { retry_after, .. } => {
                if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            ApiError::InsufficientScope { scope } => {
                if let Ok(v) = HeaderValue::from_str(&format!(
                    "Bearer error=\"insufficient_scope\", scope=\"{scope}\""
                )) {
                    response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
                }
            }
            ApiError::Unauthorized {
                code: "invalid_token",
                ..
            } => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
            }
            ApiError::OAuth {
                code: "invalid_client",
                ..
            } => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"buddo\""),
                );
            }
            _ => {}
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
