//! Referral bonuses: a referral code is checked and recorded at registration, but the referrer
//! is paid only when the referred account first verifies an address (verification link,
//! password reset or confirmed email change) — once per account, however many verifications
//! race or follow, with its ledger entry; a referrer deleted meanwhile is paid nothing.

use buddo_shared::domain::identity::users;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{TestApp, TestUser};

/// The referrer's points, total earned and direct referrals, as stored.
async fn stats(app: &TestApp, user: &TestUser) -> (i64, i64, i64) {
    let u = users::get(app.state.table.as_ref(), &user.id)
        .await
        .unwrap()
        .expect("user");
    (u.points, u.total_earned, u.direct_referrals)
}

/// Asserts the referrer holds exactly `bonus` (paid once, or nothing), with a ledger that adds
/// up to the balance.
#[track_caller]
fn assert_paid(got: (i64, i64, i64), ledger: (i64, i64), bonus: i64, times: i64) {
    assert_eq!(
        got,
        (bonus * times, bonus * times, times),
        "points, earned, referrals"
    );
    assert_eq!(
        ledger,
        (bonus * times, bonus * times),
        "balance and ledger sum"
    );
}

backend_tests! {
    async fn registration_pays_nothing_and_verification_pays_once(backend) {
        let app = TestApp::spawn(backend).await;
        let bonus = app.state.config.referral_bonus;
        assert!(bonus > 0);
        let referrer = app.new_user().await;
        let friend = app.new_user_referred(Some(&referrer.referral_code)).await;

        // Registered: the referral is recorded, nothing is paid or counted yet.
        let stored = users::get(app.state.table.as_ref(), &friend.id).await.unwrap().unwrap();
        assert_eq!(stored.referred_by.as_deref(), Some(referrer.id.as_str()));
        assert_paid(stats(&app, &referrer).await, app.balance_and_ledger(&referrer.id).await, bonus, 0);
        // An unknown code is still refused.
        app.post("/api/auth/register", json!({
            "email": "nope@example.com", "username": "nope_ref", "password": "correct horse battery", "referral_code": "NOPE1234"
        })).await.assert_error(400, "invalid_referral_code");

        // Verified: the referrer is paid, with its entry naming the friend.
        app.verify_email_of(&friend).await;
        assert_paid(stats(&app, &referrer).await, app.balance_and_ledger(&referrer.id).await, bonus, 1);
        let token = app.login_ok(&referrer).await.token;
        let history = app.get_auth("/api/user/points/history", &token).await;
        let entries = history.assert_status(200)["entries"].as_array().unwrap().clone();
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0]["kind"], "referral_bonus");
        assert_eq!(entries[0]["amount"], bonus);
        assert_eq!(entries[0]["reference"], friend.id.as_str());
        let me = app.me(&token).await;
        assert_eq!(me.assert_status(200)["user"]["stats"]["direct_referrals"], 1);

        // Whatever verifies the account again pays nothing more: an email change confirmed,
        // a password reset.
        let session = app.login_ok(&friend).await;
        app.post_auth("/api/auth/change-email", &session.token, Some(json!({ "new_email": "moved.friend@example.com", "password": friend.password })))
            .await
            .assert_status(200);
        let confirm = app.token_from_mail("moved.friend@example.com", "/confirm-email-change").await;
        app.post("/api/auth/change-email/confirm", json!({ "token": confirm })).await.assert_status(200);
        app.post("/api/auth/forgot-password", json!({ "email": "moved.friend@example.com" })).await.assert_status(200);
        let reset = app.token_from_mail("moved.friend@example.com", "/reset-password").await;
        app.post("/api/auth/reset-password", json!({ "token": reset, "password": "a brand new secret" })).await.assert_status(200);
        assert_paid(stats(&app, &referrer).await, app.balance_and_ledger(&referrer.id).await, bonus, 1);
    }

    async fn racing_verifications_pay_once(backend) {
        let app = TestApp::spawn(backend).await;
        let bonus = app.state.config.referral_bonus;
        let referrer = app.new_user().await;
        let friend = app.new_user_referred(Some(&referrer.referral_code)).await;
        // Three live verification links: the registration's and two asked for since.
        let session = app.login_ok(&friend).await;
        for _ in 0..2 {
            app.post_auth("/api/auth/send-verification", &session.token, None).await.assert_status(200);
        }
        let tokens = app.tokens_from_mail(&friend.email, "/verify-email").await;
        assert_eq!(tokens.len(), 3);
        assert_paid(stats(&app, &referrer).await, app.balance_and_ledger(&referrer.id).await, bonus, 0);

        // Each link sent five times at once.
        let attempts = tokens
            .iter()
            .flat_map(|t| std::iter::repeat_n(t.clone(), 5))
            .map(|t| {
                let app = &app;
                async move { (t.clone(), app.post("/api/auth/verify-email", json!({ "token": t })).await) }
            });
        let results = futures::future::join_all(attempts).await;
        let mut ok = 0;
        for token in &tokens {
            let uses = results.iter().filter(|(t, r)| t == token && r.status == 200).count();
            assert!(uses <= 1, "a link worked {uses} times");
            ok += uses;
        }
        assert!(ok >= 1, "no verification went through");
        // The others: a link already used (or, on DynamoDB, a write that kept conflicting).
        for (_, r) in results.iter().filter(|(_, r)| r.status != 200) {
            let code = r.body["error"].as_str().unwrap_or_default();
            assert!(matches!((r.status.as_u16(), code), (400, "invalid_token") | (409, "conflict")), "{}: {}", r.status, r.body);
        }
        assert!(app.me(&session.token).await.assert_status(200)["user"]["email_verified"] == true);
        assert_paid(stats(&app, &referrer).await, app.balance_and_ledger(&referrer.id).await, bonus, 1);
    }

    async fn verifying_by_a_password_reset_pays_once(backend) {
        let app = TestApp::spawn(backend).await;
        let bonus = app.state.config.referral_bonus;
        let referrer = app.new_user().await;
        let friend = app.new_user_referred(Some(&referrer.referral_code)).await;
        let verify = app.token_from_mail(&friend.email, "/verify-email").await;
        assert_paid(stats(&app, &referrer).await, app.balance_and_ledger(&referrer.id).await, bonus, 0);
        // The reset link proves the mailbox: the account counts as verified and the bonus is due.
        app.post("/api/auth/forgot-password", json!({ "email": friend.email })).await.assert_status(200);
        let reset = app.token_from_mail(&friend.email, "/reset-password").await;
        app.post("/api/auth/reset-password", json!({ "token": reset, "password": "a brand new secret" })).await.assert_status(200);
        assert_paid(stats(&app, &referrer).await, app.balance_and_ledger(&referrer.id).await, bonus, 1);
        // The older verification link is dead (the password changed); nothing more is paid.
        app.post("/api/auth/verify-email", json!({ "token": verify })).await.assert_error(400, "invalid_token");
        assert_paid(stats(&app, &referrer).await, app.balance_and_ledger(&referrer.id).await, bonus, 1);
    }

    async fn a_deleted_referrer_is_paid_nothing_and_verification_still_works(backend) {
        let app = TestApp::spawn(backend).await;
        let bonus = app.state.config.referral_bonus;
        let referrer = app.new_user().await;
        let friend = app.new_user_referred(Some(&referrer.referral_code)).await;
        assert_paid(stats(&app, &referrer).await, app.balance_and_ledger(&referrer.id).await, bonus, 0);
        let token = app.login_ok(&referrer).await.token;
        app.delete_with("/api/user/me", &token, json!({ "password": referrer.password })).await.assert_status(200);

        app.verify_email_of(&friend).await;
        let session = app.login_ok(&friend).await;
        assert_eq!(app.me(&session.token).await.assert_status(200)["user"]["email_verified"], true);
        // The credit did not bring the referrer's item back.
        assert!(users::get(app.state.table.as_ref(), &referrer.id).await.unwrap().is_none());
    }
}
