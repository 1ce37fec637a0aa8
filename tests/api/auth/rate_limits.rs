//! Abuse limits: every limit answers 429 with `Retry-After` once exceeded; attempts are
//! reserved before they are checked, so parallel guesses never overshoot; wrong passwords
//! count per account and address and per account overall, wrong codes per account, mail per
//! target address.

use buddo_shared::config::Limit;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Session, TestApp, TestUser};

/// A verified, signed-in user with TOTP on, the clock on the step after: its secret, and a
/// right and a wrong code for that step.
async fn with_totp(app: &TestApp) -> (TestUser, Session, String, String, &'static str) {
    let user = app.new_verified_user().await;
    let session = app.login_ok(&user).await;
    let (secret, _) = app.enable_totp(&session.token).await;
    app.next_totp_step();
    let good = app.totp_now(&secret);
    let wrong = if good == "000000" { "111111" } else { "000000" };
    (user, session, secret, good, wrong)
}

backend_tests! {
    async fn register_is_limited_per_address(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.register = Limit::new(2, 3600)).await;
        app.register("a@example.com", "aaa", "correct horse battery").await.assert_status(201);
        app.register("b@example.com", "bbb", "correct horse battery").await.assert_status(201);
        app.register("c@example.com", "ccc", "correct horse battery").await.assert_limited();
        // A new window opens after the hour.
        app.clock.advance(3600);
        app.register("c@example.com", "ccc", "correct horse battery").await.assert_status(201);
    }

    async fn login_is_limited_per_address(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.login = Limit::new(3, 60)).await;
        let user = app.new_user().await;
        for _ in 0..3 {
            app.login(&user.email, &user.password, None).await.assert_status(200);
        }
        app.login(&user.email, &user.password, None).await.assert_limited();
    }

    async fn wrong_passwords_from_one_address_lock_out_only_that_address(backend) {
        let app = TestApp::spawn_behind_proxy(backend, |c| c.rate_limits.failed_password_per_ip = Limit::new(3, 900)).await;
        let user = app.new_user().await;
        for _ in 0..3 {
            app.login_from("198.51.100.1", &user.email, "wrong password").await.assert_error(401, "invalid_credentials");
            app.login_from("198.51.100.1", "ghost@example.com", "wrong password").await.assert_error(401, "invalid_credentials");
        }
        // The attacker's address waits, even with the right password, and unknown accounts
        // answer alike ...
        let known = app.login_from("198.51.100.1", &user.email, &user.password).await;
        let unknown = app.login_from("198.51.100.1", "ghost@example.com", "wrong password").await;
        known.assert_limited();
        unknown.assert_limited();
        assert_eq!(known.body, unknown.body);
        // ... but the owner, from anywhere else, signs in as usual.
        app.login_from("203.0.113.7", &user.email, &user.password).await.assert_status(200);
        app.clock.advance(900);
        app.login_from("198.51.100.1", &user.email, &user.password).await.assert_status(200);
    }

    async fn wrong_passwords_from_many_addresses_meet_the_account_ceiling(backend) {
        let app = TestApp::spawn_behind_proxy(backend, |c| c.rate_limits.failed_password = Limit::new(5, 3600)).await;
        let user = app.new_user().await;
        for i in 0..5 {
            app.login_from(&format!("198.51.100.{i}"), &user.email, "wrong password").await.assert_error(401, "invalid_credentials");
        }
        app.login_from("203.0.113.7", &user.email, &user.password).await.assert_limited();
        let other = app.new_user().await;
        app.login_from("203.0.113.7", &other.email, &other.password).await.assert_status(200);
        app.clock.advance(3600);
        app.login_from("203.0.113.7", &user.email, &user.password).await.assert_status(200);
    }

    async fn parallel_wrong_passwords_are_never_checked_past_the_limit(backend) {
        let app = TestApp::spawn_behind_proxy(backend, |c| c.rate_limits.failed_password = Limit::new(10, 900)).await;
        let user = app.new_user().await;
        let ips: Vec<String> = (0..50).map(|i| format!("198.51.100.{}", i + 1)).collect();
        let attempts = ips.iter().map(|ip| app.login_from(ip, &user.email, "wrong password"));
        let results = futures::future::join_all(attempts).await;
        // Only a reserved attempt is checked, and only a checked one answers 401.
        let checked = results.iter().filter(|r| r.status == 401).count();
        let limited = results.iter().filter(|r| r.status == 429).count();
        assert_eq!((checked, limited), (10, 40), "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
    }

    async fn right_passwords_do_not_count_as_failures(backend) {
        let app = TestApp::spawn_with(backend, |c| {
            c.rate_limits.failed_password_per_ip = Limit::new(2, 900);
            c.rate_limits.failed_password = Limit::new(2, 900);
        })
        .await;
        let user = app.new_user().await;
        app.login(&user.email, "wrong password", None).await.assert_error(401, "invalid_credentials");
        for _ in 0..5 {
            app.login(&user.email, &user.password, None).await.assert_status(200);
        }
        app.login(&user.email, "wrong password", None).await.assert_error(401, "invalid_credentials");
        app.login(&user.email, &user.password, None).await.assert_limited();
    }

    async fn wrong_codes_at_login_lock_the_second_factor(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.failed_code = Limit::new(3, 900)).await;
        let (user, _, secret, good, wrong) = with_totp(&app).await;
        for _ in 0..3 {
            app.login(&user.email, &user.password, Some(wrong)).await.assert_error(401, "invalid_totp_code");
        }
        // The password is right, but no more codes are checked for a while.
        app.login(&user.email, &user.password, Some(&good)).await.assert_limited();
        app.clock.advance(900);
        app.login(&user.email, &user.password, Some(&app.totp_now(&secret))).await.assert_status(200);
    }

    async fn wrong_totp_codes_of_a_signed_in_user_are_limited(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.failed_code = Limit::new(3, 900)).await;
        let (_, session, secret, good, wrong) = with_totp(&app).await;
        for _ in 0..3 {
            app.post_auth("/api/auth/totp/verify", &session.token, Some(json!({ "code": wrong }))).await.assert_error(400, "invalid_code");
        }
        app.post_auth("/api/auth/totp/verify", &session.token, Some(json!({ "code": good }))).await.assert_limited();
        app.clock.advance(900);
        let fresh = app.totp_now(&secret);
        app.post_auth("/api/auth/totp/verify", &session.token, Some(json!({ "code": fresh }))).await.assert_status(200);
    }

    async fn re_checks_of_the_password_count_as_wrong_passwords(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.failed_password_per_ip = Limit::new(3, 900)).await;
        let user = app.new_verified_user().await;
        let session = app.login_ok(&user).await;
        // A stolen token cannot be used to guess the password: every sensitive change re-checks
        // it against the same counters as login.
        app.post_auth("/api/auth/change-password", &session.token, Some(json!({ "current_password": "guess one", "new_password": "brand new secret" })))
            .await
            .assert_error(400, "invalid_password");
        app.post_auth("/api/auth/change-email", &session.token, Some(json!({ "new_email": "new@example.com", "password": "guess two" })))
            .await
            .assert_error(400, "invalid_password");
        app.login(&user.email, "guess three", None).await.assert_error(401, "invalid_credentials");
        app.post_auth("/api/auth/change-password", &session.token, Some(json!({ "current_password": user.password, "new_password": "brand new secret" }))).await.assert_limited();
    }

    async fn turning_totp_off_re_checks_the_password_under_the_limit(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.failed_password_per_ip = Limit::new(3, 900)).await;
        let user = app.new_verified_user().await;
        let session = app.login_ok(&user).await;
        let (secret, _) = app.enable_totp(&session.token).await;
        app.next_totp_step();
        for _ in 0..3 {
            app.post_auth("/api/auth/totp/disable", &session.token, Some(json!({ "password": "a wrong guess", "code": "123456" })))
                .await
                .assert_error(400, "invalid_password");
        }
        app.post_auth("/api/auth/totp/disable", &session.token, Some(json!({ "password": user.password, "code": app.totp_now(&secret) }))).await.assert_limited();
    }

    async fn forgot_password_is_limited_per_address(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.forgot_password = Limit::new(2, 3600)).await;
        for _ in 0..2 {
            app.post("/api/auth/forgot-password", json!({ "email": "x@example.com" })).await.assert_status(200);
        }
        app.post("/api/auth/forgot-password", json!({ "email": "x@example.com" })).await.assert_limited();
    }

    async fn the_limit_holds_under_parallel_requests(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.forgot_password = Limit::new(5, 3600)).await;
        let attempts = (0..12).map(|_| app.post("/api/auth/forgot-password", json!({ "email": "x@example.com" })));
        let results = futures::future::join_all(attempts).await;
        assert_eq!(results.iter().filter(|r| r.status == 200).count(), 5);
        assert_eq!(results.iter().filter(|r| r.status == 429).count(), 7);
    }

    async fn reset_mail_to_one_address_is_limited_silently(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.mail_per_address = Limit::new(3, 3600)).await;
        let user = app.new_user().await;
        let first = app.post("/api/auth/forgot-password", json!({ "email": user.email })).await;
        for _ in 0..4 {
            let again = app.post("/api/auth/forgot-password", json!({ "email": user.email })).await;
            assert_eq!((again.status, &again.body), (first.status, &first.body));
        }
        let resets = app.mails_to(&user.email).await.into_iter().filter(|m| m.subject.contains("Reset")).count();
        assert_eq!(resets, 3);
        app.clock.advance(3600);
        app.post("/api/auth/forgot-password", json!({ "email": user.email })).await.assert_status(200);
        let resets = app.mails_to(&user.email).await.into_iter().filter(|m| m.subject.contains("Reset")).count();
        assert_eq!(resets, 4);
    }

    async fn unknown_addresses_are_counted_like_known_ones(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.mail_per_address = Limit::new(3, 3600)).await;
        for _ in 0..3 {
            app.post("/api/auth/forgot-password", json!({ "email": "later@example.com" })).await.assert_status(200);
        }
        // The address gets an account: the requests made before it existed still count.
        app.register("later@example.com", "later", "correct horse battery").await.assert_status(201);
        app.post("/api/auth/forgot-password", json!({ "email": "later@example.com" })).await.assert_status(200);
        assert!(app.mails_to("later@example.com").await.iter().all(|m| !m.subject.contains("Reset")));
    }

    async fn verification_and_email_change_mail_is_limited_per_address(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.mail_per_address = Limit::new(3, 3600)).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        for _ in 0..3 {
            app.post_auth("/api/auth/send-verification", &session.token, None).await.assert_status(200);
        }
        app.post_auth("/api/auth/send-verification", &session.token, None).await.assert_limited();

        let other = app.new_user().await;
        let theirs = app.login_ok(&other).await;
        let change = json!({ "new_email": "target@example.com", "password": other.password });
        for _ in 0..3 {
            app.post_auth("/api/auth/change-email", &theirs.token, Some(change.clone())).await.assert_status(200);
        }
        app.post_auth("/api/auth/change-email", &theirs.token, Some(change)).await.assert_limited();
        assert_eq!(app.mails_to("target@example.com").await.len(), 3);
    }
}
