//! Forgot / reset / change password.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests! {
    async fn forgot_password_answers_unknown_emails_exactly_as_known_ones(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let known = app.post("/api/auth/forgot-password", json!({ "email": user.email })).await;
        let unknown = app.post("/api/auth/forgot-password", json!({ "email": "nobody@example.com" })).await;
        known.assert_status(200);
        assert_eq!(known.status, unknown.status);
        assert_eq!(known.body, unknown.body);
        assert!(known.body["message"].is_string());
        assert_eq!(app.mails_to("nobody@example.com").await.len(), 0);
        assert_eq!(app.mails_to(&user.email).await.len(), 2, "verification and reset mail");
    }

    async fn reset_sets_the_password_once_and_signs_everyone_out(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        app.post("/api/auth/forgot-password", json!({ "email": user.email })).await.assert_status(200);
        let token = app.token_from_mail(&user.email, "/reset-password").await;

        let resp = app.post("/api/auth/reset-password", json!({ "token": token, "password": "brand new secret" })).await;
        assert!(resp.assert_status(200)["message"].is_string());
        // Effective on the very next request.
        app.me(&session.token).await.assert_error(401, "invalid_token");
        app.post("/api/auth/refresh", json!({ "refresh_token": session.refresh_token })).await.assert_error(401, "invalid_refresh_token");
        app.login(&user.email, &user.password, None).await.assert_error(401, "invalid_credentials");
        app.login(&user.email, "brand new secret", None).await.assert_status(200);
        // Single use.
        app.post("/api/auth/reset-password", json!({ "token": token, "password": "another secret!" })).await.assert_error(400, "invalid_token");
        let mails = app.mails_to(&user.email).await;
        assert!(mails.iter().any(|m| m.subject.contains("password was changed")));
    }

    async fn reset_tokens_expire_after_an_hour(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        app.post("/api/auth/forgot-password", json!({ "email": user.email })).await.assert_status(200);
        let token = app.token_from_mail(&user.email, "/reset-password").await;
        app.clock.advance(3601);
        app.post("/api/auth/reset-password", json!({ "token": token, "password": "brand new secret" })).await.assert_error(400, "invalid_token");
        app.login(&user.email, &user.password, None).await.assert_status(200);
    }

    async fn concurrent_resets_with_one_token_apply_once(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        app.post("/api/auth/forgot-password", json!({ "email": user.email })).await.assert_status(200);
        let token = app.token_from_mail(&user.email, "/reset-password").await;
        let attempts = (0..4).map(|i| app.post("/api/auth/reset-password", json!({ "token": token, "password": format!("new secret {i}") })));
        let results = futures::future::join_all(attempts).await;
        assert_eq!(results.iter().filter(|r| r.status == 200).count(), 1);
    }

    async fn reset_rejects_weak_passwords_and_bad_tokens(backend) {
        let app = TestApp::spawn(backend).await;
        app.post("/api/auth/reset-password", json!({ "token": "abc", "password": "short" })).await.assert_error(400, "validation_failed");
        app.post("/api/auth/reset-password", json!({ "token": "a".repeat(43), "password": "long enough pw" })).await.assert_error(400, "invalid_token");
        app.post("/api/auth/reset-password", json!({ "token": "a/b", "password": "long enough pw" })).await.assert_error(400, "validation_failed");
        app.post("/api/auth/forgot-password", json!({ "email": "nope" })).await.assert_error(400, "validation_failed");
    }

    async fn mail_links_use_the_configured_url_never_the_host_header(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let resp = app
            .client
            .post(app.url("/api/auth/forgot-password"))
            .header("host", "evil.example")
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-proto", "http")
            .json(&json!({ "email": user.email }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let mails = app.mails_to(&user.email).await;
        assert_eq!(mails.len(), 2, "the verification and the reset mail: {mails:?}");
        assert!(mails.iter().any(|m| m.text.as_deref().unwrap_or_default().contains("https://app.buddo.test/reset-password?token=")));
        for mail in mails {
            let text = mail.text.unwrap();
            assert!(!text.contains("evil.example"), "{text}");
            assert!(text.contains("https://app.buddo.test/"), "{text}");
        }
    }

    async fn change_password_needs_the_current_one_and_keeps_only_this_session(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let mine = app.login_ok(&user).await;
        let other = app.login_ok(&user).await;
        app.post_auth("/api/auth/change-password", &mine.token, Some(json!({ "current_password": "wrong one!", "new_password": "brand new secret" })))
            .await
            .assert_error(400, "invalid_password");
        app.post_auth("/api/auth/change-password", &mine.token, Some(json!({ "current_password": user.password, "new_password": "short" })))
            .await
            .assert_error(400, "validation_failed");
        app.post_auth("/api/auth/change-password", &mine.token, Some(json!({ "current_password": user.password, "new_password": "brand new secret" })))
            .await
            .assert_status(200);
        app.me(&other.token).await.assert_error(401, "invalid_token");
        app.post("/api/auth/refresh", json!({ "refresh_token": other.refresh_token })).await.assert_error(401, "invalid_refresh_token");
        app.me(&mine.token).await.assert_status(200);
        let listed = app.get_auth("/api/auth/sessions", &mine.token).await;
        let listed = listed.assert_status(200)["sessions"].as_array().unwrap().clone();
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0]["current"], true);
        app.post("/api/auth/refresh", json!({ "refresh_token": mine.refresh_token })).await.assert_status(200);
        app.login(&user.email, "brand new secret", None).await.assert_status(200);
        app.login(&user.email, &user.password, None).await.assert_error(401, "invalid_credentials");
    }
}
