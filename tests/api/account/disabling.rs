//! Admins disable and re-enable accounts: a disabled user cannot sign in, refresh, or use any
//! token, and is hidden from other users.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{assert_keys, TestApp};

backend_tests! {
    async fn a_disabled_account_is_shut_out_everywhere_until_enabled(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let client = app.new_client(&["profile:read", "points:read"], true).await;
        let user = app.new_user().await;
        let login = app.login_ok(&user).await;
        let oauth = app.oauth_tokens(&login.token, &client, "profile:read points:read").await;

        let resp = app.post_auth(&format!("/api/admin/users/{}/disable", user.id), &admin, None).await;
        let body = resp.assert_status(200);
        assert_keys(body, &["id", "username", "disabled"]);
        assert_eq!(body["disabled"], true);

        // No token works, nothing refreshes, and signing in is refused after the password.
        app.me(&login.token).await.assert_error(401, "invalid_token");
        app.post("/api/auth/refresh", json!({ "refresh_token": login.refresh_token })).await.assert_error(401, "invalid_refresh_token");
        app.login(&user.email, &user.password, None).await.assert_error(403, "account_disabled");
        app.login(&user.email, "wrong password", None).await.assert_error(401, "invalid_credentials");
        TestApp::assert_inactive(&app.introspect(&oauth.access_token).await);
        app.get_auth("/api/external/points", &oauth.access_token).await.assert_error(401, "invalid_token");
        let refreshed = app.refresh_oauth(&client, &oauth.refresh_token).await;
        assert_eq!((refreshed.status.as_u16(), refreshed.body["error"].as_str()), (400, Some("invalid_grant")));
        if let Some(session) = &oauth.session_token {
            app.post("/api/session/refresh", json!({ "session_token": session })).await.assert_error(401, "invalid_session_token");
        }
        // Hidden from others.
        app.get(&format!("/api/users/{}", user.username)).await.assert_error(404, "user_not_found");
        let found = app.get(&format!("/api/users/search?q={}", user.username)).await;
        assert_eq!(found.assert_status(200)["users"], json!([]));
        // Its name stays taken.
        let free = app.get(&format!("/api/users/{}/available", user.username)).await;
        assert_eq!(free.assert_status(200)["available"], false);

        let resp = app.post_auth(&format!("/api/admin/users/{}/enable", user.id), &admin, None).await;
        assert_eq!(resp.assert_status(200)["disabled"], false);
        let again = app.login_ok(&user).await;
        app.me(&again.token).await.assert_status(200);
        // Sessions ended by the disabling stay ended; the OAuth grant works again.
        app.me(&login.token).await.assert_error(401, "invalid_token");
        assert_eq!(app.introspect(&oauth.access_token).await.assert_status(200)["active"], true);
        app.get(&format!("/api/users/{}", user.username)).await.assert_status(200);

        // The owner sees what happened.
        let activity = app.get_auth("/api/user/activity?kind=account_disabled", &again.token).await;
        assert_eq!(activity.assert_status(200)["activity"].as_array().unwrap().len(), 1);
    }

    async fn only_admins_disable_and_only_existing_accounts(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let user = app.new_user().await;
        let other = app.new_user().await;
        let token = app.login_ok(&other).await.token;
        for action in ["disable", "enable"] {
            let path = format!("/api/admin/users/{}/{action}", user.id);
            app.post_auth(&path, &token, None).await.assert_error(403, "forbidden");
            app.post(&path, json!({})).await.assert_error(401, "invalid_token");
            let unknown = format!("/api/admin/users/{}/{action}", uuid::Uuid::new_v4());
            app.post_auth(&unknown, &admin, None).await.assert_error(404, "user_not_found");
            app.post_auth(&format!("/api/admin/users/not-an-id/{action}"), &admin, None).await.assert_error(404, "user_not_found");
        }
        app.login_ok(&user).await;
        // Disabling twice is the same as once.
        for _ in 0..2 {
            let resp = app.post_auth(&format!("/api/admin/users/{}/disable", user.id), &admin, None).await;
            assert_eq!(resp.assert_status(200)["disabled"], true);
        }
    }

    async fn a_login_racing_the_disabling_does_not_survive_it(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let user = app.new_user().await;
        let path = format!("/api/admin/users/{}/disable", user.id);
        let logins = futures::future::join_all((0..8).map(|_| app.login(&user.email, &user.password, None)));
        let (logins, disabled) = tokio::join!(logins, app.post_auth(&path, &admin, None));
        disabled.assert_status(200);
        for login in logins {
            if login.status == 200 {
                let token = login.body["token"].as_str().unwrap();
                app.me(token).await.assert_error(401, "invalid_token");
            } else if login.status == 401 {
                // Read the account before the disabling, wrote its session after: refused.
                login.assert_error(401, "session_revoked");
            } else {
                login.assert_error(403, "account_disabled");
            }
        }
    }
}
