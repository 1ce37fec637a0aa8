//! Events are written only for the types some enabled endpoint wants, and every way a login
//! session ends is announced.

use buddo_shared::keys;
use buddo_shared::store::{self, Query};
use serde_json::{json, Value};

use super::receiver::Receiver;
use super::{deliver, register, spawn};
use crate::backend_tests;
use crate::helpers::TestApp;

const ADMIN: &str = "/api/admin/webhooks";

/// The events written and not fanned out yet, by type.
async fn pending_events(app: &TestApp) -> Vec<String> {
    let mut types = Vec::new();
    for shard in 0..buddo_shared::domain::webhooks::DUE_SHARDS {
        let due = app
            .state
            .table
            .query(&Query::gsi1(keys::webhook_due_shard(shard)))
            .await
            .unwrap();
        for item in due.items {
            let (pk, sk) = (
                item[store::PK].as_str().unwrap(),
                item[store::SK].as_str().unwrap(),
            );
            if keys::as_webhook_event(pk, sk).is_some() {
                types.push(item["type"].as_str().unwrap().to_string());
            }
        }
    }
    types
}

/// The `session.revoked` events the receiver got for `user_id`, their data.
fn revoked(receiver: &Receiver, user_id: &str) -> Vec<Value> {
    receiver
        .of_type("session.revoked")
        .iter()
        .filter(|r| r.user_id() == user_id)
        .map(|r| r.json()["data"].clone())
        .collect()
}

backend_tests! {
    async fn events_are_written_only_while_an_endpoint_wants_them(backend) {
        let app = spawn(backend).await;
        let admin = app.admin_token().await;
        let user = app.new_user().await;
        app.grant_points(&user, 5).await;
        assert_eq!(pending_events(&app).await, Vec::<String>::new(), "no endpoint, no events");

        let receiver = Receiver::start().await;
        let (id, _) = register(&app, ADMIN, &admin, &receiver.url(), &["points.*"]).await;
        let other = app.new_user().await;
        app.grant_points(&other, 7).await;
        assert_eq!(pending_events(&app).await, vec!["points.credited".to_string()]);
        deliver(&app).await;
        assert_eq!(receiver.of_type("points.credited").len(), 1);
        assert!(receiver.of_type("user.created").is_empty());

        // Disabled, it wants nothing; enabled for sign-ups only, it wants those.
        app.patch_auth(&format!("{ADMIN}/{id}"), &admin, json!({ "enabled": false })).await.assert_status(200);
        app.grant_points(&other, 7).await;
        assert_eq!(pending_events(&app).await, Vec::<String>::new());
        app.patch_auth(&format!("{ADMIN}/{id}"), &admin, json!({ "enabled": true, "event_types": ["user.created"] })).await.assert_status(200);
        app.grant_points(&other, 7).await;
        app.new_user().await;
        let pending = pending_events(&app).await;
        assert!(!pending.is_empty() && pending.iter().all(|t| t == "user.created"), "{pending:?}");
        deliver(&app).await;

        // Two endpoints want sign-ups: deleting one leaves them wanted, deleting both does not.
        let second = Receiver::start().await;
        let (second_id, _) = register(&app, ADMIN, &admin, &second.url(), &["user.*"]).await;
        app.delete_auth(&format!("{ADMIN}/{id}"), &admin).await.assert_status(200);
        app.new_user().await;
        assert_eq!(pending_events(&app).await, vec!["user.created".to_string()]);
        deliver(&app).await;
        app.delete_auth(&format!("{ADMIN}/{second_id}"), &admin).await.assert_status(200);
        app.new_user().await;
        assert_eq!(pending_events(&app).await, Vec::<String>::new());
    }

    async fn every_way_sessions_end_is_announced(backend) {
        let app = spawn(backend).await;
        let receiver = Receiver::start().await;
        let admin = app.admin_token().await;
        register(&app, ADMIN, &admin, &receiver.url(), &["session.revoked"]).await;
        let user = app.new_user().await;
        let kept = app.login_ok(&user).await;
        let copied = app.login_ok(&user).await;

        // A refresh token used twice: that session ends.
        app.post("/api/auth/refresh", json!({ "refresh_token": copied.refresh_token })).await.assert_status(200);
        app.post("/api/auth/refresh", json!({ "refresh_token": copied.refresh_token })).await.assert_error(401, "invalid_refresh_token");
        // A password change ends every other session.
        app.post_auth("/api/auth/change-password", &kept.token, Some(json!({ "current_password": user.password, "new_password": "brand new secret" })))
            .await
            .assert_status(200);
        // An admin disabling the account ends them all.
        app.post_auth(&format!("/api/admin/users/{}/disable", user.id), &admin, None).await.assert_status(200);
        deliver(&app).await;

        let data = revoked(&receiver, &user.id);
        assert_eq!(data.len(), 3, "{data:?}");
        let reused = data.iter().find(|d| d["reason"] == "refresh_token_reused").expect("reuse");
        assert_eq!(reused["scope"], "one");
        assert!(reused["session_id"].is_string());
        let changed = data.iter().find(|d| d["reason"] == "password_changed").expect("change");
        assert_eq!(changed["scope"], "others");
        assert!(changed["kept_session_id"].is_string());
        let disabled = data.iter().find(|d| d["reason"] == "account_disabled").expect("disabling");
        assert_eq!(disabled["scope"], "all");
        assert!(disabled["kept_session_id"].is_null());
    }

    async fn racing_endpoint_changes_keep_the_counts_right(backend) {
        let app = spawn(backend).await;
        let admin = app.admin_token().await;
        let receiver = Receiver::start().await;
        let (id, _) = register(&app, ADMIN, &admin, &receiver.url(), &["user.created"]).await;
        let path = format!("{ADMIN}/{id}");
        let changes = (0..8).map(|i| {
            let body = match i % 3 {
                0 => json!({ "enabled": i % 2 == 0 }),
                1 => json!({ "event_types": ["user.*", "points.*"] }),
                _ => json!({ "event_types": ["grant.created"], "enabled": true }),
            };
            app.patch_auth(&path, &admin, body)
        });
        let answers = futures::future::join_all(changes).await;
        assert!(answers.iter().all(|a| a.status == 200 || a.status == 409), "{:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
        assert!(answers.iter().any(|a| a.status == 200));
        app.delete_auth(&path, &admin).await.assert_status(200);

        // Whatever won, nothing is wanted once it is gone.
        let summary = app.state.table.get(&keys::webhook_listeners()).await.unwrap().expect("the summary");
        let counts: Vec<(&String, &Value)> = summary.iter().filter(|(k, _)| k.starts_with("wanted_")).collect();
        assert!(!counts.is_empty());
        assert!(counts.iter().all(|(_, n)| n.as_i64() == Some(0)), "{counts:?}");
        app.new_user().await;
        assert_eq!(pending_events(&app).await, Vec::<String>::new());
    }
}
