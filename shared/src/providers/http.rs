//! The HTTPS client of the providers' endpoints: rustls on ring, bounded by the provider
//! deadline (docs/architecture.md, "Deadlines"), and never following a redirect — a token or
//! API endpoint that redirects is refused, not followed somewhere else (SSRF).

use oauth2::{HttpClientError, RequestTokenError};

use super::ProviderError;
use crate::deadlines::Deadlines;

pub fn client(deadlines: &Deadlines) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(deadlines.aws_connect)
        .timeout(deadlines.provider_call)
        .user_agent("Buddo")
        .build()?)
}

/// A failed code exchange: the provider's refusal (an unknown, used or expired code; a wrong
/// verifier) or an answer that is not a token, as `invalid_code`; no answer in time as
/// unavailable.
pub fn exchange_error<RE: oauth2::ErrorResponse + 'static>(
    e: RequestTokenError<HttpClientError<reqwest::Error>, RE>,
) -> ProviderError {
    match e {
        RequestTokenError::ServerResponse(refusal) => ProviderError::rejected(
            "invalid_code",
            format!("The provider refused the code: {refusal}"),
        ),
        RequestTokenError::Parse(_, _) => ProviderError::rejected(
            "invalid_code",
            "The provider did not trade the code for a token",
        ),
        RequestTokenError::Request(e) => ProviderError::Unavailable(e.to_string()),
        RequestTokenError::Other(e) => ProviderError::Unavailable(e),
    }
}

/// GETs JSON from a provider with a bearer token (none for public documents).
pub async fn get_json<T: serde::de::DeserializeOwned>(
    client: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
    accept: &str,
) -> Result<T, ProviderError> {
    let mut request = client.get(url).header(reqwest::header::ACCEPT, accept);
    if let Some(token) = bearer {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| ProviderError::Unavailable(e.to_string()))?;
    let status = response.status();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(ProviderError::rejected(
            "invalid_code",
            "The provider refused its own token",
        ));
    }
    if !status.is_success() {
        return Err(ProviderError::Unavailable(format!(
            "{url} answered {status}"
        )));
    }
    response
        .json()
        .await
        .map_err(|e| ProviderError::Unavailable(format!("{url}: {e}")))
}
