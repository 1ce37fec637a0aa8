//! Who may call `/api/external/*` and with which scope; the shapes of the reference.

use reqwest::Method;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{assert_keys, TestApp, ALL_SCOPES};

/// Every endpoint with the scope it needs.
fn endpoints() -> Vec<(
    Method,
    &'static str,
    &'static str,
    Option<serde_json::Value>,
)> {
    vec![
        (Method::GET, "/api/external/user", "profile:read", None),
        (Method::GET, "/api/external/points", "points:read", None),
        (
            Method::POST,
            "/api/external/points/spend",
            "points:spend",
            Some(json!({ "amount": 1 })),
        ),
        (
            Method::POST,
            "/api/external/points/transfer",
            "points:transfer",
            Some(json!({ "amount": 1, "to_user_id": uuid::Uuid::new_v4() })),
        ),
        (
            Method::GET,
            "/api/external/app/balance",
            "app:balance:read",
            None,
        ),
        (
            Method::GET,
            "/api/external/session/status",
            "profile:read",
            None,
        ),
        (
            Method::POST,
            "/api/external/session/end",
            "profile:read",
            None,
        ),
        (
            Method::GET,
            "/api/external/ads/serve?surface_type=banner",
            "profile:read",
            None,
        ),
        (
            Method::POST,
            "/api/external/ads/event",
            "profile:read",
            Some(json!({ "campaign_id": uuid::Uuid::new_v4(), "event_type": "impression" })),
        ),
    ]
}

backend_tests! {
    async fn each_endpoint_needs_its_scope(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&ALL_SCOPES, true).await;
        for (method, path, scope, body) in endpoints() {
            // Every scope but the one it needs: 403 naming it, with the RFC 6750 challenge.
            let others: Vec<&str> = ALL_SCOPES.iter().copied().filter(|s| *s != scope).collect();
            let without = app.operated_by(&client, &others).await;
            let resp = app.request(method.clone(), path, Some(&without.access_token), body.clone()).await;
            resp.assert_error(403, "insufficient_scope");
            assert_eq!(resp.body["scope"], scope, "{path}");
            let challenge = resp.headers["www-authenticate"].to_str().unwrap();
            assert!(challenge.contains("error=\"insufficient_scope\"") && challenge.contains(scope), "{challenge}");
            // With it, the endpoint does its work (or refuses the data, never the token).
            let with = app.operated_by(&client, &[scope]).await;
            let resp = app.request(method.clone(), path, Some(&with.access_token), body.clone()).await;
            assert!(resp.status != 401 && resp.status != 403, "{path}: {}", resp.body);
        }
    }

    async fn user_jwts_and_dead_tokens_are_refused(backend) {
        let app = TestApp::spawn(backend).await;
        let op = app.operated(&["profile:read"]).await;
        for token in [op.jwt.clone(), "bat_nothing".into(), op.session_token.clone().unwrap(), String::new()] {
            let resp = app.get_auth("/api/external/user", &token).await;
            resp.assert_error(401, "invalid_token");
            assert!(resp.headers["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
        }
        let anonymous = TestApp::read(app.client.get(app.url("/api/external/points")).send().await.unwrap()).await;
        anonymous.assert_error(401, "invalid_token");
        app.get_auth("/api/external/user", &op.access_token).await.assert_status(200);
        app.delete_auth(&format!("/api/user/connected-apps/{}", op.client.id), &op.jwt).await.assert_status(200);
        app.get_auth("/api/external/user", &op.access_token).await.assert_error(401, "invalid_token");
    }

    async fn reads_answer_in_the_reference_shapes(backend) {
        let app = TestApp::spawn(backend).await;
        let op = app.operated(&["profile:read", "points:read", "app:balance:read"]).await;
        app.grant_points(&op.user, 42).await;
        let user = app.get_auth("/api/external/user", &op.access_token).await;
        let body = user.assert_status(200);
        assert_keys(body, &["user"]);
        assert_eq!(body["user"]["id"], op.user.id.as_str());
        assert!(body["user"].get("password_hash").is_none() && body["user"].get("totp_secret").is_none());
        let points = app.get_auth("/api/external/points", &op.access_token).await;
        assert_eq!(points.assert_status(200), &json!({ "points": 42 }));
        let balance = app.get_auth("/api/external/app/balance", &op.access_token).await;
        assert_eq!(balance.assert_status(200), &json!({ "points": 0 }));
    }

    async fn the_app_session_can_be_watched_and_ended(backend) {
        let app = TestApp::spawn(backend).await;
        let op = app.operated(&["profile:read"]).await;
        let status = app.get_auth("/api/external/session/status", &op.access_token).await;
        let body = status.assert_status(200);
        assert_keys(body, &["is_alive", "last_heartbeat", "points_earned", "session_active", "session_id"]);
        assert_eq!(body["is_alive"], true);
        assert_eq!(body["session_active"], true);
        assert_eq!(body["points_earned"], 0);
        let session_id = body["session_id"].as_str().unwrap().to_string();
        app.clock.advance(6 * 60);
        assert_eq!(app.get_auth("/api/external/session/status", &op.access_token).await.body["is_alive"], false);
        let ended = app.post_auth("/api/external/session/end", &op.access_token, None).await;
        assert_eq!(ended.assert_status(200), &json!({ "message": "Session ended", "session_id": session_id }));
        let after = app.get_auth("/api/external/session/status", &op.access_token).await;
        assert_eq!(after.body["session_active"], false);
        assert_eq!(after.body["is_alive"], false);
        // An ended session earns nothing and takes no heartbeat.
        app.post("/api/session/refresh", json!({ "session_token": op.session_token.unwrap() })).await.assert_status(401);
        app.post_auth("/api/external/session/end", &op.access_token, None).await.assert_error(404, "no_active_session");
    }
}
