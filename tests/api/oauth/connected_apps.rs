//! `GET /api/user/connected-apps` and `DELETE /api/user/connected-apps/{app_id}`.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{assert_keys, TestApp};

backend_tests! {
    async fn connected_apps_list_what_the_user_granted(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read", "points:read"], true).await;
        let token = app.login_ok(&app.new_user().await).await.token;
        let empty = app.get_auth("/api/user/connected-apps", &token).await;
        assert_eq!(empty.assert_status(200), &json!({ "connected_apps": [] }));
        app.oauth_tokens(&token, &client, "points:read").await;
        let list = app.get_auth("/api/user/connected-apps", &token).await;
        let apps = list.assert_status(200)["connected_apps"].as_array().unwrap().clone();
        assert_eq!(apps.len(), 1);
        assert_keys(&apps[0], &["app_description", "app_id", "app_name", "connected_at", "last_used", "logo_url", "scopes"]);
        assert_eq!(apps[0]["app_id"], client.id.as_str());
        assert_eq!(apps[0]["scopes"], json!(["points:read"]));
        assert_eq!(apps[0]["logo_url"], serde_json::Value::Null);
        // Authorizing again renews the grant, it does not add another.
        app.oauth_tokens(&token, &client, "profile:read points:read").await;
        let list = app.get_auth("/api/user/connected-apps", &token).await;
        assert_eq!(list.body["connected_apps"].as_array().unwrap().len(), 1);
        assert_eq!(list.body["connected_apps"][0]["scopes"], json!(["profile:read", "points:read"]));
        assert_eq!(app.me(&token).await.body["user"]["stats"]["connected_apps"], 1);
    }

    async fn revoking_an_app_ends_its_tokens_and_session_at_once(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let other = app.new_client(&["profile:read"], true).await;
        let token = app.login_ok(&app.new_user().await).await.token;
        let first = app.oauth_tokens(&token, &client, "profile:read").await;
        let second = app.oauth_tokens(&token, &client, "profile:read").await;
        let kept = app.oauth_tokens(&token, &other, "profile:read").await;
        let resp = app.delete_auth(&format!("/api/user/connected-apps/{}", client.id), &token).await;
        assert!(resp.assert_status(200)["message"].is_string());
        for tokens in [&first, &second] {
            TestApp::assert_inactive(&app.introspect(&tokens.access_token).await);
            assert_eq!(app.refresh_oauth(&client, &tokens.refresh_token).await.body["error"], "invalid_grant");
        }
        app.post("/api/session/refresh", json!({ "session_token": second.session_token.unwrap() })).await.assert_status(401);
        // The other app keeps everything.
        assert_eq!(app.introspect(&kept.access_token).await.body["active"], true);
        app.post("/api/session/refresh", json!({ "session_token": kept.session_token.unwrap() })).await.assert_status(200);
        let list = app.get_auth("/api/user/connected-apps", &token).await;
        assert_eq!(list.body["connected_apps"].as_array().unwrap().len(), 1);
        assert_eq!(app.me(&token).await.body["user"]["stats"]["connected_apps"], 1);
        app.delete_auth(&format!("/api/user/connected-apps/{}", client.id), &token).await.assert_error(404, "app_not_connected");
        app.delete_auth("/api/user/connected-apps/not-a-uuid", &token).await.assert_error(404, "app_not_connected");
    }

    async fn one_apps_tokens_are_useless_to_another(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let other = app.new_client(&["profile:read"], true).await;
        let token = app.login_ok(&app.new_user().await).await.token;
        let tokens = app.oauth_tokens(&token, &client, "profile:read").await;
        assert_eq!(app.refresh_oauth(&other, &tokens.refresh_token).await.body["error"], "invalid_grant");
        let introspected = app.introspect(&tokens.access_token).await;
        assert_eq!(introspected.body["app_id"], client.id.as_str());
        assert_eq!(introspected.body["client_id"], client.client_id.as_str());
    }

    async fn old_families_go_beyond_the_limit(backend) {
        let app = TestApp::spawn_with(backend, |c| c.oauth.max_families_per_grant = 2).await;
        let client = app.new_client(&["profile:read"], true).await;
        let token = app.login_ok(&app.new_user().await).await.token;
        let oldest = app.oauth_tokens(&token, &client, "profile:read").await;
        app.clock.advance(1);
        let middle = app.oauth_tokens(&token, &client, "profile:read").await;
        app.clock.advance(1);
        let newest = app.oauth_tokens(&token, &client, "profile:read").await;
        TestApp::assert_inactive(&app.introspect(&oldest.access_token).await);
        assert_eq!(app.introspect(&middle.access_token).await.body["active"], true);
        assert_eq!(app.introspect(&newest.access_token).await.body["active"], true);
    }
}
