//! TOTP set-up, login with a code, replay protection and recovery codes.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{assert_keys, session_of, TestApp};

backend_tests! {
    async fn setup_gives_a_standard_otpauth_uri(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        let session = app.login_ok(&user).await;
        let resp = app.post_auth("/api/auth/totp/setup", &session.token, None).await;
        let body = resp.assert_status(200);
        assert_keys(body, &["secret", "uri"]);
        let secret = body["secret"].as_str().unwrap();
        assert_eq!(secret.len(), 32, "160-bit base32 secret");
        assert!(secret.chars().all(|c| c.is_ascii_uppercase() || ('2'..='7').contains(&c)));
        // totp-rs parses the URI the way an authenticator app does.
        let parsed = totp_rs::TOTP::from_url(body["uri"].as_str().unwrap()).unwrap();
        assert_eq!(parsed.digits, 6);
        assert_eq!(parsed.step, 30);
        assert_eq!(parsed.issuer.as_deref(), Some("Buddo"));
        assert_eq!(parsed.account_name, user.email);
        assert_eq!(parsed.get_secret_base32(), secret);
    }

    async fn enable_requires_a_valid_code_and_returns_recovery_codes(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        let session = app.login_ok(&user).await;
        app.post_auth("/api/auth/totp/enable", &session.token, Some(json!({ "code": "123456" }))).await.assert_error(400, "totp_not_set_up");
        let setup = app.post_auth("/api/auth/totp/setup", &session.token, None).await;
        let secret = setup.body["secret"].as_str().unwrap().to_string();
        let wrong = if app.totp_now(&secret) == "000000" { "111111" } else { "000000" };
        app.post_auth("/api/auth/totp/enable", &session.token, Some(json!({ "code": wrong }))).await.assert_error(400, "invalid_code");
        app.post_auth("/api/auth/totp/enable", &session.token, Some(json!({ "code": "abc" }))).await.assert_error(400, "validation_failed");
        let resp = app.post_auth("/api/auth/totp/enable", &session.token, Some(json!({ "code": app.totp_now(&secret) }))).await;
        let body = resp.assert_status(200);
        assert_keys(body, &["message", "recovery_codes"]);
        assert_eq!(body["recovery_codes"].as_array().unwrap().len(), 10);
        assert_eq!(app.me(&session.token).await.body["user"]["totp_enabled"], true);
        app.post_auth("/api/auth/totp/setup", &session.token, None).await.assert_error(409, "totp_already_enabled");
        let status = app.get_auth("/api/auth/totp/status", &session.token).await;
        assert_eq!(status.assert_status(200), &json!({ "enabled": true, "recovery_codes_remaining": 10 }));
        assert!(app.mails_to(&user.email).await.iter().any(|m| m.subject.contains("Two-factor authentication is on")));
    }

    async fn login_asks_for_and_checks_the_code(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        let session = app.login_ok(&user).await;
        let (secret, _) = app.enable_totp(&session.token).await;

        let resp = app.login(&user.email, &user.password, None).await;
        resp.assert_error(401, "totp_required");
        assert_eq!(resp.body["totp_required"], true);
        // A wrong password never reveals that TOTP is on.
        let wrong = app.login(&user.email, "wrong password", None).await;
        wrong.assert_error(401, "invalid_credentials");
        assert!(wrong.body.get("totp_required").is_none());

        app.next_totp_step();
        app.login(&user.email, &user.password, Some("000000")).await.assert_error(401, "invalid_totp_code");
        let ok = app.login(&user.email, &user.password, Some(&app.totp_now(&secret))).await;
        assert_eq!(ok.assert_status(200)["user"]["totp_enabled"], true);
    }

    async fn a_code_is_accepted_once_even_in_parallel(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        let session = app.login_ok(&user).await;
        let (secret, _) = app.enable_totp(&session.token).await;
        // The code that enabled TOTP is already used.
        let used = app.totp_now(&secret);
        app.post_auth("/api/auth/totp/verify", &session.token, Some(json!({ "code": used }))).await.assert_error(400, "invalid_code");

        app.next_totp_step();
        let code = app.totp_now(&secret);
        let attempts = (0..4).map(|_| app.login(&user.email, &user.password, Some(&code)));
        let results = futures::future::join_all(attempts).await;
        assert_eq!(results.iter().filter(|r| r.status == 200).count(), 1, "{:?}", results.iter().map(|r| &r.body).collect::<Vec<_>>());
        app.post_auth("/api/auth/totp/verify", &session.token, Some(json!({ "code": code }))).await.assert_error(400, "invalid_code");

        app.next_totp_step();
        let fresh = app.totp_now(&secret);
        let resp = app.post_auth("/api/auth/totp/verify", &session.token, Some(json!({ "code": fresh }))).await;
        assert!(resp.assert_status(200)["message"].is_string());
        app.post_auth("/api/auth/totp/verify", &session.token, Some(json!({ "code": fresh }))).await.assert_error(400, "invalid_code");
    }

    async fn recovery_codes_work_once(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        let session = app.login_ok(&user).await;
        let (_, codes) = app.enable_totp(&session.token).await;
        let login = app.login(&user.email, &user.password, Some(&codes[0])).await;
        let fresh = session_of(login.assert_status(200));
        app.login(&user.email, &user.password, Some(&codes[0])).await.assert_error(401, "invalid_totp_code");
        // Lower case, without the dash: still the same code.
        let relaxed = codes[1].replace('-', "").to_lowercase();
        app.post_auth("/api/auth/totp/verify", &fresh.token, Some(json!({ "code": relaxed }))).await.assert_status(200);
        app.post_auth("/api/auth/totp/verify", &fresh.token, Some(json!({ "code": codes[1] }))).await.assert_error(400, "invalid_code");
        let status = app.get_auth("/api/auth/totp/status", &fresh.token).await;
        assert_eq!(status.body["recovery_codes_remaining"], 8);

        let two_at_once = futures::future::join_all((0..3).map(|_| app.login(&user.email, &user.password, Some(&codes[2])))).await;
        assert_eq!(two_at_once.iter().filter(|r| r.status == 200).count(), 1);
    }

    async fn recovery_codes_can_be_regenerated(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        let session = app.login_ok(&user).await;
        let (secret, old) = app.enable_totp(&session.token).await;
        app.next_totp_step();
        let resp = app.post_auth("/api/auth/totp/recovery-codes", &session.token, Some(json!({ "code": app.totp_now(&secret) }))).await;
        let new: Vec<String> = resp.assert_status(200)["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
        assert_eq!(new.len(), 10);
        app.login(&user.email, &user.password, Some(&old[0])).await.assert_error(401, "invalid_totp_code");
        app.login(&user.email, &user.password, Some(&new[0])).await.assert_status(200);
    }

    async fn disable_needs_password_and_code(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        let session = app.login_ok(&user).await;
        app.post_auth("/api/auth/totp/disable", &session.token, Some(json!({ "password": user.password, "code": "123456" })))
            .await
            .assert_error(400, "totp_not_enabled");
        let (secret, _) = app.enable_totp(&session.token).await;
        app.next_totp_step();
        app.post_auth("/api/auth/totp/disable", &session.token, Some(json!({ "password": "wrong pass", "code": app.totp_now(&secret) })))
            .await
            .assert_error(400, "invalid_password");
        app.post_auth("/api/auth/totp/disable", &session.token, Some(json!({ "password": user.password, "code": "000000" })))
            .await
            .assert_error(400, "invalid_code");
        app.next_totp_step();
        app.post_auth("/api/auth/totp/disable", &session.token, Some(json!({ "password": user.password, "code": app.totp_now(&secret) })))
            .await
            .assert_status(200);
        let status = app.get_auth("/api/auth/totp/status", &session.token).await;
        assert_eq!(status.body, json!({ "enabled": false, "recovery_codes_remaining": 0 }));
        app.login(&user.email, &user.password, None).await.assert_status(200);
        assert!(app.mails_to(&user.email).await.iter().any(|m| m.subject.contains("is off")));
    }

    async fn verify_without_totp_is_refused(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        let session = app.login_ok(&user).await;
        app.post_auth("/api/auth/totp/verify", &session.token, Some(json!({ "code": "123456" }))).await.assert_error(400, "totp_not_enabled");
        app.post_auth("/api/auth/totp/verify", &session.token, Some(json!({ "code": "" }))).await.assert_error(400, "validation_failed");
    }
}
