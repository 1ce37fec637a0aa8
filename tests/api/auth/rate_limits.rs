//! DESIGN.md §11: every limit answers 429 with `Retry-After` once exceeded.

use buddo_shared::config::Limit;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

#[track_caller]
fn assert_limited(resp: &Resp) {
    resp.assert_error(429, "rate_limited");
    let retry: u64 = resp.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    assert_eq!(resp.body["retry_after"], retry);
}

backend_tests! {
    async fn register_is_limited_per_address(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.register = Limit::new(2, 3600)).await;
        app.register("a@example.com", "aaa", "correct horse battery").await.assert_status(201);
        app.register("b@example.com", "bbb", "correct horse battery").await.assert_status(201);
        assert_limited(&app.register("c@example.com", "ccc", "correct horse battery").await);
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
        assert_limited(&app.login(&user.email, &user.password, None).await);
    }

    async fn failed_logins_lock_the_account_whether_or_not_it_exists(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.failed_login_per_account = Limit::new(3, 900)).await;
        let user = app.new_user().await;
        for _ in 0..3 {
            app.login(&user.email, "wrong password", None).await.assert_error(401, "invalid_credentials");
            app.login("ghost@example.com", "wrong password", None).await.assert_error(401, "invalid_credentials");
        }
        // Now even the right password waits, and unknown accounts answer alike.
        let known = app.login(&user.email, &user.password, None).await;
        let unknown = app.login("ghost@example.com", "wrong password", None).await;
        assert_limited(&known);
        assert_limited(&unknown);
        assert_eq!(known.body["error"], unknown.body["error"]);
        // Other accounts are not affected.
        let other = app.new_user().await;
        app.login(&other.email, &other.password, None).await.assert_status(200);
        app.clock.advance(900);
        app.login(&user.email, &user.password, None).await.assert_status(200);
    }

    async fn forgot_password_is_limited_per_address(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.forgot_password = Limit::new(2, 3600)).await;
        for _ in 0..2 {
            app.post("/api/auth/forgot-password", json!({ "email": "x@example.com" })).await.assert_status(200);
        }
        assert_limited(&app.post("/api/auth/forgot-password", json!({ "email": "x@example.com" })).await);
    }

    async fn the_limit_holds_under_parallel_requests(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.forgot_password = Limit::new(5, 3600)).await;
        let attempts = (0..12).map(|_| app.post("/api/auth/forgot-password", json!({ "email": "x@example.com" })));
        let results = futures::future::join_all(attempts).await;
        assert_eq!(results.iter().filter(|r| r.status == 200).count(), 5);
        assert_eq!(results.iter().filter(|r| r.status == 429).count(), 7);
    }

    async fn wrong_totp_codes_of_a_signed_in_user_are_limited(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.failed_login_per_account = Limit::new(3, 900)).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let (secret, _) = app.enable_totp(&session.token).await;
        app.next_totp_step();
        let good = app.totp_now(&secret);
        let wrong = if good == "000000" { "111111" } else { "000000" };
        for _ in 0..3 {
            app.post_auth("/api/auth/totp/verify", &session.token, Some(json!({ "code": wrong }))).await.assert_error(400, "invalid_code");
        }
        assert_limited(&app.post_auth("/api/auth/totp/verify", &session.token, Some(json!({ "code": good }))).await);
        app.clock.advance(900);
        let fresh = app.totp_now(&secret);
        app.post_auth("/api/auth/totp/verify", &session.token, Some(json!({ "code": fresh }))).await.assert_status(200);
    }
}
