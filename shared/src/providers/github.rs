//! GitHub, by OAuth 2.0: the code traded with PKCE, then the person from `GET /user` and their
//! address from `GET /user/emails` — the primary one, and only if GitHub has verified it.

use async_trait::async_trait;
use oauth2::basic::BasicClient;
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse, TokenUrl,
};
use serde::Deserialize;

use super::http::{exchange_error, get_json};
use super::{
    AuthorizationRequest, CodeExchange, ProviderError, ProviderIdentity, ProviderName,
    SignInProvider,
};
use crate::config::{self, GitHubConfig};

type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

const ACCEPT: &str = "application/vnd.github+json";

#[derive(Deserialize)]
struct GitHubUser {
    id: u64,
    login: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
struct GitHubEmail {
    email: String,
    #[serde(default)]
    primary: bool,
    #[serde(default)]
    verified: bool,
}

pub struct GitHub {
    client_id: String,
    client_secret: String,
    authorize_url: String,
    token_url: String,
    api_url: String,
    http: reqwest::Client,
}

impl GitHub {
    pub fn new(config: &GitHubConfig, http: reqwest::Client) -> anyhow::Result<Self> {
        let config::ClientSecret::Inline(secret) = &config.client_secret else {
            anyhow::bail!("GITHUB_CLIENT_SECRET_ARN was not read");
        };
        Ok(GitHub {
            client_id: config.client_id.clone(),
            client_secret: secret.clone(),
            authorize_url: config.authorize_url.clone(),
            token_url: config.token_url.clone(),
            api_url: config.api_url.clone(),
            http,
        })
    }

    fn client(&self, redirect_uri: &str) -> Result<Client, ProviderError> {
        let bad = |e: oauth2::url::ParseError| ProviderError::Unavailable(e.to_string());
        Ok(BasicClient::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.client_secret.clone()))
            .set_auth_type(oauth2::AuthType::RequestBody)
            .set_auth_uri(AuthUrl::new(self.authorize_url.clone()).map_err(bad)?)
            .set_token_uri(TokenUrl::new(self.token_url.clone()).map_err(bad)?)
            .set_redirect_uri(RedirectUrl::new(redirect_uri.to_string()).map_err(bad)?))
    }
}

#[async_trait]
impl SignInProvider for GitHub {
    fn name(&self) -> ProviderName {
        ProviderName::Github
    }

    async fn authorization_url(
        &self,
        request: &AuthorizationRequest<'_>,
    ) -> Result<String, ProviderError> {
        let verifier = PkceCodeVerifier::new(request.pkce_verifier.to_string());
        let state = request.state.to_string();
        let (url, _) = self
            .client(request.redirect_uri)?
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(["read:user", "user:email"].map(|s| Scope::new(s.into())))
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier))
            .url();
        Ok(url.to_string())
    }

    async fn identify(
        &self,
        exchange: &CodeExchange<'_>,
    ) -> Result<ProviderIdentity, ProviderError> {
        let response = self
            .client(exchange.redirect_uri)?
            .exchange_code(AuthorizationCode::new(exchange.code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(exchange.pkce_verifier.to_string()))
            .request_async(&self.http)
            .await
            .map_err(exchange_error)?;
        let token = response.access_token().secret();
        let user_url = format!("{}/user", self.api_url);
        let emails_url = format!("{}/user/emails", self.api_url);
        let (user, emails) = tokio::try_join!(
            get_json::<GitHubUser>(&self.http, &user_url, Some(token), ACCEPT),
            get_json::<Vec<GitHubEmail>>(&self.http, &emails_url, Some(token), ACCEPT),
        )?;
        let primary = emails.into_iter().find(|e| e.primary).ok_or_else(|| {
            ProviderError::rejected(
                "provider_email_unverified",
                "The GitHub account has no primary email address",
            )
        })?;
        Ok(ProviderIdentity {
            subject: user.id.to_string(),
            email: primary.email.to_lowercase(),
            email_verified: primary.verified,
            login: Some(user.login),
            name: user.name,
        })
    }
}
