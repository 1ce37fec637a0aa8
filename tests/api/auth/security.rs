//! Account-takeover attempts: pre-hijacking an address, mail links that outlive what they
//! were issued for, sensitive changes with a stolen token, weak recovery codes, and probing
//! which addresses have accounts.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{session_of, TestApp};

backend_tests! {
    async fn an_unverified_account_cannot_enrol_an_authenticator(backend) {
        let app = TestApp::spawn(backend).await;
        // The attacker registers the victim's address and signs in.
        let squatter = app.new_user().await;
        let session = app.login_ok(&squatter).await;
        app.post_auth("/api/auth/totp/setup", &session.token, None).await.assert_error(403, "email_not_verified");
        app.post_auth("/api/auth/totp/enable", &session.token, Some(json!({ "code": "123456" }))).await.assert_error(403, "email_not_verified");
        let status = app.get_auth("/api/auth/totp/status", &session.token).await;
        assert_eq!(status.assert_status(200)["enabled"], false);
    }

    async fn the_owner_resetting_the_password_takes_the_account_back(backend) {
        let app = TestApp::spawn(backend).await;
        let squatter = app.new_user().await;
        let attacker = app.login_ok(&squatter).await;
        // The owner of the mailbox asks for a reset and uses it.
        app.post("/api/auth/forgot-password", json!({ "email": squatter.email })).await.assert_status(200);
        let token = app.token_from_mail(&squatter.email, "/reset-password").await;
        app.post("/api/auth/reset-password", json!({ "token": token, "password": "the owner's own secret" })).await.assert_status(200);
        // Every session of the attacker ends, and the address counts as verified.
        app.me(&attacker.token).await.assert_error(401, "invalid_token");
        app.post("/api/auth/refresh", json!({ "refresh_token": attacker.refresh_token })).await.assert_error(401, "invalid_refresh_token");
        let owner = session_of(app.login(&squatter.email, "the owner's own secret", None).await.assert_status(200));
        assert_eq!(app.me(&owner.token).await.body["user"]["email_verified"], true);
    }

    async fn a_reset_link_dies_when_the_password_changes(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        app.post("/api/auth/forgot-password", json!({ "email": user.email })).await.assert_status(200);
        let link = app.token_from_mail(&user.email, "/reset-password").await;
        app.post_auth("/api/auth/change-password", &session.token, Some(json!({ "current_password": user.password, "new_password": "changed since the mail" })))
            .await
            .assert_status(200);
        app.post("/api/auth/reset-password", json!({ "token": link, "password": "an attacker's choice" })).await.assert_error(400, "invalid_token");
        app.login(&user.email, "changed since the mail", None).await.assert_status(200);
    }

    async fn a_reset_link_dies_when_the_address_changes(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        app.post("/api/auth/forgot-password", json!({ "email": user.email })).await.assert_status(200);
        let link = app.token_from_mail(&user.email, "/reset-password").await;
        app.post_auth("/api/auth/change-email", &session.token, Some(json!({ "new_email": "moved@example.com", "password": user.password })))
            .await
            .assert_status(200);
        let confirm = app.token_from_mail("moved@example.com", "/confirm-email-change").await;
        app.post("/api/auth/change-email/confirm", json!({ "token": confirm })).await.assert_status(200);
        // The old mailbox's link no longer resets the account.
        app.post("/api/auth/reset-password", json!({ "token": link, "password": "an attacker's choice" })).await.assert_error(400, "invalid_token");
        app.login("moved@example.com", &user.password, None).await.assert_status(200);
    }

    async fn a_pending_email_change_dies_with_a_password_reset(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        // With a stolen session, an attacker starts moving the account to their address ...
        app.post_auth("/api/auth/change-email", &session.token, Some(json!({ "new_email": "attacker@example.com", "password": user.password })))
            .await
            .assert_status(200);
        let pending = app.token_from_mail("attacker@example.com", "/confirm-email-change").await;
        // ... the owner resets the password ...
        app.post("/api/auth/forgot-password", json!({ "email": user.email })).await.assert_status(200);
        let reset = app.token_from_mail(&user.email, "/reset-password").await;
        app.post("/api/auth/reset-password", json!({ "token": reset, "password": "the owner's new secret" })).await.assert_status(200);
        // ... and the pending change is dead.
        app.post("/api/auth/change-email/confirm", json!({ "token": pending })).await.assert_error(400, "invalid_token");
        app.login(&user.email, "the owner's new secret", None).await.assert_status(200);
        app.login("attacker@example.com", "the owner's new secret", None).await.assert_error(401, "invalid_credentials");
    }

    async fn a_verification_link_dies_when_the_password_changes(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let link = app.token_from_mail(&user.email, "/verify-email").await;
        app.post_auth("/api/auth/change-password", &session.token, Some(json!({ "current_password": user.password, "new_password": "changed since the mail" })))
            .await
            .assert_status(200);
        app.post("/api/auth/verify-email", json!({ "token": link })).await.assert_error(400, "invalid_token");
        // A new link works.
        app.post_auth("/api/auth/send-verification", &session.token, None).await.assert_status(200);
        let fresh = app.token_from_mail(&user.email, "/verify-email").await;
        app.post("/api/auth/verify-email", json!({ "token": fresh })).await.assert_status(200);
    }

    async fn sensitive_changes_need_a_recent_login(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        let session = app.login_ok(&user).await;
        let (secret, _) = app.enable_totp(&session.token).await;
        // Sixteen minutes later the token is still valid, but its login is not recent.
        app.clock.advance(16 * 60);
        let code = app.totp_now(&secret);
        let attempts = [
            ("/api/auth/totp/recovery-codes", json!({ "code": code })),
            ("/api/auth/totp/disable", json!({ "password": user.password, "code": code })),
            ("/api/auth/change-email", json!({ "new_email": "new@example.com", "password": user.password })),
        ];
        for (path, body) in attempts {
            app.post_auth(path, &session.token, Some(body)).await.assert_error(401, "recent_login_required");
        }
        app.me(&session.token).await.assert_status(200);
        // Refreshing the token does not make the login recent.
        let refreshed = session_of(app.post("/api/auth/refresh", json!({ "refresh_token": session.refresh_token })).await.assert_status(200));
        app.post_auth("/api/auth/totp/recovery-codes", &refreshed.token, Some(json!({ "code": code }))).await.assert_error(401, "recent_login_required");
        // Signing in again with the password does.
        let fresh = session_of(app.login(&user.email, &user.password, Some(&code)).await.assert_status(200));
        app.next_totp_step();
        let resp = app.post_auth("/api/auth/totp/recovery-codes", &fresh.token, Some(json!({ "code": app.totp_now(&secret) }))).await;
        resp.assert_status(200);

        // Set-up and enabling as well.
        let other = app.new_verified_user().await;
        let theirs = app.login_ok(&other).await;
        app.clock.advance(16 * 60);
        app.post_auth("/api/auth/totp/setup", &theirs.token, None).await.assert_error(401, "recent_login_required");
        app.post_auth("/api/auth/totp/enable", &theirs.token, Some(json!({ "code": "123456" }))).await.assert_error(401, "recent_login_required");
    }

    async fn recovery_codes_carry_at_least_80_bits(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        let session = app.login_ok(&user).await;
        let (_, codes) = app.enable_totp(&session.token).await;
        let alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        for code in &codes {
            let symbols: String = code.chars().filter(|c| *c != '-').collect();
            assert!(symbols.chars().all(|c| alphabet.contains(c)), "{code}");
            let bits = symbols.len() as f64 * (alphabet.len() as f64).log2();
            assert!(bits >= 80.0, "{code}: {bits} bits");
        }
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), codes.len());
    }

    async fn change_email_does_not_tell_whether_an_address_is_taken(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let taken = app.new_user().await;
        let session = app.login_ok(&user).await;
        let to_taken = app.post_auth("/api/auth/change-email", &session.token, Some(json!({ "new_email": taken.email, "password": user.password }))).await;
        let to_free = app.post_auth("/api/auth/change-email", &session.token, Some(json!({ "new_email": "free@example.com", "password": user.password }))).await;
        assert_eq!((to_taken.status, &to_taken.body), (to_free.status, &to_free.body));
        to_free.assert_status(200);
        // The taken address's owner hears that someone tried; no link goes there.
        let notice = app.mails_to(&taken.email).await.pop().expect("a notice to the taken address");
        assert!(notice.subject.contains("tried to use your email"), "{notice:?}");
        assert!(!notice.text.unwrap_or_default().contains("token="));
        app.token_from_mail("free@example.com", "/confirm-email-change").await;
    }

    async fn turning_totp_on_or_off_ends_every_other_session(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        let mine = app.login_ok(&user).await;
        let other = app.login_ok(&user).await;
        let (secret, _) = app.enable_totp(&mine.token).await;
        app.me(&other.token).await.assert_error(401, "invalid_token");
        app.post("/api/auth/refresh", json!({ "refresh_token": other.refresh_token })).await.assert_error(401, "invalid_refresh_token");
        app.me(&mine.token).await.assert_status(200);

        app.next_totp_step();
        let another = session_of(app.login(&user.email, &user.password, Some(&app.totp_now(&secret))).await.assert_status(200));
        app.next_totp_step();
        app.post_auth("/api/auth/totp/disable", &mine.token, Some(json!({ "password": user.password, "code": app.totp_now(&secret) })))
            .await
            .assert_status(200);
        app.me(&another.token).await.assert_error(401, "invalid_token");
        app.me(&mine.token).await.assert_status(200);
        let sessions = app.get_auth("/api/auth/sessions", &mine.token).await;
        assert_eq!(sessions.assert_status(200)["sessions"].as_array().unwrap().len(), 1);
    }

    async fn an_email_change_ends_every_session_but_the_one_that_asked(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let mine = app.login_ok(&user).await;
        let other = app.login_ok(&user).await;
        app.post_auth("/api/auth/change-email", &mine.token, Some(json!({ "new_email": "moved@example.com", "password": user.password })))
            .await
            .assert_status(200);
        let token = app.token_from_mail("moved@example.com", "/confirm-email-change").await;
        app.post("/api/auth/change-email/confirm", json!({ "token": token })).await.assert_status(200);
        app.me(&other.token).await.assert_error(401, "invalid_token");
        let me = app.me(&mine.token).await;
        assert_eq!(me.assert_status(200)["user"]["email"], "moved@example.com");
    }
}
