//! Subscriptions paid in points: plans, subscribing, changing, pausing and canceling, and the
//! renewals that charge each period once.

mod plans;
mod renewals;
mod subscriptions;

use buddo_shared::keys;
use buddo_shared::store::{Query, SortKey};
use serde_json::{json, Value};

use crate::helpers::{TestApp, TestUser};

const DAY: i64 = 24 * 3600;

impl TestApp {
    /// An admin creates a plan; its id.
    pub async fn plan(&self, id: &str, price: i64, period_days: i64) -> String {
        let admin = self.admin_token().await;
        self.post_auth(
            "/api/admin/plans",
            &admin,
            Some(json!({
                "id": id,
                "name": format!("Plan {id}"),
                "price": price,
                "period_days": period_days,
                "features": ["no ads"],
            })),
        )
        .await
        .assert_status(201);
        id.to_string()
    }

    /// A user with `points` points, signed in: the user and a token.
    pub async fn user_with_points(&self, points: i64) -> (TestUser, String) {
        let user = self.new_user().await;
        if points > 0 {
            self.grant_points(&user, points).await;
        }
        let token = self.login_ok(&user).await.token;
        (user, token)
    }

    /// Subscribes the user to the plan; the subscription.
    pub async fn subscribe(&self, token: &str, plan: &str) -> Value {
        self.post_auth(
            "/api/user/subscriptions",
            token,
            Some(json!({ "plan_id": plan })),
        )
        .await
        .assert_status(201)["subscription"]
            .clone()
    }

    /// Runs the renewals as the billing function does.
    pub async fn renew(&self) -> buddo_shared::domain::billing::renewals::RenewalReport {
        buddo_billing::handle(&self.state).await.expect("renewals")
    }

    /// The user's subscriptions as they read them (a fresh login: time moves in these tests).
    pub async fn subscriptions_of(&self, user: &TestUser) -> Vec<Value> {
        let token = self.login_ok(user).await.token;
        self.get_auth("/api/user/subscriptions", &token)
            .await
            .assert_status(200)["subscriptions"]
            .as_array()
            .unwrap()
            .clone()
    }

    /// The user's ledger entries for subscriptions, oldest first.
    pub async fn subscription_charges(&self, user: &TestUser) -> Vec<Value> {
        let page = self
            .state
            .table
            .query(
                &Query::partition(keys::user_pk(&user.id))
                    .sk(SortKey::BeginsWith(keys::LEDGER_PREFIX.into()))
                    .limit(1000),
            )
            .await
            .unwrap();
        page.items
            .into_iter()
            .map(Value::Object)
            .filter(|e| e["kind"] == "subscription")
            .collect()
    }
}
