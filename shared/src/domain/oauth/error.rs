//! Errors of the token and revocation endpoints, in the shape of RFC 6749 §5.2.

use crate::error::ApiError;

/// The `error` codes of RFC 6749 §5.2 (and RFC 7009 §2.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OAuthErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    UnsupportedTokenType,
}

impl OAuthErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
        }
    }
}

/// An RFC 6749 error, or any other failure (a store outage, a rate limit) that keeps its own
/// answer.
#[derive(Debug)]
pub enum OAuthError {
    Protocol {
        code: OAuthErrorCode,
        description: &'static str,
    },
    Other(ApiError),
}

pub type OAuthResult<T> = Result<T, OAuthError>;

impl OAuthError {
    pub fn new(code: OAuthErrorCode, description: &'static str) -> Self {
        OAuthError::Protocol { code, description }
    }
    pub fn invalid_request(description: &'static str) -> Self {
        Self::new(OAuthErrorCode::InvalidRequest, description)
    }
    pub fn invalid_client() -> Self {
        Self::new(
            OAuthErrorCode::InvalidClient,
            "Client authentication failed",
        )
    }
    pub fn invalid_grant(description: &'static str) -> Self {
        Self::new(OAuthErrorCode::InvalidGrant, description)
    }
}

impl<E: Into<ApiError>> From<E> for OAuthError {
    fn from(e: E) -> Self {
        OAuthError::Other(e.into())
    }
}

impl OAuthError {
    /// The answer: RFC 6749 errors keep their own shape; everything else its usual one.
    pub fn into_api(self) -> ApiError {
        match self {
            OAuthError::Protocol { code, description } => ApiError::OAuth {
                code: code.as_str(),
                description: description.into(),
            },
            OAuthError::Other(ApiError::TooManyRequests { retry_after }) => {
                ApiError::OAuthRateLimited { retry_after }
            }
            OAuthError::Other(e) => e,
        }
    }
}
