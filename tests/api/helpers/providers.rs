//! Stand-in Google and GitHub on a random port: Google's discovery document, authorization
//! endpoint, token endpoint issuing RS256 ID tokens and its JWKS; GitHub's authorization and
//! token endpoints, `/user` and `/user/emails`. Both approve at once as the person the test
//! chose, check the client, redirect URI and PKCE verifier at the token endpoint, and can be
//! told to misbehave the ways an attacker or a broken provider would.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use buddo_shared::config::{ClientSecret, Config, GitHubConfig, GoogleConfig, SocialConfig};
use buddo_shared::id_token::{IdTokenAlg, IdTokenKeys};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::TestApp;

pub const GOOGLE_CLIENT_ID: &str = "buddo-test.apps.googleusercontent.com";
pub const GITHUB_CLIENT_ID: &str = "Iv1.buddotest";
const CLIENT_SECRET: &str = "stand-in-client-secret";
/// The redirect URI the API tests' client uses (configured in `SOCIAL_REDIRECT_URIS`).
pub const APP_REDIRECT: &str = "https://app.buddo.test/auth/callback";

/// A person signed in at a stand-in provider.
#[derive(Clone, Debug)]
pub struct Person {
    pub subject: String,
    pub email: String,
    pub verified: bool,
    pub login: String,
    pub name: String,
}

impl Person {
    pub fn new(login: &str) -> Person {
        let unique = &uuid::Uuid::new_v4().simple().to_string()[..8];
        Person {
            // At least 10 digits (a small number padded on the right): tests take the first 8
            // for usernames.
            subject: format!("{:0<10}", u64::from_str_radix(unique, 16).unwrap()),
            email: format!("{login}.{unique}@mail.test"),
            verified: true,
            login: format!("{login}{unique}"),
            name: format!("{login} Example"),
        }
    }

    pub fn with_email(mut self, email: &str) -> Person {
        self.email = email.to_string();
        self
    }

    pub fn unverified(mut self) -> Person {
        self.verified = false;
        self
    }
}

/// How the stand-in Google's next ID token goes wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdTokenFault {
    /// The payload changed after signing (another person's address): the signature fails.
    Forged,
    /// Addressed to another client.
    WrongAudience,
    /// Carrying this nonce instead of the one of its request.
    Nonce(String),
    /// Unsigned (`alg: none`).
    Unsigned,
}

#[derive(Clone)]
struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
    person: Person,
}

#[derive(Default)]
struct Inner {
    google_person: Option<Person>,
    github_person: Option<Person>,
    codes: HashMap<String, Grant>,
    github_tokens: HashMap<String, Person>,
    id_token_fault: Option<IdTokenFault>,
    /// Nonces the stand-in Google saw, in order.
    nonces: Vec<String>,
}

#[derive(Clone)]
pub struct StandInProviders {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    keys: IdTokenKeys,
}

impl StandInProviders {
    pub async fn start() -> StandInProviders {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let this = StandInProviders {
            addr,
            inner: Arc::default(),
            keys: IdTokenKeys::generated(),
        };
        let app = Router::new()
            .route(
                "/google/.well-known/openid-configuration",
                get(google_discovery),
            )
            .route("/google/authorize", get(authorize_google))
            .route("/google/token", post(google_token))
            .route("/google/jwks", get(google_jwks))
            .route("/github/login/oauth/authorize", get(authorize_github))
            .route("/github/login/oauth/access_token", post(github_token))
            .route("/github/api/user", get(github_user))
            .route("/github/api/user/emails", get(github_emails))
            .with_state(this.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("stand-in") });
        this
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Both providers, configured as a deployment would be.
    pub fn configure(&self, config: &mut Config) {
        config.social = SocialConfig {
            google: Some(GoogleConfig {
                client_id: GOOGLE_CLIENT_ID.into(),
                client_secret: ClientSecret::Inline(CLIENT_SECRET.into()),
                issuer: format!("{}/google", self.base()),
            }),
            github: Some(GitHubConfig {
                client_id: GITHUB_CLIENT_ID.into(),
                client_secret: ClientSecret::Inline(CLIENT_SECRET.into()),
                authorize_url: format!("{}/github/login/oauth/authorize", self.base()),
                token_url: format!("{}/github/login/oauth/access_token", self.base()),
                api_url: format!("{}/github/api", self.base()),
            }),
            redirect_uris: vec![APP_REDIRECT.into()],
        };
    }

    /// Who is signed in at the stand-in Google from now on.
    pub fn google_as(&self, person: &Person) {
        self.inner.lock().unwrap().google_person = Some(person.clone());
    }

    pub fn github_as(&self, person: &Person) {
        self.inner.lock().unwrap().github_person = Some(person.clone());
    }

    /// The stand-in Google's next ID token goes wrong this way.
    pub fn fault_next_id_token(&self, fault: IdTokenFault) {
        self.inner.lock().unwrap().id_token_fault = Some(fault);
    }

    pub fn nonces_seen(&self) -> Vec<String> {
        self.inner.lock().unwrap().nonces.clone()
    }

    /// Visits a provider's authorization URL as the signed-in person's browser and returns the
    /// code and state it redirects back with.
    pub async fn approve(&self, url: &str) -> (String, String) {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let resp = client.get(url).send().await.expect("authorize");
        assert_eq!(resp.status(), 302, "the stand-in approves at once");
        let location = resp.headers()["location"].to_str().unwrap().to_string();
        let back = url::Url::parse(&location).unwrap();
        let param = |name: &str| {
            back.query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.to_string())
                .unwrap_or_else(|| panic!("{name} in {location}"))
        };
        (param("code"), param("state"))
    }
}

impl TestApp {
    /// An app with both stand-in providers configured.
    pub async fn spawn_with_providers(backend: super::Backend) -> (TestApp, StandInProviders) {
        let providers = StandInProviders::start().await;
        let app = TestApp::spawn_with(backend, |c| providers.configure(c)).await;
        (app, providers)
    }

    /// `GET /api/auth/oauth/{provider}/authorize` for the test client's redirect URI.
    pub async fn provider_authorize(&self, provider: &str) -> (String, String) {
        let path = format!(
            "/api/auth/oauth/{provider}/authorize?redirect_uri={}",
            url::form_urlencoded::byte_serialize(APP_REDIRECT.as_bytes()).collect::<String>()
        );
        let body = self.get(&path).await.assert_status(200).clone();
        (
            body["url"].as_str().unwrap().to_string(),
            body["state"].as_str().unwrap().to_string(),
        )
    }

    /// Starts a sign-in with `provider` and comes back with its code and state.
    pub async fn provider_code(
        &self,
        providers: &StandInProviders,
        provider: &str,
    ) -> (String, String) {
        let (url, state) = self.provider_authorize(provider).await;
        let (code, back) = providers.approve(&url).await;
        assert_eq!(back, state, "the provider sends the state back");
        (code, state)
    }

    /// `POST /api/auth/oauth/{provider}/login` with a fresh code.
    pub async fn provider_login(
        &self,
        providers: &StandInProviders,
        provider: &str,
    ) -> super::Resp {
        let (code, state) = self.provider_code(providers, provider).await;
        self.post(
            &format!("/api/auth/oauth/{provider}/login"),
            json!({ "code": code, "state": state }),
        )
        .await
    }

    /// Signs `person` up through `provider` with `username`; the login answer.
    pub async fn provider_sign_up(
        &self,
        providers: &StandInProviders,
        provider: &str,
        username: &str,
    ) -> Value {
        let offer = self.provider_login(providers, provider).await;
        let token = offer.assert_status(200)["signup_token"]
            .as_str()
            .expect("signup_required")
            .to_string();
        self.post(
            "/api/auth/oauth/complete-signup",
            json!({ "signup_token": token, "username": username }),
        )
        .await
        .assert_status(200)
        .clone()
    }
}

#[derive(serde::Deserialize)]
struct AuthorizeParams {
    response_type: String,
    client_id: String,
    redirect_uri: String,
    state: String,
    code_challenge: String,
    code_challenge_method: String,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    scope: String,
}

fn approve(
    providers: &StandInProviders,
    p: AuthorizeParams,
    person: Option<Person>,
    client_id: &str,
    scopes: &[&str],
) -> Response {
    let person = person.expect("the test chose who is signed in at the provider");
    assert_eq!(p.response_type, "code");
    assert_eq!(p.client_id, client_id);
    assert_eq!(p.code_challenge_method, "S256", "PKCE with S256");
    for scope in scopes {
        assert!(
            p.scope.split(' ').any(|s| s == *scope),
            "scope {scope} in {}",
            p.scope
        );
    }
    let code = uuid::Uuid::new_v4().simple().to_string();
    let mut inner = providers.inner.lock().unwrap();
    if let Some(nonce) = &p.nonce {
        inner.nonces.push(nonce.clone());
    }
    inner.codes.insert(
        code.clone(),
        Grant {
            client_id: p.client_id,
            redirect_uri: p.redirect_uri.clone(),
            challenge: p.code_challenge,
            nonce: p.nonce,
            person,
        },
    );
    let sep = if p.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let back = format!(
        "{}{sep}code={code}&state={}",
        p.redirect_uri,
        url::form_urlencoded::byte_serialize(p.state.as_bytes()).collect::<String>()
    );
    (StatusCode::FOUND, [(axum::http::header::LOCATION, back)]).into_response()
}

async fn authorize_google(
    State(s): State<StandInProviders>,
    Query(p): Query<AuthorizeParams>,
) -> Response {
    assert!(p.nonce.is_some(), "Google's request carries a nonce");
    let person = s.inner.lock().unwrap().google_person.clone();
    approve(&s, p, person, GOOGLE_CLIENT_ID, &["openid", "email"])
}

async fn authorize_github(
    State(s): State<StandInProviders>,
    Query(p): Query<AuthorizeParams>,
) -> Response {
    let person = s.inner.lock().unwrap().github_person.clone();
    approve(&s, p, person, GITHUB_CLIENT_ID, &["user:email"])
}

#[derive(serde::Deserialize)]
struct TokenForm {
    grant_type: String,
    code: String,
    redirect_uri: String,
    client_id: String,
    client_secret: String,
    code_verifier: String,
}

/// The grant of a token request, checked as a provider would; single use. A refusal is the
/// status and error body a provider answers.
fn redeem(
    s: &StandInProviders,
    f: &TokenForm,
    client_id: &str,
) -> Result<Grant, (StatusCode, Value)> {
    let refuse = |why: &str| {
        (
            StatusCode::BAD_REQUEST,
            json!({ "error": "invalid_grant", "error_description": why }),
        )
    };
    if f.grant_type != "authorization_code" {
        return Err(refuse("grant_type"));
    }
    if f.client_id != client_id || f.client_secret != CLIENT_SECRET {
        return Err((
            StatusCode::UNAUTHORIZED,
            json!({ "error": "invalid_client" }),
        ));
    }
    let grant = s
        .inner
        .lock()
        .unwrap()
        .codes
        .remove(&f.code)
        .ok_or_else(|| refuse("unknown or used code"))?;
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(f.code_verifier.as_bytes()));
    if grant.client_id != f.client_id
        || grant.redirect_uri != f.redirect_uri
        || grant.challenge != challenge
    {
        return Err(refuse("the code was issued for another request"));
    }
    Ok(grant)
}

fn token_form(body: &[u8]) -> TokenForm {
    let fields: serde_json::Map<String, Value> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    serde_json::from_value(Value::Object(fields)).expect("a token request form")
}

async fn google_discovery(State(s): State<StandInProviders>) -> Json<Value> {
    let base = format!("{}/google", s.base());
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

async fn google_jwks(State(s): State<StandInProviders>) -> Json<Value> {
    let keys: Vec<Value> = s
        .keys
        .jwks_keys()
        .into_iter()
        .filter(|k| k["kty"] == "RSA")
        .collect();
    Json(json!({ "keys": keys }))
}

async fn google_token(State(s): State<StandInProviders>, body: Bytes) -> Response {
    let f = token_form(&body);
    let grant = match redeem(&s, &f, GOOGLE_CLIENT_ID) {
        Ok(g) => g,
        Err(refusal) => return (refusal.0, Json(refusal.1)).into_response(),
    };
    let fault = s.inner.lock().unwrap().id_token_fault.take();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let p = &grant.person;
    let mut claims = json!({
        "iss": format!("{}/google", s.base()),
        "aud": GOOGLE_CLIENT_ID,
        "azp": GOOGLE_CLIENT_ID,
        "sub": p.subject,
        "email": p.email,
        "email_verified": p.verified,
        "name": p.name,
        "nonce": grant.nonce,
        "iat": now,
        "exp": now + 3600,
    });
    match &fault {
        Some(IdTokenFault::WrongAudience) => {
            claims["aud"] = json!("someone-else.apps.googleusercontent.com");
            claims["azp"] = json!("someone-else.apps.googleusercontent.com");
        }
        Some(IdTokenFault::Nonce(n)) => claims["nonce"] = json!(n),
        _ => {}
    }
    let mut id_token = s.keys.sign(IdTokenAlg::Rs256, &claims).expect("sign");
    match fault {
        Some(IdTokenFault::Forged) => {
            let parts: Vec<&str> = id_token.split('.').collect();
            claims["email"] = json!("victim@mail.test");
            let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
            id_token = format!("{}.{payload}.{}", parts[0], parts[2]);
        }
        Some(IdTokenFault::Unsigned) => {
            let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
            let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
            id_token = format!("{header}.{payload}.");
        }
        _ => {}
    }
    Json(json!({
        "access_token": uuid::Uuid::new_v4().simple().to_string(),
        "token_type": "Bearer",
        "expires_in": 3599,
        "scope": "openid email profile",
        "id_token": id_token,
    }))
    .into_response()
}

async fn github_token(
    State(s): State<StandInProviders>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = token_form(&body);
    assert_eq!(
        headers.get("accept").and_then(|v| v.to_str().ok()),
        Some("application/json"),
        "GitHub answers JSON only when asked"
    );
    let grant = match redeem(&s, &f, GITHUB_CLIENT_ID) {
        Ok(g) => g,
        // GitHub answers a bad code with 200 and an error object.
        Err(_) => {
            return Json(json!({ "error": "bad_verification_code" })).into_response();
        }
    };
    let token = format!("gho_{}", uuid::Uuid::new_v4().simple());
    s.inner
        .lock()
        .unwrap()
        .github_tokens
        .insert(token.clone(), grant.person);
    Json(json!({ "access_token": token, "token_type": "bearer", "scope": "read:user,user:email" }))
        .into_response()
}

fn github_person(s: &StandInProviders, headers: &HeaderMap) -> Option<Person> {
    let token = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    s.inner.lock().unwrap().github_tokens.get(token).cloned()
}

async fn github_user(State(s): State<StandInProviders>, headers: HeaderMap) -> Response {
    match github_person(&s, &headers) {
        Some(p) => Json(json!({
            "id": p.subject.parse::<u64>().unwrap(),
            "login": p.login,
            "name": p.name,
            "email": null,
        }))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn github_emails(State(s): State<StandInProviders>, headers: HeaderMap) -> Response {
    match github_person(&s, &headers) {
        Some(p) => Json(json!([
            { "email": format!("old.{}", p.email), "primary": false, "verified": true, "visibility": null },
            { "email": p.email, "primary": true, "verified": p.verified, "visibility": "private" },
        ]))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}
