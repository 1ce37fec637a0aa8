//! Registering and managing operator apps.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{assert_keys, TestApp};

backend_tests! {
    async fn registering_an_app_shows_the_secret_once(backend) {
        let app = TestApp::spawn(backend).await;
        let owner = app.new_verified_user().await;
        let token = app.login_ok(&owner).await.token;
        let resp = app.post_auth("/api/oauth/apps", &token, Some(json!({
            "app_name": "  Quest Log ",
            "redirect_uris": ["https://quest.example/cb", "http://127.0.0.1:8080/cb"],
            "allowed_scopes": ["profile:read", "points:read"],
            "website_url": "https://quest.example",
        }))).await;
        let created = resp.assert_status(201)["app"].clone();
        assert_keys(&created, &["allowed_scopes", "app_description", "app_name", "client_id", "client_secret", "id", "inserted_at", "is_approved", "logo_url", "redirect_uris", "website_url"]);
        assert_eq!(created["app_name"], "Quest Log");
        assert_eq!(created["is_approved"], false);
        assert_eq!(created["allowed_scopes"], json!(["profile:read", "points:read"]));
        assert_eq!(created["logo_url"], serde_json::Value::Null);
        let secret = created["client_secret"].as_str().unwrap();
        assert!(secret.len() >= 43);

        let mine = app.get_auth("/api/oauth/my-apps", &token).await;
        let list = mine.assert_status(200).as_array().unwrap().clone();
        assert_eq!(list.len(), 1);
        assert!(list[0].get("client_secret").is_none(), "never shown again");
        assert_eq!(list[0]["id"], created["id"]);
        // The stored secret is a hash.
        let stored = buddo_shared::domain::oauth::apps::get(app.state.table.as_ref(), created["id"].as_str().unwrap()).await.unwrap().unwrap();
        assert_ne!(stored.client_secret_hash.as_deref(), Some(secret));
        assert!(stored.secret_matches(secret));

        // Public metadata: never the secret, never the owner.
        let public = app.client.get(app.url(&format!("/api/oauth/apps/{}", created["client_id"].as_str().unwrap()))).send().await.unwrap();
        let public = TestApp::read(public).await;
        assert_eq!(public.assert_status(200), &json!({ "client_id": created["client_id"], "name": "Quest Log" }));
        let missing = TestApp::read(app.client.get(app.url("/api/oauth/apps/nope")).send().await.unwrap()).await;
        missing.assert_error(404, "app_not_found");
    }

    async fn reviewed_scopes_wait_for_an_admin(backend) {
        let app = TestApp::spawn(backend).await;
        let owner = app.new_verified_user().await;
        let token = app.login_ok(&owner).await.token;
        let resp = app.post_auth("/api/oauth/apps", &token, Some(json!({
            "app_name": "Shop", "redirect_uris": ["https://shop.example/cb"],
            "allowed_scopes": ["profile:read", "points:spend", "deploy:manage"],
        }))).await;
        let created = resp.assert_status(201)["app"].clone();
        assert_eq!(created["allowed_scopes"], json!(["profile:read"]), "granted now");
        let id = created["id"].as_str().unwrap();
        let requests = app.get_auth(&format!("/api/oauth/my-apps/{id}/scope-requests"), &token).await;
        let requests = requests.assert_status(200).as_array().unwrap().clone();
        assert_eq!(requests.len(), 1);
        assert_keys(&requests[0], &["id", "inserted_at", "requested_scopes", "status"]);
        assert_eq!(requests[0]["status"], "pending");
        assert_eq!(requests[0]["requested_scopes"], json!(["points:spend", "deploy:manage"]));

        // A request of review-free scopes is approved at once.
        let quick = app.post_auth(&format!("/api/oauth/my-apps/{id}/scope-request"), &token, Some(json!({ "requested_scopes": ["points:read"] }))).await;
        assert_eq!(quick.assert_status(201)["status"], "approved");
        let mine = app.get_auth("/api/oauth/my-apps", &token).await;
        assert_eq!(mine.body[0]["allowed_scopes"], json!(["profile:read", "points:read"]));
        // Another one waits; the newest comes first when polling.
        let slow = app.post_auth(&format!("/api/oauth/my-apps/{id}/scope-request"), &token, Some(json!({ "requested_scopes": ["app:balance:read"] }))).await;
        assert_eq!(slow.assert_status(201)["status"], "pending");
        let polled = app.get_auth(&format!("/api/oauth/my-apps/{id}/scope-requests"), &token).await;
        assert_eq!(polled.body[0]["id"], slow.body["id"]);
        assert_eq!(polled.body.as_array().unwrap().len(), 3);
        app.post_auth(&format!("/api/oauth/my-apps/{id}/scope-request"), &token, Some(json!({ "requested_scopes": ["root:all"] })))
            .await
            .assert_error(400, "validation_failed");
        app.post_auth(&format!("/api/oauth/my-apps/{id}/scope-request"), &token, Some(json!({ "requested_scopes": [] })))
            .await
            .assert_error(400, "validation_failed");
    }

    async fn only_verified_owners_register_and_only_three_an_hour(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.app_registration = buddo_shared::config::Limit::new(3, 3600)).await;
        let unverified = app.new_user().await;
        let token = app.login_ok(&unverified).await.token;
        let body = json!({ "app_name": "A", "redirect_uris": ["https://a.example/cb"] });
        app.post_auth("/api/oauth/apps", &token, Some(body.clone())).await.assert_error(403, "email_not_verified");
        app.post("/api/oauth/apps", body.clone()).await.assert_error(401, "invalid_token");

        let owner = app.new_verified_user().await;
        let token = app.login_ok(&owner).await.token;
        for _ in 0..3 {
            app.post_auth("/api/oauth/apps", &token, Some(body.clone())).await.assert_status(201);
        }
        app.post_auth("/api/oauth/apps", &token, Some(body)).await.assert_error(429, "rate_limited");
    }

    async fn bad_app_input_is_refused_by_field(backend) {
        let app = TestApp::spawn(backend).await;
        let owner = app.new_verified_user().await;
        let token = app.login_ok(&owner).await.token;
        let cases = [
            (json!({ "app_name": "", "redirect_uris": ["https://a.example/cb"] }), "app_name"),
            (json!({ "app_name": "A", "redirect_uris": [] }), "redirect_uris"),
            (json!({ "app_name": "A", "redirect_uris": ["http://a.example/cb"] }), "redirect_uris"),
            (json!({ "app_name": "A", "redirect_uris": ["https://a.example/cb#x"] }), "redirect_uris"),
            (json!({ "app_name": "A", "redirect_uris": ["https://a.example/cb"], "logo_url": "javascript:alert(1)" }), "logo_url"),
            (json!({ "app_name": "A", "redirect_uris": ["https://a.example/cb"], "allowed_scopes": ["everything"] }), "allowed_scopes"),
            (json!({ "app_name": "A\u{0007}", "redirect_uris": ["https://a.example/cb"] }), "app_name"),
        ];
        for (body, field) in cases {
            let resp = app.post_auth("/api/oauth/apps", &token, Some(body)).await;
            resp.assert_error(400, "validation_failed");
            assert!(resp.body["fields"][field].is_string(), "{}", resp.body);
        }
        app.post_auth("/api/oauth/apps", &token, Some(json!({ "app_name": 5 }))).await.assert_error(400, "validation_failed");
        assert!(app.get_auth("/api/oauth/my-apps", &token).await.body.as_array().unwrap().is_empty());
    }

    async fn owners_update_their_own_apps_only(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], false).await;
        let path = format!("/api/oauth/my-apps/{}", client.id);
        let resp = app.put_auth(&path, &client.owner_token, json!({
            "app_name": "Renamed", "logo_url": "https://cdn.example/logo.png",
            "redirect_uris": ["https://new.example/cb"], "allowed_scopes": ["points:read", "points:spend"],
        })).await;
        let updated = resp.assert_status(200);
        assert_keys(updated, &["allowed_scopes", "app_description", "app_name", "client_id", "id", "inserted_at", "is_approved", "logo_url", "redirect_uris", "website_url"]);
        assert_eq!(updated["app_name"], "Renamed");
        assert_eq!(updated["app_description"], "An app for tests", "left as it was");
        assert_eq!(updated["logo_url"], "https://cdn.example/logo.png");
        // profile:read dropped, points:read added at once, points:spend filed for review.
        assert_eq!(updated["allowed_scopes"], json!(["points:read"]));
        let requests = app.get_auth(&format!("{path}/scope-requests"), &client.owner_token).await;
        assert!(requests.body.as_array().unwrap().iter().any(|r| r["requested_scopes"] == json!(["points:spend"]) && r["status"] == "pending"));
        let cleared = app.put_auth(&path, &client.owner_token, json!({ "logo_url": null })).await;
        assert_eq!(cleared.assert_status(200)["logo_url"], serde_json::Value::Null);

        // Someone else's app, or no app at all: 404, never 403.
        let stranger = app.new_user().await;
        let theirs = app.login_ok(&stranger).await.token;
        app.put_auth(&path, &theirs, json!({ "app_name": "Mine now" })).await.assert_error(404, "app_not_found");
        app.post_auth(&format!("{path}/scope-request"), &theirs, Some(json!({ "requested_scopes": ["points:read"] }))).await.assert_error(404, "app_not_found");
        app.get_auth(&format!("{path}/scope-requests"), &theirs).await.assert_error(404, "app_not_found");
        app.put_auth("/api/oauth/my-apps/not-a-uuid", &client.owner_token, json!({})).await.assert_error(404, "app_not_found");
        app.put_auth(&path, &client.owner_token, json!({ "redirect_uris": ["ftp://x.example"] })).await.assert_error(400, "validation_failed");
    }
}
