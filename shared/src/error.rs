//! The one error type of every endpoint and its JSON shape (DESIGN.md §13):
//! `{"error": "<snake_case_code>", "message": "<human text>"}` plus documented extras.

use std::borrow::Cow;
use std::collections::BTreeMap;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::store::StoreError;

pub type Msg = Cow<'static, str>;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { code: &'static str, message: Msg },
    /// 400 `validation_failed` with a reason per field.
    #[error("validation failed")]
    Validation(BTreeMap<&'static str, Msg>),
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
    #[error("service unavailable: {0}")]
    Unavailable(String),
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
    pub fn field(name: &'static str, reason: impl Into<Msg>) -> Self {
        ApiError::Validation(BTreeMap::from([(name, reason.into())]))
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
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Status { status, .. } => *status,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn body(&self) -> Value {
        let (code, message, extra): (&str, Cow<str>, Option<(&str, Value)>) = match self {
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
            ApiError::TooManyRequests { retry_after } => (
                "rate_limited",
                "Too many requests; try again later".into(),
                Some(("retry_after", json!(retry_after))),
            ),
            ApiError::Unavailable(_) => (
                "service_unavailable",
                "The service is busy; try again".into(),
                None,
            ),
            ApiError::Internal(_) => ("internal_error", "Internal server error".into(), None),
        };
        let mut body = json!({ "error": code, "message": message });
        if let Some((name, value)) = extra {
            body[name] = value;
        }
        body
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => ApiError::Status {
                status: StatusCode::CONFLICT,
                code: "conflict",
                message: "A concurrent request changed the same data; try again".into(),
            },
            StoreError::Unavailable(detail) => ApiError::Unavailable(detail),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            ApiError::Internal(e) => tracing::error!(error = %e, "internal error"),
            ApiError::Unavailable(detail) => tracing::warn!(%detail, "dependency unavailable"),
            _ => {}
        }
        let mut response = (self.status(), axum::Json(self.body())).into_response();
        if let ApiError::TooManyRequests { retry_after } = self {
            if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, v);
            }
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
