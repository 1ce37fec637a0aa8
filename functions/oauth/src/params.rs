//! Token and revocation requests: parameters as `application/x-www-form-urlencoded` (RFC 6749)
//! or as JSON (the reference), and client authentication by HTTP Basic (RFC 6749 §2.3.1) or in
//! the body — never both.

use axum::http::{header, HeaderMap};
use base64::Engine;
use serde::Deserialize;
use utoipa::openapi::schema::Object;
use utoipa::ToSchema;

use buddo_shared::domain::oauth::error::OAuthErrorCode;
use buddo_shared::domain::oauth::tokens::{ClientCredentials, TokenGrant};
use buddo_shared::domain::oauth::OAuthError;
use buddo_shared::http::openapi::one_of;

/// Every parameter either endpoint reads; unknown ones are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct Params {
    pub grant_type: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub scope: Option<String>,
    pub token: Option<String>,
}

/// `#[schema(schema_with = …)]`: the grants the token endpoint knows.
fn grant_type() -> Object {
    one_of(["authorization_code", "refresh_token"])
}

impl Params {
    /// The grant a token request asks for.
    pub fn grant(self) -> Result<TokenGrant, OAuthError> {
        match self.grant_type.as_deref() {
            Some("authorization_code") => Ok(TokenGrant::AuthorizationCode {
                code: self.code.unwrap_or_default(),
                redirect_uri: self.redirect_uri.unwrap_or_default(),
                code_verifier: self.code_verifier.unwrap_or_default(),
            }),
            Some("refresh_token") => Ok(TokenGrant::RefreshToken {
                refresh_token: self.refresh_token.unwrap_or_default(),
                scope: self.scope,
            }),
            Some(_) => Err(OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                "Only authorization_code and refresh_token grants are supported",
            )),
            None => Err(invalid("grant_type is required")),
        }
    }
}

/// A token request (RFC 6749 §4.1.3, §6). The client authenticates with HTTP Basic, or with
/// `client_id` (and `client_secret`) here, never both; a parameter may be sent once only.
// For the API's description only: the body is parsed into `Params`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenForm {
    #[schema(schema_with = grant_type)]
    grant_type: String,
    /// `authorization_code`: the code `GET /api/oauth/authorize` issued.
    #[schema(nullable = false)]
    code: Option<String>,
    /// `authorization_code`: the redirect URI of the authorization request, exactly.
    #[schema(nullable = false)]
    redirect_uri: Option<String>,
    /// `authorization_code`: the PKCE verifier (RFC 7636), 43 to 128 characters of
    /// `[A-Za-z0-9-._~]`; required even with a client secret.
    #[schema(nullable = false)]
    code_verifier: Option<String>,
    /// `refresh_token`: the refresh token (`brt_…`).
    #[schema(nullable = false)]
    refresh_token: Option<String>,
    /// `refresh_token`: fewer scopes than the grant's, space-separated (all of them when
    /// left out).
    #[schema(nullable = false)]
    scope: Option<String>,
    /// The client, when it does not authenticate with HTTP Basic.
    #[schema(nullable = false)]
    client_id: Option<String>,
    /// The client's secret, when it does not authenticate with HTTP Basic; public clients
    /// exchanging a code may leave it out, a refresh requires it.
    #[schema(nullable = false)]
    client_secret: Option<String>,
}

/// An introspection request (RFC 7662 §2.1).
// For the API's description only: the body is parsed into `Params`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct IntrospectionForm {
    /// The token to look up; a request without one is answered inactive.
    #[schema(nullable = false)]
    token: Option<String>,
}

/// A revocation request (RFC 7009 §2.1). The client authenticates with HTTP Basic, or with
/// `client_id` (and `client_secret`) here, never both; a parameter may be sent once only.
// For the API's description only: the body is parsed into `Params`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RevokeForm {
    /// An access (`bat_…`) or refresh token (`brt_…`) of the client; a refresh token takes
    /// every token of its authorization with it.
    token: String,
    /// The client, when it does not authenticate with HTTP Basic.
    #[schema(nullable = false)]
    client_id: Option<String>,
    /// The client's secret, when it does not authenticate with HTTP Basic (optional for
    /// public clients).
    #[schema(nullable = false)]
    client_secret: Option<String>,
}

fn invalid(description: &'static str) -> OAuthError {
    OAuthError::invalid_request(description)
}

/// The body's parameters, by its content type.
pub fn parse(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_default();
    match content_type.as_str() {
        "application/x-www-form-urlencoded" => {
            // RFC 6749 §3.2: a parameter sent twice is an error, not a choice.
            let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
                .map_err(|_| invalid("The body is not valid form data"))?;
            let mut names: Vec<&str> = pairs.iter().map(|(k, _)| k.as_str()).collect();
            names.sort_unstable();
            if names.windows(2).any(|w| w[0] == w[1]) {
                return Err(invalid("A parameter was sent more than once"));
            }
            serde_urlencoded::from_bytes(body)
                .map_err(|_| invalid("The body is not valid form data"))
        }
        "application/json" => serde_json::from_slice(body)
            .map_err(|_| invalid("The body is not a JSON object of string parameters")),
        _ => Err(invalid(
            "Send the parameters as application/x-www-form-urlencoded or application/json",
        )),
    }
}

/// The parameters of a request a client authenticates (token, revocation), and the client's
/// credentials, taken out of them.
pub fn from_client(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Params, ClientCredentials), OAuthError> {
    let mut params = parse(headers, body)?;
    let client = client(headers, &mut params)?;
    Ok((params, client))
}

/// One `application/x-www-form-urlencoded` component of a Basic credential.
fn form_decode(part: &str) -> Option<String> {
    let spaced = part.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// The client's credentials: HTTP Basic, or `client_id` (and `client_secret`) in the body.
fn client(headers: &HeaderMap, params: &mut Params) -> Result<ClientCredentials, OAuthError> {
    let basic = match headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        None => None,
        Some(value) => {
            let (scheme, encoded) = value
                .split_once(' ')
                .ok_or_else(OAuthError::invalid_client)?;
            if !scheme.eq_ignore_ascii_case("basic") {
                return Err(OAuthError::invalid_client());
            }
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(OAuthError::invalid_client)?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(OAuthError::invalid_client)?;
            Some((
                form_decode(id).ok_or_else(OAuthError::invalid_client)?,
                form_decode(secret).ok_or_else(OAuthError::invalid_client)?,
            ))
        }
    };
    let body_id = params.client_id.take().filter(|s| !s.is_empty());
    let body_secret = params.client_secret.take().filter(|s| !s.is_empty());
    match basic {
        Some((id, secret)) => {
            // RFC 6749 §2.3: one authentication method per request.
            if body_secret.is_some() || body_id.as_ref().is_some_and(|b| *b != id) {
                return Err(invalid("Authenticate the client one way only"));
            }
            Ok(ClientCredentials {
                client_id: id,
                client_secret: Some(secret),
            })
        }
        None => Ok(ClientCredentials {
            client_id: body_id.unwrap_or_default(),
            client_secret: body_secret,
        }),
    }
}
