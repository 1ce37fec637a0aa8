//! `DELETE /api/user/me`: the account and its personal data go, every token dies, the email
//! and username are free again; ledgers elsewhere still add up.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{TestApp, TestUser};
use buddo_shared::store::{Query, SortKey};

const ME: &str = "/api/user/me";

/// What is left in a user's partition.
async fn partition(app: &TestApp, user_id: &str) -> Vec<buddo_shared::store::Item> {
    app.state
        .table
        .query(
            &Query::partition(buddo_shared::keys::user_pk(user_id))
                .sk(SortKey::Any)
                .limit(1000),
        )
        .await
        .unwrap()
        .items
}

fn sort_key(item: &buddo_shared::store::Item) -> &str {
    item.get("SK").and_then(Value::as_str).unwrap_or_default()
}

backend_tests! {
    async fn deleting_an_account_removes_it_and_every_way_in(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read", "points:read", "points:transfer"], true).await;
        let user = app.new_user().await;
        let login = app.login_ok(&user).await;
        let token = login.token.clone();
        app.patch_auth("/api/user/profile", &token, json!({ "display_name": "Soon Gone", "bio": "bye" })).await.assert_status(200);
        app.patch_auth("/api/user/settings", &token, json!({ "theme": "dark" })).await.assert_status(200);
        let oauth = app.oauth_tokens(&token, &client, "profile:read points:read points:transfer").await;

        // Points to and from a friend, with descriptions.
        let friend = app.new_user().await;
        let friend_jwt = app.login_ok(&friend).await.token;
        let friend_oauth = app.oauth_tokens(&friend_jwt, &client, "points:transfer").await;
        app.grant_points(&user, 100).await;
        app.grant_points(&friend, 50).await;
        app.post_auth("/api/external/points/transfer", &oauth.access_token, Some(json!({
            "amount": 30, "to_user_id": friend.id, "description": "for lunch with Soon Gone",
        }))).await.assert_status(200);
        app.post_auth("/api/external/points/transfer", &friend_oauth.access_token, Some(json!({
            "amount": 10, "to_user_id": user.id, "description": "half back",
        }))).await.assert_status(200);

        // The password is required, and must be right.
        app.delete_with(ME, &token, json!({})).await.assert_error(400, "validation_failed");
        app.delete_with(ME, &token, json!({ "password": "not it at all" })).await.assert_error(400, "invalid_password");
        app.get_auth("/api/user/profile", &token).await.assert_status(200);

        let resp = app.delete_with(ME, &token, json!({ "password": user.password })).await;
        assert!(resp.assert_status(200)["message"].is_string());

        // Every way in is closed.
        app.get_auth("/api/user/profile", &token).await.assert_error(401, "invalid_token");
        app.post("/api/auth/refresh", json!({ "refresh_token": login.refresh_token })).await.assert_error(401, "invalid_refresh_token");
        app.login(&user.email, &user.password, None).await.assert_error(401, "invalid_credentials");
        TestApp::assert_inactive(&app.introspect(&oauth.access_token).await);
        app.get_auth("/api/external/user", &oauth.access_token).await.assert_error(401, "invalid_token");
        let refreshed = app.refresh_oauth(&client, &oauth.refresh_token).await;
        assert_eq!(refreshed.status, 400, "{}", refreshed.body);
        assert_eq!(refreshed.body["error"], "invalid_grant");
        if let Some(session) = &oauth.session_token {
            app.post("/api/session/refresh", json!({ "session_token": session })).await.assert_error(401, "invalid_session_token");
        }

        // Nobody finds them; the name and address are free.
        app.get(&format!("/api/users/{}", user.username)).await.assert_error(404, "user_not_found");
        app.get(&format!("/api/users/id/{}", user.id)).await.assert_error(404, "user_not_found");
        let found = app.get(&format!("/api/users/search?q={}", user.username)).await;
        assert_eq!(found.assert_status(200)["users"], json!([]));
        let free = app.get(&format!("/api/users/{}/available", user.username)).await;
        assert_eq!(free.assert_status(200)["available"], true);
        let again = app.register(&user.email, &user.username, "a different secret").await;
        let again = again.assert_status(201)["user"].clone();
        assert_ne!(again["id"], user.id.as_str());
        assert_eq!(again["points"], 0);

        // Only anonymised ledger entries stay: amounts, kinds and the other side, no text.
        let left = partition(&app, &user.id).await;
        assert!(!left.is_empty());
        for item in &left {
            assert!(sort_key(item).starts_with(buddo_shared::keys::LEDGER_PREFIX), "left behind: {item:?}");
            assert!(item.get("description").is_none(), "{item:?}");
        }
        // The friend's side still adds up and keeps its own description.
        let (balance, ledger) = app.balance_and_ledger(&friend.id).await;
        assert_eq!((balance, ledger), (70, 70));
        let history = app.get_auth("/api/user/points/history", &friend_jwt).await;
        let entries = history.assert_status(200)["entries"].as_array().unwrap().clone();
        assert!(entries.iter().any(|e| e["counterparty"] == user.id.as_str() && e["amount"] == 30));
        assert!(entries.iter().any(|e| e["description"] == "half back"));
    }

    async fn with_totp_on_a_code_is_required_too(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        let token = app.login_ok(&user).await.token;
        let (secret, recovery) = app.enable_totp(&token).await;
        let resp = app.delete_with(ME, &token, json!({ "password": user.password })).await;
        resp.assert_error(400, "validation_failed");
        assert!(resp.body["fields"]["totp_code"].is_string());
        app.next_totp_step();
        let wrong = if app.totp_now(&secret) == "000000" { "111111" } else { "000000" };
        app.delete_with(ME, &token, json!({ "password": user.password, "totp_code": wrong })).await.assert_error(400, "invalid_code");
        app.delete_with(ME, &token, json!({ "password": user.password, "totp_code": recovery[0] })).await.assert_status(200);
        app.login(&user.email, &user.password, None).await.assert_error(401, "invalid_credentials");
    }

    async fn two_deletions_at_once_delete_once(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let token = app.login_ok(&user).await.token;
        let body = json!({ "password": user.password });
        let (a, b) = tokio::join!(app.delete_with(ME, &token, body.clone()), app.delete_with(ME, &token, body.clone()));
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort_unstable();
        assert_eq!(statuses[0], 200, "{} / {}", a.body, b.body);
        assert!(matches!(statuses[1], 401 | 409), "{} / {}", a.body, b.body);
        assert!(partition(&app, &user.id).await.is_empty());
        app.register(&user.email, &user.username, "a different secret").await.assert_status(201);
    }

    async fn a_deleted_user_cannot_receive_transfers(backend) {
        let app = TestApp::spawn(backend).await;
        let sender = app.operated(&["points:transfer"]).await;
        app.grant_points(&sender.user, 10).await;
        let gone: TestUser = app.new_user().await;
        let gone_token = app.login_ok(&gone).await.token;
        app.delete_with(ME, &gone_token, json!({ "password": gone.password })).await.assert_status(200);
        app.post_auth("/api/external/points/transfer", &sender.access_token, Some(json!({ "amount": 5, "to_user_id": gone.id })))
            .await.assert_error(404, "recipient_not_found");
        assert_eq!(app.balance_and_ledger(&sender.user.id).await, (10, 10));
    }
}
