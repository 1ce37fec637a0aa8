//! Authorization codes die with the credentials they were issued under: a password change or
//! reset, a TOTP change, or a disabled account refuses the exchange.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

#[track_caller]
fn assert_dead(resp: &Resp) {
    resp.assert_status(400);
    assert_eq!(resp.body["error"], "invalid_grant", "{}", resp.body);
}

backend_tests! {
    async fn a_code_dies_with_a_password_change_or_reset(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let user = app.new_user().await;
        let jwt = app.login_ok(&user).await.token;
        let (code, verifier) = app.code_for(&jwt, &client, "profile:read").await;
        app.post_auth("/api/auth/change-password", &jwt, Some(json!({ "current_password": user.password, "new_password": "a new long secret" }))).await.assert_status(200);
        assert_dead(&app.exchange(&client, &code, &verifier).await);

        let user = app.new_user().await;
        let jwt = app.login_ok(&user).await.token;
        let (code, verifier) = app.code_for(&jwt, &client, "profile:read").await;
        app.post("/api/auth/forgot-password", json!({ "email": user.email })).await.assert_status(200);
        let token = app.token_from_mail(&user.email, "/reset-password").await;
        app.post("/api/auth/reset-password", json!({ "token": token, "password": "a reset long secret" })).await.assert_status(200);
        // Within the code's ten minutes, and still refused.
        assert_dead(&app.exchange(&client, &code, &verifier).await);
    }

    async fn a_code_dies_with_a_totp_change(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let user = app.new_verified_user().await;
        let jwt = app.login_ok(&user).await.token;
        let (code, verifier) = app.code_for(&jwt, &client, "profile:read").await;
        app.enable_totp(&jwt).await;
        assert_dead(&app.exchange(&client, &code, &verifier).await);
    }

    async fn a_code_is_never_redeemed_for_a_disabled_account(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let client = app.new_client(&["profile:read"], true).await;
        let user = app.new_user().await;
        let jwt = app.login_ok(&user).await.token;
        let (code, verifier) = app.code_for(&jwt, &client, "profile:read").await;
        let (later_code, later_verifier) = app.code_for(&jwt, &client, "profile:read").await;
        app.post_auth(&format!("/api/admin/users/{}/disable", user.id), &admin, None).await.assert_status(200);
        assert_dead(&app.exchange(&client, &code, &verifier).await);
        // Enabling the account does not revive a code issued before.
        app.post_auth(&format!("/api/admin/users/{}/enable", user.id), &admin, None).await.assert_status(200);
        assert_dead(&app.exchange(&client, &later_code, &later_verifier).await);
    }
}
