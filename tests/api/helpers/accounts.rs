//! Accounts: registration, sign-in, mail, TOTP and admins.

use std::sync::atomic::{AtomicU32, Ordering};

use buddo_shared::clock::Clock;
use buddo_shared::mail::{self, OutboxMessage};
use serde_json::{json, Value};

use super::{Resp, TestApp};

/// A registered user and the password it was registered with.
#[derive(Clone, Debug)]
pub struct TestUser {
    pub id: String,
    pub username: String,
    pub email: String,
    pub password: String,
    pub referral_code: String,
}

/// Tokens from a login.
#[derive(Clone, Debug)]
pub struct Session {
    pub token: String,
    pub refresh_token: String,
}

static USER_SEQ: AtomicU32 = AtomicU32::new(0);

impl TestApp {
    pub async fn register(&self, email: &str, username: &str, password: &str) -> Resp {
        self.post(
            "/api/auth/register",
            json!({ "email": email, "username": username, "password": password }),
        )
        .await
    }

    /// Registers a fresh user with a unique name.
    pub async fn new_user(&self) -> TestUser {
        self.new_user_referred(None).await
    }

    pub async fn new_user_referred(&self, referral_code: Option<&str>) -> TestUser {
        let n = USER_SEQ.fetch_add(1, Ordering::SeqCst);
        let username = format!(
            "user{n}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..6]
        );
        let email = format!("{username}@example.com");
        let password = format!("pw-{username}-secret");
        let mut body = json!({ "email": email, "username": username, "password": password });
        if let Some(code) = referral_code {
            body["referral_code"] = json!(code);
        }
        let resp = self.post("/api/auth/register", body).await;
        let user = resp.assert_status(201)["user"].clone();
        TestUser {
            id: user["id"].as_str().unwrap().to_string(),
            username,
            email,
            password,
            referral_code: user["referral_code"].as_str().unwrap().to_string(),
        }
    }

    pub async fn login(&self, email: &str, password: &str, totp_code: Option<&str>) -> Resp {
        let mut body = json!({ "email": email, "password": password });
        if let Some(code) = totp_code {
            body["totp_code"] = json!(code);
        }
        self.post("/api/auth/login", body).await
    }

    /// A login from another client address (needs `trust_forwarded_for` in the config).
    pub async fn login_from(&self, ip: &str, email: &str, password: &str) -> Resp {
        let req = self
            .client
            .post(self.url("/api/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&json!({ "email": email, "password": password }));
        Self::read(req.send().await.expect("request")).await
    }

    /// A registered user whose address is verified.
    pub async fn new_verified_user(&self) -> TestUser {
        let user = self.new_user().await;
        self.verify_email_of(&user).await;
        user
    }

    pub async fn login_ok(&self, user: &TestUser) -> Session {
        let resp = self.login(&user.email, &user.password, None).await;
        session_of(resp.assert_status(200))
    }

    pub async fn me(&self, token: &str) -> Resp {
        self.get_auth("/api/auth/me", token).await
    }

    // ---- mail ----

    /// Queued (not yet delivered) mail to this address, oldest first.
    pub async fn mails_to(&self, email: &str) -> Vec<OutboxMessage> {
        mail::pending(self.state.table.as_ref())
            .await
            .expect("outbox")
            .into_iter()
            .filter(|m| m.to == email)
            .collect()
    }

    /// The tokens of every mail to `email` whose link has this path, oldest first.
    pub async fn tokens_from_mail(&self, email: &str, link_path: &str) -> Vec<String> {
        let prefix = format!("{}{}?token=", self.state.config.public_web_url, link_path);
        self.mails_to(email)
            .await
            .iter()
            .filter_map(|m| {
                let text = m.text.as_deref()?;
                let start = text.find(&prefix)? + prefix.len();
                Some(
                    text[start..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                        .collect(),
                )
            })
            .collect()
    }

    /// The token in the newest mail to `email` whose link has this path.
    pub async fn token_from_mail(&self, email: &str, link_path: &str) -> String {
        self.tokens_from_mail(email, link_path)
            .await
            .pop()
            .unwrap_or_else(|| panic!("no mail to {email} with a {link_path} link"))
    }

    pub async fn verify_email_of(&self, user: &TestUser) {
        let token = self.token_from_mail(&user.email, "/verify-email").await;
        self.post("/api/auth/verify-email", json!({ "token": token }))
            .await
            .assert_status(200);
    }

    // ---- TOTP ----

    /// Sets up and enables TOTP; returns the secret and the recovery codes.
    pub async fn enable_totp(&self, token: &str) -> (String, Vec<String>) {
        let setup = self.post_auth("/api/auth/totp/setup", token, None).await;
        let secret = setup.assert_status(200)["secret"]
            .as_str()
            .unwrap()
            .to_string();
        let code = self.totp_now(&secret);
        let enabled = self
            .post_auth(
                "/api/auth/totp/enable",
                token,
                Some(json!({ "code": code })),
            )
            .await;
        let codes = enabled.assert_status(200)["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect();
        (secret, codes)
    }

    /// The TOTP code for the app's current time.
    pub fn totp_now(&self, secret: &str) -> String {
        buddo_shared::totp::code_at(secret, self.clock.now().unix_timestamp() as u64).unwrap()
    }

    /// Moves the clock to the next TOTP step so a new code can be used.
    pub fn next_totp_step(&self) {
        self.clock.advance(30);
    }

    /// Makes a user an admin (as `buddo admin promote` does).
    pub async fn promote(&self, user: &TestUser) {
        let email = buddo_shared::domain::input::Email::parse("email", &user.email).unwrap();
        buddo_shared::domain::identity::accounts::promote_admin(&self.state, &email)
            .await
            .expect("promote");
    }

    /// A signed-in admin's token.
    pub async fn admin_token(&self) -> String {
        let admin = self.new_user().await;
        self.promote(&admin).await;
        self.login_ok(&admin).await.token
    }
}

pub fn session_of(body: &Value) -> Session {
    Session {
        token: body["token"].as_str().expect("token").to_string(),
        refresh_token: body["refresh_token"]
            .as_str()
            .expect("refresh_token")
            .to_string(),
    }
}
