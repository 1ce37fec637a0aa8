//! What an operator app does for a user: scopes granted, points, campaigns.

use serde_json::{json, Value};

use super::{Resp, TestApp, TestClient, TestUser};

/// Every scope an operator app can hold.
pub const ALL_SCOPES: [&str; 6] = [
    "profile:read",
    "points:read",
    "points:spend",
    "points:transfer",
    "app:balance:read",
    "deploy:manage",
];

/// A user signed in, an app, and the app's access token for the user.
pub struct Operated {
    pub user: TestUser,
    pub jwt: String,
    pub client: TestClient,
    pub access_token: String,
    pub session_token: Option<String>,
}

impl TestApp {
    /// An approved app with `scopes`, and a user who granted them to it.
    pub async fn operated(&self, scopes: &[&str]) -> Operated {
        let client = self.new_client(scopes, true).await;
        self.operated_by(&client, scopes).await
    }

    /// A new user who granted `scopes` to an existing app.
    pub async fn operated_by(&self, client: &TestClient, scopes: &[&str]) -> Operated {
        let user = self.new_user().await;
        let jwt = self.login_ok(&user).await.token;
        let tokens = self.oauth_tokens(&jwt, client, &scopes.join(" ")).await;
        Operated {
            user,
            jwt,
            client: client.clone(),
            access_token: tokens.access_token,
            session_token: tokens.session_token,
        }
    }

    /// An admin grants the user points.
    pub async fn grant_points(&self, user: &TestUser, amount: i64) {
        let admin = self.admin_token().await;
        self.post_auth(
            &format!("/api/admin/users/{}/points", user.id),
            &admin,
            Some(json!({ "amount": amount, "reason": "test balance" })),
        )
        .await
        .assert_status(200);
    }

    /// An admin creates a campaign; its id.
    pub async fn campaign(&self, admin: &str, body: Value) -> String {
        let resp = self
            .post_auth("/api/admin/campaigns", admin, Some(body))
            .await;
        resp.assert_status(201)["campaign"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A request with an `Idempotency-Key`.
    pub async fn post_idempotent(&self, path: &str, token: &str, key: &str, body: Value) -> Resp {
        let req = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .header("idempotency-key", key)
            .json(&body);
        Self::read(req.send().await.expect("request")).await
    }

    /// The user's balance and what their ledger adds up to.
    pub async fn balance_and_ledger(&self, user_id: &str) -> (i64, i64) {
        let user = buddo_shared::domain::identity::users::get(self.state.table.as_ref(), user_id)
            .await
            .unwrap()
            .unwrap();
        let mut sum = 0;
        let mut cursor = None;
        loop {
            let page = self
                .state
                .table
                .query(
                    &buddo_shared::store::Query::partition(buddo_shared::keys::user_pk(user_id))
                        .sk(buddo_shared::store::SortKey::BeginsWith(
                            buddo_shared::keys::LEDGER_PREFIX.into(),
                        ))
                        .limit(500)
                        .cursor(cursor),
                )
                .await
                .unwrap();
            sum += page
                .items
                .iter()
                .map(|e| e["amount"].as_i64().unwrap())
                .sum::<i64>();
            match page.cursor {
                Some(c) => cursor = Some(c),
                None => return (user.points, sum),
            }
        }
    }
}
