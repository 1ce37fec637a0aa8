//! POST /api/auth/login.

use crate::backend_tests;
use crate::helpers::{assert_keys, TestApp};

backend_tests! {
    async fn login_returns_token_refresh_token_and_user(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let resp = app.login(&user.email.to_uppercase(), &user.password, None).await;
        let body = resp.assert_status(200);
        assert_keys(body, &["token", "refresh_token", "expires_at", "user"]);
        assert_keys(&body["user"], &["email", "email_verified", "id", "is_admin", "tier", "totp_enabled", "username"]);
        assert_eq!(body["user"]["id"], user.id.as_str());
        assert_eq!(body["user"]["is_admin"], false);
        assert!(time::OffsetDateTime::parse(body["expires_at"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).is_ok());
        app.me(body["token"].as_str().unwrap()).await.assert_status(200);
    }

    async fn unknown_email_and_wrong_password_look_the_same(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let wrong = app.login(&user.email, "not the password", None).await;
        let unknown = app.login("nobody@example.com", "not the password", None).await;
        wrong.assert_error(401, "invalid_credentials");
        assert_eq!(wrong.status, unknown.status);
        assert_eq!(wrong.body, unknown.body);
    }

    async fn stored_hashes_are_upgraded_when_parameters_change(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let old_hash = buddo_shared::domain::identity::users::get(app.state.table.as_ref(), &user.id).await.unwrap().unwrap().password_hash;
        assert!(old_hash.contains("m=1024,t=1,p=1"), "{old_hash}");

        // Same table, new parameters: as after a redeploy with stronger settings.
        let mut config = app.state.config.clone();
        config.password.memory_kib = 2048;
        let keys = buddo_shared::jwt::JwtKeys::new(&config.jwt, Some(buddo_shared::jwt::SigningKeyPair::parse(&app.signing_key).unwrap()), None).unwrap();
        let upgraded = buddo_shared::AppState::with_keys(config, app.state.table.clone(), app.clock.clone(), keys).unwrap();
        let attempt = buddo_shared::domain::identity::accounts::LoginAttempt {
            email: buddo_shared::domain::input::Email::parse("email", &user.email).unwrap(),
            password: user.password.clone(),
            second_factor: Default::default(),
        };
        buddo_shared::domain::identity::accounts::login(&upgraded, attempt, &buddo_shared::domain::RequestMeta::default()).await.unwrap();
        let new_hash = buddo_shared::domain::identity::users::get(app.state.table.as_ref(), &user.id).await.unwrap().unwrap().password_hash;
        assert!(new_hash.contains("m=2048,t=1,p=1"), "{new_hash}");
        // And the password still works against the new hash.
        app.login(&user.email, &user.password, None).await.assert_status(200);
    }

    async fn admin_emails_become_admins_once_verified(backend) {
        let app = TestApp::spawn(backend).await;
        app.register("boss@buddo.test", "boss", "correct horse battery").await.assert_status(201);
        let login = app.login("boss@buddo.test", "correct horse battery", None).await;
        assert_eq!(login.body["user"]["is_admin"], false);
        let token = app.token_from_mail("boss@buddo.test", "/verify-email").await;
        app.post("/api/auth/verify-email", serde_json::json!({ "token": token })).await.assert_status(200);
        let login = app.login("boss@buddo.test", "correct horse battery", None).await;
        assert_eq!(login.body["user"]["is_admin"], true);
    }
}
