//! Limits on what succeeds but costs: changing the password (two Argon2 hashes and a mail per
//! call) and starting an email change (a mail to any address) are limited per account
//! (`RATE_LIMIT_PASSWORD_CHANGE`, `RATE_LIMIT_EMAIL_CHANGE`). Every attempt counts before any
//! hashing; past the limit the answer is 429 `rate_limited` with `Retry-After`.

use buddo_shared::config::Limit;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

fn change(current: &str, new: &str) -> serde_json::Value {
    json!({ "current_password": current, "new_password": new })
}

backend_tests! {
    async fn password_changes_are_limited_per_account(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.password_change = Limit::new(2, 3600)).await;
        let user = app.new_user().await;
        let token = app.login_ok(&user).await.token;
        let path = "/api/auth/change-password";
        app.post_auth(path, &token, Some(change(&user.password, "second secret"))).await.assert_status(200);
        app.post_auth(path, &token, Some(change("second secret", "third secret"))).await.assert_status(200);
        // Right password or wrong, the third attempt is refused before any hashing.
        app.post_auth(path, &token, Some(change("third secret", "fourth secret"))).await.assert_limited();
        app.post_auth(path, &token, Some(change("a wrong guess", "fourth secret"))).await.assert_limited();
        app.login(&user.email, "third secret", None).await.assert_status(200);
        let notices = app.mails_to(&user.email).await.into_iter().filter(|m| m.subject.contains("password was changed")).count();
        assert_eq!(notices, 2);

        // Per account: someone else still changes theirs.
        let other = app.new_user().await;
        let theirs = app.login_ok(&other).await.token;
        app.post_auth(path, &theirs, Some(change(&other.password, "their new secret"))).await.assert_status(200);

        // The next window opens after the hour.
        app.clock.advance(3600);
        let token = app.login(&user.email, "third secret", None).await.assert_status(200)["token"].as_str().unwrap().to_string();
        app.post_auth(path, &token, Some(change("third secret", "fourth secret"))).await.assert_status(200);
    }

    async fn email_changes_are_limited_per_account_whatever_the_address(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.email_change = Limit::new(2, 3600)).await;
        let user = app.new_user().await;
        // A fresh password login: change-email needs a recent one.
        let token = app.login_ok(&user).await.token;
        let path = "/api/auth/change-email";
        let to = |n: u32| json!({ "new_email": format!("target{n}@example.com"), "password": user.password });
        app.post_auth(path, &token, Some(to(1))).await.assert_status(200);
        app.post_auth(path, &token, Some(to(2))).await.assert_status(200);
        // A third address is not mailed, right password or wrong.
        app.post_auth(path, &token, Some(to(3))).await.assert_limited();
        app.post_auth(path, &token, Some(json!({ "new_email": "target4@example.com", "password": "a wrong guess" }))).await.assert_limited();
        assert_eq!(app.mails_to("target1@example.com").await.len(), 1);
        assert_eq!(app.mails_to("target2@example.com").await.len(), 1);
        assert!(app.mails_to("target3@example.com").await.is_empty());
        assert!(app.mails_to("target4@example.com").await.is_empty());

        // Per account: someone else still starts theirs.
        let other = app.new_user().await;
        let theirs = app.login_ok(&other).await.token;
        app.post_auth(path, &theirs, Some(json!({ "new_email": "target5@example.com", "password": other.password }))).await.assert_status(200);
    }
}
