//! The sign-in providers people may use instead of a password: Google (OpenID Connect) and
//! GitHub (OAuth 2.0). This module is the port the identity domain talks to
//! (`domain::identity::social`); `google` and `github` speak the providers' protocols
//! (docs/architecture.md, "Sign-in with Google and GitHub").

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::config::SocialConfig;
use crate::deadlines::Deadlines;
use crate::error::ApiError;

#[cfg(feature = "social")]
mod github;
#[cfg(feature = "social")]
mod google;
#[cfg(feature = "social")]
mod http;

/// A provider people can sign in with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderName {
    Google,
    Github,
}

impl ProviderName {
    pub const ALL: [ProviderName; 2] = [ProviderName::Google, ProviderName::Github];

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "google" => Some(ProviderName::Google),
            "github" => Some(ProviderName::Github),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderName::Google => "google",
            ProviderName::Github => "github",
        }
    }

    /// As people read it.
    pub fn title(self) -> &'static str {
        match self {
            ProviderName::Google => "Google",
            ProviderName::Github => "GitHub",
        }
    }
}

/// What the provider's authorization URL carries besides the client's own settings.
pub struct AuthorizationRequest<'a> {
    pub state: &'a str,
    /// The PKCE verifier (RFC 7636); the URL carries its S256 challenge.
    pub pkce_verifier: &'a str,
    /// Sent as OpenID Connect's `nonce` where the provider issues ID tokens.
    pub nonce: &'a str,
    pub redirect_uri: &'a str,
}

/// A code the provider sent back, with what the authorization request bound it to.
pub struct CodeExchange<'a> {
    pub code: &'a str,
    pub pkce_verifier: &'a str,
    pub nonce: &'a str,
    pub redirect_uri: &'a str,
    /// Now (epoch seconds), by the platform's clock: an ID token must not have expired.
    pub now: i64,
}

/// Who the provider says signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderIdentity {
    /// The provider's stable id of the person (`sub`, GitHub's numeric id).
    pub subject: String,
    /// Lower-cased.
    pub email: String,
    /// The provider vouches for the address (Google's `email_verified`, GitHub's verified
    /// primary address).
    pub email_verified: bool,
    /// The provider's handle (GitHub's login); none for Google.
    pub login: Option<String>,
    pub name: Option<String>,
}

/// Why a provider did not identify anyone.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider refused the code, or what it sent does not hold up (a forged or
    /// misaddressed ID token, a nonce of another request).
    #[error("{code}: {message}")]
    Rejected { code: &'static str, message: String },
    /// The provider did not answer in time, or answered with nonsense.
    #[error("the provider is unavailable: {0}")]
    Unavailable(String),
}

impl ProviderError {
    pub fn rejected(code: &'static str, message: impl Into<String>) -> Self {
        ProviderError::Rejected {
            code,
            message: message.into(),
        }
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Rejected { code, message } => ApiError::bad_request(code, message),
            ProviderError::Unavailable(reason) => {
                tracing::warn!(%reason, "sign-in provider unavailable");
                ApiError::Status {
                    status: axum::http::StatusCode::BAD_GATEWAY,
                    code: "provider_unavailable",
                    message: "The sign-in provider did not answer; try again".into(),
                }
            }
        }
    }
}

/// One provider's protocol.
#[async_trait]
pub trait SignInProvider: Send + Sync {
    fn name(&self) -> ProviderName;
    /// Where to send the person (with the state, PKCE challenge and nonce).
    async fn authorization_url(
        &self,
        request: &AuthorizationRequest<'_>,
    ) -> Result<String, ProviderError>;
    /// Trades the code for the person's identity, checking everything the provider sent.
    async fn identify(
        &self,
        exchange: &CodeExchange<'_>,
    ) -> Result<ProviderIdentity, ProviderError>;
}

/// The configured providers; unconfigured ones are absent.
#[derive(Clone, Default)]
pub struct Providers(Vec<Arc<dyn SignInProvider>>);

impl Providers {
    /// The providers of `config`, whose client secrets are already read
    /// ([`SocialConfig::resolve_secrets`]).
    #[cfg(feature = "social")]
    pub fn new(config: &SocialConfig, deadlines: &Deadlines) -> anyhow::Result<Self> {
        let mut out: Vec<Arc<dyn SignInProvider>> = Vec::new();
        if config.google.is_none() && config.github.is_none() {
            return Ok(Providers(out));
        }
        let client = http::client(deadlines)?;
        if let Some(google) = &config.google {
            out.push(Arc::new(google::Google::new(google, client.clone())?));
        }
        if let Some(github) = &config.github {
            out.push(Arc::new(github::GitHub::new(github, client)?));
        }
        Ok(Providers(out))
    }

    /// Without the providers' client ([`crate::config::Config::check_features`] refuses a
    /// configuration naming a provider at start).
    #[cfg(not(feature = "social"))]
    pub fn new(config: &SocialConfig, _deadlines: &Deadlines) -> anyhow::Result<Self> {
        if config.google.is_some() || config.github.is_some() {
            anyhow::bail!(
                "this binary is built without sign-in providers (cargo feature `social`)"
            );
        }
        Ok(Providers::default())
    }

    /// Providers from elsewhere (tests).
    pub fn from_list(list: Vec<Arc<dyn SignInProvider>>) -> Self {
        Providers(list)
    }

    /// The provider, or 404 `provider_not_configured`.
    pub fn get(&self, name: ProviderName) -> Result<&dyn SignInProvider, ApiError> {
        self.0
            .iter()
            .find(|p| p.name() == name)
            .map(|p| p.as_ref())
            .ok_or_else(not_configured)
    }

    /// The configured providers' names, in a fixed order.
    pub fn names(&self) -> Vec<ProviderName> {
        ProviderName::ALL
            .into_iter()
            .filter(|n| self.0.iter().any(|p| p.name() == *n))
            .collect()
    }
}

pub fn not_configured() -> ApiError {
    ApiError::not_found(
        "provider_not_configured",
        "This sign-in provider is not configured",
    )
}
