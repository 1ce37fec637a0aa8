//! Google, by OpenID Connect: the endpoints from the issuer's discovery document, the code
//! traded with PKCE, and the ID token verified (OpenID Connect Core §3.1.3.7) by jsonwebtoken
//! against the issuer's published keys: RS256 only (RFC 8725 §3.1), `iss`, `aud`, `azp`, `exp`
//! and the request's `nonce`.

use async_trait::async_trait;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{OnceCell, RwLock};

use super::http::{exchange_error, get_json};
use super::{
    AuthorizationRequest, CodeExchange, ProviderError, ProviderIdentity, ProviderName,
    SignInProvider,
};
use crate::config::{self, GoogleConfig};

/// Google's token response carries the ID token.
#[derive(Clone, Debug, Deserialize, Serialize)]
struct IdTokenField {
    id_token: String,
}
impl ExtraTokenFields for IdTokenField {}

type TokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;
type Client = oauth2::Client<
    BasicErrorResponse,
    TokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The parts of the discovery document used.
#[derive(Clone, Debug, Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Debug, Deserialize)]
struct IdClaims {
    sub: String,
    #[serde(default)]
    azp: Option<String>,
    exp: i64,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    email: Option<String>,
    /// A boolean, or (some issuers) the string "true".
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
    #[serde(default)]
    name: Option<String>,
}

pub struct Google {
    client_id: String,
    client_secret: String,
    issuer: String,
    http: reqwest::Client,
    /// Read at the first sign-in, then kept for the life of the process.
    discovery: OnceCell<Discovery>,
    /// The issuer's signing keys; read again when a token names a key not among them.
    keys: RwLock<Option<JwkSet>>,
}

/// Clock skew allowed on `exp`.
const LEEWAY_SECONDS: i64 = 60;

impl Google {
    pub fn new(config: &GoogleConfig, http: reqwest::Client) -> anyhow::Result<Self> {
        let config::ClientSecret::Inline(secret) = &config.client_secret else {
            anyhow::bail!("GOOGLE_CLIENT_SECRET_ARN was not read");
        };
        Ok(Google {
            client_id: config.client_id.clone(),
            client_secret: secret.clone(),
            issuer: config.issuer.clone(),
            http,
            discovery: OnceCell::new(),
            keys: RwLock::new(None),
        })
    }

    async fn discovery(&self) -> Result<&Discovery, ProviderError> {
        self.discovery
            .get_or_try_init(|| async {
                let url = format!("{}/.well-known/openid-configuration", self.issuer);
                let found: Discovery = get_json(&self.http, &url, None, "application/json").await?;
                // OpenID Connect Discovery §4.3: the document speaks for its own issuer only.
                if found.issuer.trim_end_matches('/') != self.issuer {
                    return Err(ProviderError::Unavailable(format!(
                        "the discovery document names issuer {}",
                        found.issuer
                    )));
                }
                Ok(found)
            })
            .await
    }

    fn client(&self, discovery: &Discovery, redirect_uri: &str) -> Result<Client, ProviderError> {
        let bad = |e: oauth2::url::ParseError| ProviderError::Unavailable(e.to_string());
        Ok(oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.client_secret.clone()))
            .set_auth_type(oauth2::AuthType::RequestBody)
            .set_auth_uri(AuthUrl::new(discovery.authorization_endpoint.clone()).map_err(bad)?)
            .set_token_uri(TokenUrl::new(discovery.token_endpoint.clone()).map_err(bad)?)
            .set_redirect_uri(RedirectUrl::new(redirect_uri.to_string()).map_err(bad)?))
    }

    /// The key a token names, reading the issuer's keys again when it is not known yet.
    async fn key(&self, jwks_uri: &str, kid: &str) -> Result<DecodingKey, ProviderError> {
        let known = self
            .keys
            .read()
            .await
            .as_ref()
            .and_then(|set| find(set, kid));
        if let Some(key) = known {
            return key;
        }
        let set: JwkSet = get_json(&self.http, jwks_uri, None, "application/json").await?;
        let found = find(&set, kid);
        *self.keys.write().await = Some(set);
        found.unwrap_or_else(|| Err(invalid_id_token("it is signed by an unknown key")))
    }

    fn check(
        &self,
        token: &str,
        key: &DecodingKey,
        exchange: &CodeExchange<'_>,
    ) -> Result<IdClaims, ProviderError> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_audience(&[&self.client_id]);
        // Google writes its issuer with or without the scheme (OpenID Connect Core §3.1.3.7,
        // Google's own documentation).
        let bare = self.issuer.trim_start_matches("https://").to_string();
        validation.set_issuer(&[self.issuer.as_str(), bare.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Expiry is checked below against the platform's clock.
        validation.validate_exp = false;
        let claims = jsonwebtoken::decode::<IdClaims>(token, key, &validation)
            .map_err(|e| invalid_id_token(format!("{e}")))?
            .claims;
        if claims.exp + LEEWAY_SECONDS < exchange.now {
            return Err(invalid_id_token("it has expired"));
        }
        if claims
            .azp
            .as_deref()
            .is_some_and(|azp| azp != self.client_id)
        {
            return Err(invalid_id_token("it was issued to another client"));
        }
        if claims.nonce.as_deref() != Some(exchange.nonce) {
            return Err(invalid_id_token("its nonce is not this sign-in's"));
        }
        Ok(claims)
    }
}

fn find(set: &JwkSet, kid: &str) -> Option<Result<DecodingKey, ProviderError>> {
    set.find(kid).map(|jwk| {
        DecodingKey::from_jwk(jwk).map_err(|e| invalid_id_token(format!("its key: {e}")))
    })
}

fn invalid_id_token(why: impl std::fmt::Display) -> ProviderError {
    ProviderError::rejected(
        "invalid_id_token",
        format!("The provider's ID token does not hold up: {why}"),
    )
}

#[async_trait]
impl SignInProvider for Google {
    fn name(&self) -> ProviderName {
        ProviderName::Google
    }

    async fn authorization_url(
        &self,
        request: &AuthorizationRequest<'_>,
    ) -> Result<String, ProviderError> {
        let discovery = self.discovery().await?;
        let verifier = PkceCodeVerifier::new(request.pkce_verifier.to_string());
        let state = request.state.to_string();
        let (url, _) = self
            .client(discovery, request.redirect_uri)?
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(["openid", "email", "profile"].map(|s| Scope::new(s.into())))
            .set_pkce_challenge(PkceCodeChallenge::from_code_verifier_sha256(&verifier))
            .add_extra_param("nonce", request.nonce)
            .url();
        Ok(url.to_string())
    }

    async fn identify(
        &self,
        exchange: &CodeExchange<'_>,
    ) -> Result<ProviderIdentity, ProviderError> {
        let discovery = self.discovery().await?;
        let response = self
            .client(discovery, exchange.redirect_uri)?
            .exchange_code(AuthorizationCode::new(exchange.code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(exchange.pkce_verifier.to_string()))
            .request_async(&self.http)
            .await
            .map_err(exchange_error)?;
        let token = &response.extra_fields().id_token;
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| invalid_id_token(format!("{e}")))?;
        if header.alg != Algorithm::RS256 {
            return Err(invalid_id_token("it is not signed with RS256"));
        }
        let kid = header
            .kid
            .ok_or_else(|| invalid_id_token("it names no key"))?;
        let key = self.key(&discovery.jwks_uri, &kid).await?;
        let claims = self.check(token, &key, exchange)?;
        let email_verified = match &claims.email_verified {
            Some(serde_json::Value::Bool(b)) => *b,
            Some(serde_json::Value::String(s)) => s == "true",
            _ => false,
        };
        let email = claims
            .email
            .ok_or_else(|| invalid_id_token("it carries no email address"))?;
        Ok(ProviderIdentity {
            subject: claims.sub,
            email: email.to_lowercase(),
            email_verified,
            login: None,
            name: claims.name,
        })
    }
}
