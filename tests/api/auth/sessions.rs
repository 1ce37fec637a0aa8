//! Refresh-token rotation, logout and the login-session list.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{assert_keys, session_of, TestApp};

backend_tests! {
    async fn refresh_rotates_and_the_old_token_dies(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let first = app.login_ok(&user).await;
        let resp = app.post("/api/auth/refresh", json!({ "refresh_token": first.refresh_token })).await;
        let body = resp.assert_status(200);
        assert_keys(body, &["token", "refresh_token", "expires_at"]);
        let second = session_of(body);
        assert_ne!(second.refresh_token, first.refresh_token);
        app.me(&second.token).await.assert_status(200);
        let third = session_of(app.post("/api/auth/refresh", json!({ "refresh_token": second.refresh_token })).await.assert_status(200));
        app.me(&third.token).await.assert_status(200);
    }

    async fn reusing_a_rotated_refresh_token_revokes_the_session(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let first = app.login_ok(&user).await;
        let second = session_of(app.post("/api/auth/refresh", json!({ "refresh_token": first.refresh_token })).await.assert_status(200));
        // The old token again: theft is assumed, the whole session ends.
        app.post("/api/auth/refresh", json!({ "refresh_token": first.refresh_token })).await.assert_error(401, "invalid_refresh_token");
        app.post("/api/auth/refresh", json!({ "refresh_token": second.refresh_token })).await.assert_error(401, "invalid_refresh_token");
        app.me(&second.token).await.assert_error(401, "invalid_token");
        // Other sessions of the user are untouched.
        let other = app.login_ok(&user).await;
        app.me(&other.token).await.assert_status(200);
    }

    async fn parallel_refreshes_with_one_token_succeed_once(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let body = json!({ "refresh_token": session.refresh_token });
        let attempts = (0..5).map(|_| app.post("/api/auth/refresh", body.clone()));
        let results = futures::future::join_all(attempts).await;
        let ok = results.iter().filter(|r| r.status == 200).count();
        assert_eq!(ok, 1, "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
        for r in results.iter().filter(|r| r.status != 200) {
            r.assert_error(401, "invalid_refresh_token");
        }
    }

    async fn bad_refresh_tokens_are_refused(backend) {
        let app = TestApp::spawn(backend).await;
        app.post("/api/auth/refresh", json!({ "refresh_token": "x".repeat(43) })).await.assert_error(401, "invalid_refresh_token");
        app.post("/api/auth/refresh", json!({ "refresh_token": "bad token!" })).await.assert_error(400, "validation_failed");
        app.post("/api/auth/refresh", json!({})).await.assert_error(400, "validation_failed");
    }

    async fn refresh_tokens_expire(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        app.clock.advance(30 * 24 * 3600 + 1);
        app.post("/api/auth/refresh", json!({ "refresh_token": session.refresh_token })).await.assert_error(401, "invalid_refresh_token");
    }

    async fn logout_takes_effect_on_the_next_request(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let other = app.login_ok(&user).await;
        app.post_auth("/api/auth/logout", &session.token, None).await.assert_status(200);
        app.me(&session.token).await.assert_error(401, "invalid_token");
        app.post("/api/auth/refresh", json!({ "refresh_token": session.refresh_token })).await.assert_error(401, "invalid_refresh_token");
        app.me(&other.token).await.assert_status(200);
    }

    async fn sessions_can_be_listed_and_revoked(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let mine = app.login_ok(&user).await;
        let other = app.login_ok(&user).await;
        let list = app.get_auth("/api/auth/sessions", &mine.token).await;
        let sessions = list.assert_status(200)["sessions"].as_array().unwrap().clone();
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
        assert_keys(&sessions[0], &["id", "created_at", "last_used_at", "expires_at", "ip_address", "user_agent", "current"]);
        assert_eq!(sessions[0]["ip_address"], "127.0.0.1");
        let other_id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"].as_str().unwrap().to_string();

        app.delete_auth(&format!("/api/auth/sessions/{other_id}"), &mine.token).await.assert_status(200);
        app.me(&other.token).await.assert_error(401, "invalid_token");
        app.me(&mine.token).await.assert_status(200);
        app.delete_auth(&format!("/api/auth/sessions/{other_id}"), &mine.token).await.assert_error(404, "session_not_found");

        // Another user's session id is not found either.
        let stranger = app.new_user().await;
        let theirs = app.login_ok(&stranger).await;
        let their_list = app.get_auth("/api/auth/sessions", &theirs.token).await;
        let their_id = their_list.body["sessions"][0]["id"].as_str().unwrap().to_string();
        app.delete_auth(&format!("/api/auth/sessions/{their_id}"), &mine.token).await.assert_error(404, "session_not_found");
        app.me(&theirs.token).await.assert_status(200);
    }
}
