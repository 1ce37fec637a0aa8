use std::net::IpAddr;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRef, FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::Required;
use utoipa::IntoParams;

use crate::domain::identity::sessions::{self, Authenticated};
use crate::domain::ledger::idempotency::IdempotencyKey;
use crate::domain::oauth::tokens::{self, AccessGrant};
use crate::domain::RequestMeta;
use crate::error::ApiError;
use crate::state::AppState;

/// JSON body whose every rejection is an [`ApiError`] with the error shape (docs/architecture.md,
/// "Errors"); as an answer, the value in JSON.
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            // The field at fault when serde knows it: a wrong type, an unknown value, a field
            // left out.
            let mut source = std::error::Error::source(&e);
            let mut found = None;
            while let Some(s) = source {
                if let Some(err) = s.downcast_ref::<serde_path_to_error::Error<serde_json::Error>>()
                {
                    found = Some(err);
                    break;
                }
                source = s.source();
            }
            match found {
                Some(err) => field_error(err.path(), field_reason(err.inner())),
                None => ApiError::bad_request("invalid_request", e.body_text()),
            }
        }
        JsonRejection::JsonSyntaxError(_) => {
            ApiError::bad_request("malformed_json", "The request body is not valid JSON")
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::Status {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            message: "Send the body as application/json".into(),
        },
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        other => ApiError::bad_request("invalid_request", other.body_text()),
    }
}

/// The body as bytes (for handlers that parse it themselves, like the OAuth endpoints' forms),
/// with the usual error shape when it is too large.
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::body::Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large()
                } else {
                    ApiError::bad_request("invalid_request", rejection.body_text())
                }
            })
    }
}

fn too_large() -> ApiError {
    ApiError::Status {
        status: StatusCode::PAYLOAD_TOO_LARGE,
        code: "payload_too_large",
        message: "The request body is larger than this endpoint accepts (64 KiB; 256 KiB for a user import)".into(),
    }
}

/// For `#[serde(default, deserialize_with = "nullable")]` on an `Option<Option<T>>`: a field
/// left out is `None` (keep), `null` is `Some(None)` (clear), a value is `Some(Some(v))`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    Ok(Some(Option::deserialize(d)?))
}

/// What serde said of a field at `path` as an answer: `validation_failed` naming the field
/// (a field left out is named as `is required`), or `invalid_request` when the whole input is
/// of the wrong shape.
fn field_error(path: &serde_path_to_error::Path, reason: String) -> ApiError {
    let path = path.to_string();
    let parent = if path == "." {
        String::new()
    } else {
        format!("{path}.")
    };
    if let Some(missing) = reason
        .strip_prefix("missing field `")
        .and_then(|r| r.strip_suffix('`'))
    {
        return ApiError::field(format!("{parent}{missing}"), "is required");
    }
    if path == "." {
        ApiError::bad_request("invalid_request", reason)
    } else if path.starts_with('[') {
        // An array where an object belongs: there is no field to name.
        ApiError::bad_request("invalid_request", "The body must be a JSON object")
    } else {
        ApiError::field(path, reason)
    }
}

/// serde's reason without its position in the text (`invalid type: integer `5`, expected a
/// string`).
fn field_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The caller's address — the API Gateway source IP on Lambda, the socket peer locally, or
/// the first `X-Forwarded-For` entry when `TRUST_FORWARDED_FOR` is on — and user agent.
impl<S> FromRequestParts<S> for RequestMeta
where
    AppState: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(256).collect());
        Ok(RequestMeta {
            ip: client_ip(parts, state.config.trust_forwarded_for),
            user_agent,
        })
    }
}

fn client_ip(parts: &Parts, trust_forwarded_for: bool) -> Option<IpAddr> {
    if trust_forwarded_for {
        let forwarded = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok());
        if forwarded.is_some() {
            return forwarded;
        }
    }
    // On Lambda: the address API Gateway saw (other event kinds carry none we use).
    if let Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) =
        parts
            .extensions
            .get::<lambda_http::request::RequestContext>()
    {
        return ctx.http.source_ip.as_deref().and_then(|ip| ip.parse().ok());
    }
    // Served on a port (cargo feature `server`): the peer's address.
    #[cfg(feature = "server")]
    return parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|axum::extract::ConnectInfo(addr)| addr.ip());
    #[cfg(not(feature = "server"))]
    None
}

/// Declares an extractor of who calls: a newtype that derefs to what `$check` (an async
/// function of the state and the request's parts) found, rejecting the request with its error.
macro_rules! caller {
    ($(#[$doc:meta])* $name:ident($target:ty) = $check:path;) => {
        $(#[$doc])*
        pub struct $name(pub $target);

        impl std::ops::Deref for $name {
            type Target = $target;
            fn deref(&self) -> &$target {
                &self.0
            }
        }

        impl<S> FromRequestParts<S> for $name
        where
            AppState: FromRef<S>,
            S: Send + Sync,
        {
            type Rejection = ApiError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &S,
            ) -> Result<Self, Self::Rejection> {
                $check(&AppState::from_ref(state), parts).await.map($name)
            }
        }
    };
}

caller! {
    /// A user authenticated by a JWT whose login session is still live.
    AuthUser(Authenticated) = signed_in;
}

caller! {
    /// An operator app acting for a user with an OAuth access token. A user's JWT is not one:
    /// it gets 401 `invalid_token` like any inactive token.
    AppCaller(AccessGrant) = app_for_user;
}

caller! {
    /// A signed-in admin; anyone else gets 403 `forbidden`.
    AdminUser(Authenticated) = admin;
}

async fn signed_in(state: &AppState, parts: &Parts) -> Result<Authenticated, ApiError> {
    sessions::authenticate(state, bearer(parts)?).await
}

async fn app_for_user(state: &AppState, parts: &Parts) -> Result<AccessGrant, ApiError> {
    tokens::authenticate(state, bearer(parts)?).await
}

async fn admin(state: &AppState, parts: &Parts) -> Result<Authenticated, ApiError> {
    let auth = signed_in(state, parts).await?;
    if !auth.user.is_admin {
        return Err(ApiError::forbidden("forbidden", "Admins only"));
    }
    Ok(auth)
}

/// The `Authorization: Bearer` token, or 401 `invalid_token`.
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        })
        .filter(|t| !t.is_empty())
        .ok_or_else(ApiError::invalid_token)
}

/// The `Idempotency-Key` header of the operator API, as `Option<IdempotencyKey>`: `None`
/// when not sent, 400 `invalid_idempotency_key` when not a key.
impl<S: Send + Sync> OptionalFromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match parts.headers.get(IDEMPOTENCY_KEY) {
            None => Ok(None),
            // Not visible ASCII: refused like an empty key.
            Some(v) => IdempotencyKey::parse(v.to_str().unwrap_or_default()).map(Some),
        }
    }
}

/// The header's name (lower case, as `HeaderMap` keeps it).
pub(super) const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// `params(IdempotencyKey)`: the header, as the operator API describes it.
impl IntoParams for IdempotencyKey {
    fn into_params(_: impl Fn() -> Option<ParameterIn>) -> Vec<Parameter> {
        let schema = ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(255))
            .pattern(Some("^[!-~]+$"));
        vec![ParameterBuilder::new()
            .name("Idempotency-Key")
            .parameter_in(ParameterIn::Header)
            .description(Some(
                "1 to 255 visible ASCII characters: the same key and body again get the first \
                 answer and move nothing (for 24 hours)",
            ))
            .required(Required::False)
            .schema(Some(schema))
            .build()]
    }
}

/// Query parameters whose every rejection is an [`ApiError`] with the usual shape.
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let input =
            serde_urlencoded::Deserializer::new(url::form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(input)
            .map(Query)
            .map_err(|e| field_error(e.path(), e.inner().to_string()))
    }
}
