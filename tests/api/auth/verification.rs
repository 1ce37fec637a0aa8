//! Email verification and email change.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests! {
    async fn registration_mails_a_verification_link_that_works_once(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let mails = app.mails_to(&user.email).await;
        assert_eq!(mails.len(), 1);
        assert!(mails[0].subject.contains("Verify"));
        let token = app.token_from_mail(&user.email, "/verify-email").await;
        let resp = app.post("/api/auth/verify-email", json!({ "token": token })).await;
        assert!(resp.assert_status(200)["message"].is_string());
        assert_eq!(app.me(&session.token).await.body["user"]["email_verified"], true);
        app.post("/api/auth/verify-email", json!({ "token": token })).await.assert_error(400, "invalid_token");
        app.post_auth("/api/auth/send-verification", &session.token, None).await.assert_error(400, "email_already_verified");
    }

    async fn send_verification_mails_a_new_link(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let resp = app.post_auth("/api/auth/send-verification", &session.token, None).await;
        assert!(resp.assert_status(200)["message"].is_string());
        assert_eq!(app.mails_to(&user.email).await.len(), 2);
        app.verify_email_of(&user).await;
        app.post("/api/auth/send-verification", json!({})).await.assert_error(401, "invalid_token");
    }

    async fn verification_tokens_expire_after_a_day(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let token = app.token_from_mail(&user.email, "/verify-email").await;
        app.clock.advance(24 * 3600 + 1);
        app.post("/api/auth/verify-email", json!({ "token": token })).await.assert_error(400, "invalid_token");
    }

    async fn a_reset_token_is_not_a_verification_token(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        app.post("/api/auth/forgot-password", json!({ "email": user.email })).await.assert_status(200);
        let reset = app.token_from_mail(&user.email, "/reset-password").await;
        app.post("/api/auth/verify-email", json!({ "token": reset })).await.assert_error(400, "invalid_token");
        // Still usable for its own purpose.
        app.post("/api/auth/reset-password", json!({ "token": reset, "password": "brand new secret" })).await.assert_status(200);
    }

    async fn email_change_moves_the_account_after_confirmation(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let taken = app.new_user().await;
        let session = app.login_ok(&user).await;
        app.post_auth("/api/auth/change-email", &session.token, Some(json!({ "new_email": "new@example.com", "password": "wrong pass" })))
            .await
            .assert_error(400, "invalid_password");
        // A taken address gets the same answer as a free one (see the security tests).
        app.post_auth("/api/auth/change-email", &session.token, Some(json!({ "new_email": taken.email, "password": user.password })))
            .await
            .assert_status(200);
        app.post_auth("/api/auth/change-email", &session.token, Some(json!({ "new_email": "New@Example.com", "password": user.password })))
            .await
            .assert_status(200);
        assert!(app.mails_to(&user.email).await.iter().any(|m| m.subject.contains("being changed")));
        let token = app.token_from_mail("new@example.com", "/confirm-email-change").await;
        app.post("/api/auth/change-email/confirm", json!({ "token": token })).await.assert_status(200);

        let me = app.me(&session.token).await;
        assert_eq!(me.body["user"]["email"], "new@example.com");
        assert_eq!(me.body["user"]["email_verified"], true);
        app.login("new@example.com", &user.password, None).await.assert_status(200);
        app.login(&user.email, &user.password, None).await.assert_error(401, "invalid_credentials");
        // The old address is held for the change's undo (tests/api/auth/email_change.rs); the
        // token is spent.
        app.register(&user.email, "reuser", "correct horse battery").await.assert_error(409, "email_taken");
        app.post("/api/auth/change-email/confirm", json!({ "token": token })).await.assert_error(400, "invalid_token");
    }

    async fn an_old_verification_link_does_not_verify_a_changed_address(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let old_link = app.token_from_mail(&user.email, "/verify-email").await;
        app.post_auth("/api/auth/change-email", &session.token, Some(json!({ "new_email": "moved@example.com", "password": user.password })))
            .await
            .assert_status(200);
        let token = app.token_from_mail("moved@example.com", "/confirm-email-change").await;
        app.post("/api/auth/change-email/confirm", json!({ "token": token })).await.assert_status(200);
        app.post("/api/auth/verify-email", json!({ "token": old_link })).await.assert_error(400, "invalid_token");
    }
}
