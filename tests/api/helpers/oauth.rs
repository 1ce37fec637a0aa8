//! OAuth: registered apps, authorization with PKCE, the token endpoint.

use serde_json::json;

use super::{assert_keys, Resp, TestApp};

/// An operator app registered through the API, with what its developer keeps.
#[derive(Clone, Debug)]
pub struct TestClient {
    pub id: String,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uri: String,
    pub owner_token: String,
}

/// A PKCE verifier and its S256 challenge.
pub fn pkce() -> (String, String) {
    use base64::Engine;
    use sha2::Digest;
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Tokens from the token endpoint.
#[derive(Clone, Debug)]
pub struct OAuthTokens {
    pub access_token: String,
    pub refresh_token: String,
    pub session_token: Option<String>,
}

impl TestApp {
    /// A verified owner registers an app with these scopes; approved by an admin if asked.
    pub async fn new_client(&self, scopes: &[&str], approved: bool) -> TestClient {
        self.new_client_with(scopes, approved, json!({})).await
    }

    /// As [`TestApp::new_client`], `extra` fields added to the registration.
    pub async fn new_client_with(
        &self,
        scopes: &[&str],
        approved: bool,
        extra: serde_json::Value,
    ) -> TestClient {
        let owner = self.new_verified_user().await;
        let owner_token = self.login_ok(&owner).await.token;
        let redirect_uri = extra["redirect_uris"][0]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| {
                format!("https://{}.example/callback", uuid::Uuid::new_v4().simple())
            });
        let mut body = json!({
            "app_name": "Test App",
            "app_description": "An app for tests",
            "redirect_uris": [redirect_uri],
            "allowed_scopes": scopes,
        });
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let resp = self
            .post_auth("/api/oauth/apps", &owner_token, Some(body))
            .await;
        let app = resp.assert_status(201)["app"].clone();
        let client = TestClient {
            id: app["id"].as_str().unwrap().to_string(),
            client_id: app["client_id"].as_str().unwrap().to_string(),
            client_secret: app["client_secret"].as_str().unwrap().to_string(),
            redirect_uri,
            owner_token,
        };
        // Scopes that need review: approve every pending request of the app.
        let pending = self
            .get_auth(
                &format!("/api/oauth/my-apps/{}/scope-requests", client.id),
                &client.owner_token,
            )
            .await;
        let pending: Vec<String> = pending
            .assert_status(200)
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["status"] == "pending")
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        if approved || !pending.is_empty() {
            let admin = self.admin_token().await;
            for id in pending {
                self.post_auth(
                    &format!("/api/admin/scope-requests/{id}/approve"),
                    &admin,
                    None,
                )
                .await
                .assert_status(200);
            }
            if approved {
                self.post_auth(
                    &format!("/api/admin/apps/{}/approve", client.id),
                    &admin,
                    None,
                )
                .await
                .assert_status(200);
            }
        }
        client
    }

    /// `GET /api/oauth/authorize` with these query parameters, as the signed-in user.
    pub async fn authorize(&self, token: &str, query: &[(&str, &str)]) -> Resp {
        let req = self
            .client
            .get(self.url("/api/oauth/authorize"))
            .query(query)
            .bearer_auth(token);
        Self::read(req.send().await.expect("request")).await
    }

    /// A code for `user_token` to `client` with PKCE; returns the code and the verifier.
    pub async fn code_for(
        &self,
        user_token: &str,
        client: &TestClient,
        scope: &str,
    ) -> (String, String) {
        let (verifier, challenge) = pkce();
        let resp = self
            .authorize(
                user_token,
                &[
                    ("client_id", &client.client_id),
                    ("response_type", "code"),
                    ("redirect_uri", &client.redirect_uri),
                    ("scope", scope),
                    ("state", "xyz"),
                    ("code_challenge", &challenge),
                    ("code_challenge_method", "S256"),
                ],
            )
            .await;
        let code = resp.assert_status(200)["code"]
            .as_str()
            .unwrap()
            .to_string();
        (code, verifier)
    }

    /// `POST /api/oauth/token` with form parameters.
    pub async fn token_form(&self, params: &[(&str, &str)]) -> Resp {
        let req = self.client.post(self.url("/api/oauth/token")).form(params);
        Self::read(req.send().await.expect("request")).await
    }

    pub async fn token_form_owned(&self, params: Vec<(&str, String)>) -> Resp {
        let req = self.client.post(self.url("/api/oauth/token")).form(&params);
        Self::read(req.send().await.expect("request")).await
    }

    /// Exchanges a code (client secret in the body).
    pub async fn exchange(&self, client: &TestClient, code: &str, verifier: &str) -> Resp {
        self.token_form(&[
            ("grant_type", "authorization_code"),
            ("client_id", &client.client_id),
            ("client_secret", &client.client_secret),
            ("code", code),
            ("redirect_uri", &client.redirect_uri),
            ("code_verifier", verifier),
        ])
        .await
    }

    /// The whole flow for a user: authorize, exchange.
    pub async fn oauth_tokens(
        &self,
        user_token: &str,
        client: &TestClient,
        scope: &str,
    ) -> OAuthTokens {
        let (code, verifier) = self.code_for(user_token, client, scope).await;
        let resp = self.exchange(client, &code, &verifier).await;
        let body = resp.assert_status(200);
        OAuthTokens {
            access_token: body["access_token"].as_str().unwrap().to_string(),
            refresh_token: body["refresh_token"].as_str().unwrap().to_string(),
            session_token: body["session_token"].as_str().map(str::to_string),
        }
    }

    pub async fn refresh_oauth(&self, client: &TestClient, refresh_token: &str) -> Resp {
        self.token_form(&[
            ("grant_type", "refresh_token"),
            ("client_id", &client.client_id),
            ("client_secret", &client.client_secret),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// `POST /api/oauth/token/verify`.
    pub async fn introspect(&self, token: &str) -> Resp {
        self.post("/api/oauth/token/verify", json!({ "token": token }))
            .await
    }

    /// Asserts a token is inactive, and that nothing but the reason is told.
    #[track_caller]
    pub fn assert_inactive(resp: &Resp) {
        let body = resp.assert_status(200);
        assert_eq!(body["active"], false, "{body}");
        assert_keys(body, &["active", "reason"]);
    }
}
