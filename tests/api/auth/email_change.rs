//! An email change cannot lock anyone out: the old address works until the new one is
//! confirmed, and then gets a link that takes the account back for 7 days.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{TestApp, TestUser};

const UNDO: &str = "/api/auth/change-email/undo";

/// Asks for and confirms a change of `user`'s address (signed in with `token`) to `to`.
async fn move_to(app: &TestApp, token: &str, password: &str, to: &str) {
    app.post_auth(
        "/api/auth/change-email",
        token,
        Some(json!({ "new_email": to, "password": password })),
    )
    .await
    .assert_status(200);
    let confirm = app.token_from_mail(to, "/confirm-email-change").await;
    app.post(
        "/api/auth/change-email/confirm",
        json!({ "token": confirm }),
    )
    .await
    .assert_status(200);
}

async fn undo_link(app: &TestApp, address: &str) -> String {
    app.token_from_mail(address, "/undo-email-change").await
}

/// The address the account has now, as `/me` of a fresh login with it would show.
async fn signs_in(app: &TestApp, email: &str, password: &str) -> bool {
    app.login(email, password, None).await.status == 200
}

async fn user_with_session(app: &TestApp) -> (TestUser, String) {
    let user = app.new_verified_user().await;
    let token = app.login_ok(&user).await.token;
    (user, token)
}

backend_tests! {
    async fn the_old_address_signs_in_and_recovers_until_the_new_one_is_confirmed(backend) {
        let app = TestApp::spawn(backend).await;
        let (user, token) = user_with_session(&app).await;
        app.post_auth("/api/auth/change-email", &token, Some(json!({ "new_email": "pending@example.com", "password": user.password })))
            .await
            .assert_status(200);
        assert!(signs_in(&app, &user.email, &user.password).await);
        assert!(!signs_in(&app, "pending@example.com", &user.password).await);
        // Recovery goes to the old address, and works.
        app.post("/api/auth/forgot-password", json!({ "email": user.email })).await.assert_status(200);
        let reset = app.token_from_mail(&user.email, "/reset-password").await;
        app.post("/api/auth/reset-password", json!({ "token": reset, "password": "a brand new secret" }))
            .await
            .assert_status(200);
        assert!(signs_in(&app, &user.email, "a brand new secret").await);
        // The reset ended the pending change.
        let confirm = app.token_from_mail("pending@example.com", "/confirm-email-change").await;
        app.post("/api/auth/change-email/confirm", json!({ "token": confirm })).await.assert_error(400, "invalid_token");
        assert_eq!(app.me(&app.login_ok(&TestUser { password: "a brand new secret".into(), ..user.clone() }).await.token).await.body["user"]["email"], user.email);
    }

    async fn the_undo_link_takes_the_account_back_and_throws_everyone_out(backend) {
        let app = TestApp::spawn(backend).await;
        let (user, token) = user_with_session(&app).await;
        let client = app.new_client(&["profile:read"], true).await;
        let oauth = app.oauth_tokens(&token, &client, "profile:read").await;
        let before = app.get_auth("/api/user/connected-apps", &token).await;
        assert_eq!(before.assert_status(200)["connected_apps"].as_array().unwrap().len(), 1);

        move_to(&app, &token, &user.password, "thief@example.com").await;
        let notice = app.mails_to(&user.email).await.into_iter().find(|m| m.subject.contains("was changed")).expect("notice");
        assert!(notice.text.as_deref().unwrap().contains("thief@example.com"));
        assert!(signs_in(&app, "thief@example.com", &user.password).await);
        assert!(!signs_in(&app, &user.email, &user.password).await);
        // What whoever moved the account does next: a new password, a new session.
        let thief = app.login("thief@example.com", &user.password, None).await.assert_status(200)["token"].as_str().unwrap().to_string();
        app.post_auth("/api/auth/change-password", &thief, Some(json!({ "current_password": user.password, "new_password": "thief's own secret" })))
            .await
            .assert_status(200);

        let undo = undo_link(&app, &user.email).await;
        let resp = app.post(UNDO, json!({ "token": undo })).await;
        assert!(resp.assert_status(200)["message"].is_string());

        // The address is the account's again, verified; the other one is released.
        assert!(!signs_in(&app, "thief@example.com", "thief's own secret").await);
        app.register("thief@example.com", "someoneelse", "correct horse battery").await.assert_status(201);
        // Every session is over, the app's tokens are dead and its grant is gone.
        app.me(&token).await.assert_error(401, "invalid_token");
        app.me(&thief).await.assert_error(401, "invalid_token");
        assert_eq!(app.introspect(&oauth.access_token).await.body["active"], false);
        app.refresh_oauth(&client, &oauth.refresh_token).await.assert_status(400);
        // A reset link went to the restored address.
        let reset = app.token_from_mail(&user.email, "/reset-password").await;
        app.post("/api/auth/reset-password", json!({ "token": reset, "password": "mine again, safely" }))
            .await
            .assert_status(200);
        let back = app.login(&user.email, "mine again, safely", None).await.assert_status(200)["token"].as_str().unwrap().to_string();
        let me = app.me(&back).await;
        assert_eq!(me.body["user"]["email"], user.email);
        assert_eq!(me.body["user"]["email_verified"], true);
        let apps = app.get_auth("/api/user/connected-apps", &back).await;
        assert_eq!(apps.assert_status(200), &json!({ "connected_apps": [] }));
        let activity = app.get_auth("/api/user/activity", &back).await;
        assert!(activity.body.to_string().contains("email_change_undone"), "{}", activity.body);
        // The link works once.
        app.post(UNDO, json!({ "token": undo })).await.assert_error(400, "invalid_token");
    }

    async fn the_address_left_is_held_for_the_undo_and_then_released(backend) {
        let app = TestApp::spawn(backend).await;
        let (user, token) = user_with_session(&app).await;
        move_to(&app, &token, &user.password, "moved@example.com").await;
        // No one else can take it while the link lives; it no longer signs in or recovers.
        app.register(&user.email, "squatter", "correct horse battery").await.assert_error(409, "email_taken");
        app.post("/api/auth/forgot-password", json!({ "email": user.email })).await.assert_status(200);
        assert!(app.tokens_from_mail(&user.email, "/reset-password").await.is_empty());
        // After 7 days the link is dead and the address free.
        let undo = undo_link(&app, &user.email).await;
        app.clock.advance(7 * 24 * 3600 + 1);
        app.post(UNDO, json!({ "token": undo })).await.assert_error(400, "invalid_token");
        app.register(&user.email, "newcomer", "correct horse battery").await.assert_status(201);
    }

    async fn deleting_the_account_releases_the_address_it_holds(backend) {
        let app = TestApp::spawn(backend).await;
        let (user, token) = user_with_session(&app).await;
        let moved = format!("gone-{}@example.com", uuid::Uuid::new_v4().simple());
        move_to(&app, &token, &user.password, &moved).await;
        app.register(&user.email, "squatter", "correct horse battery").await.assert_error(409, "email_taken");
        let token = app.login(&moved, &user.password, None).await.assert_status(200)["token"].as_str().unwrap().to_string();
        app.delete_with("/api/user/me", &token, json!({ "password": user.password })).await.assert_status(200);
        // Both addresses are free at once, and the undo link takes nothing back.
        app.register(&user.email, "newcomer", "correct horse battery").await.assert_status(201);
        app.register(&moved, "other_newcomer", "correct horse battery").await.assert_status(201);
        let undo = undo_link(&app, &user.email).await;
        app.post(UNDO, json!({ "token": undo })).await.assert_error(400, "invalid_token");
    }

    async fn an_account_may_move_back_to_the_address_it_holds(backend) {
        let app = TestApp::spawn(backend).await;
        let (user, token) = user_with_session(&app).await;
        move_to(&app, &token, &user.password, "away@example.com").await;
        move_to(&app, &token, &user.password, &user.email).await;
        assert!(signs_in(&app, &user.email, &user.password).await);
        // The hold is gone with the move back: the address stays the account's after 7 days.
        app.clock.advance(8 * 24 * 3600);
        assert!(signs_in(&app, &user.email, &user.password).await);
        app.register(&user.email, "latecomer", "correct horse battery").await.assert_error(409, "email_taken");
    }

    async fn a_chain_of_changes_cannot_undo_the_first_undo(backend) {
        let app = TestApp::spawn(backend).await;
        let (user, token) = user_with_session(&app).await;
        move_to(&app, &token, &user.password, "second@example.com").await;
        let token = app.login("second@example.com", &user.password, None).await.assert_status(200)["token"].as_str().unwrap().to_string();
        move_to(&app, &token, &user.password, "third@example.com").await;
        let first = undo_link(&app, &user.email).await;
        let second = undo_link(&app, "second@example.com").await;
        // The later link is used first: the earlier one still takes the account further back…
        app.post(UNDO, json!({ "token": second })).await.assert_status(200);
        app.post(UNDO, json!({ "token": first })).await.assert_status(200);
        let reset = app.tokens_from_mail(&user.email, "/reset-password").await.pop().unwrap();
        app.post("/api/auth/reset-password", json!({ "token": reset, "password": "the owner's secret" })).await.assert_status(200);
        assert!(signs_in(&app, &user.email, "the owner's secret").await);
        assert!(!signs_in(&app, "second@example.com", "the owner's secret").await);
    }

    async fn undoing_an_earlier_change_ends_the_links_of_later_ones(backend) {
        let app = TestApp::spawn(backend).await;
        let (user, token) = user_with_session(&app).await;
        move_to(&app, &token, &user.password, "second@example.com").await;
        let token = app.login("second@example.com", &user.password, None).await.assert_status(200)["token"].as_str().unwrap().to_string();
        move_to(&app, &token, &user.password, "third@example.com").await;
        let first = undo_link(&app, &user.email).await;
        let second = undo_link(&app, "second@example.com").await;
        app.post(UNDO, json!({ "token": first })).await.assert_status(200);
        // …and once it has, the later link cannot take the account away again.
        app.post(UNDO, json!({ "token": second })).await.assert_error(400, "invalid_token");
        let reset = app.tokens_from_mail(&user.email, "/reset-password").await.pop().unwrap();
        app.post("/api/auth/reset-password", json!({ "token": reset, "password": "the owner's secret" })).await.assert_status(200);
        assert!(signs_in(&app, &user.email, "the owner's secret").await);
    }

    async fn totp_turned_on_after_the_change_is_turned_off_by_the_undo(backend) {
        let app = TestApp::spawn(backend).await;
        let (user, token) = user_with_session(&app).await;
        move_to(&app, &token, &user.password, "thief@example.com").await;
        let thief = app.login("thief@example.com", &user.password, None).await.assert_status(200)["token"].as_str().unwrap().to_string();
        app.enable_totp(&thief).await;
        app.post(UNDO, json!({ "token": undo_link(&app, &user.email).await })).await.assert_status(200);
        let reset = app.token_from_mail(&user.email, "/reset-password").await;
        app.post("/api/auth/reset-password", json!({ "token": reset, "password": "the owner's secret" })).await.assert_status(200);
        // No second factor the owner never set up stands in the way.
        let back = app.login(&user.email, "the owner's secret", None).await;
        assert!(back.assert_status(200)["token"].is_string(), "{}", back.body);
    }

    async fn totp_the_owner_had_stays_on_after_the_undo(backend) {
        let app = TestApp::spawn(backend).await;
        let (user, token) = user_with_session(&app).await;
        let (secret, _) = app.enable_totp(&token).await;
        app.next_totp_step();
        let token = app.login(&user.email, &user.password, Some(&app.totp_now(&secret))).await.assert_status(200)["token"].as_str().unwrap().to_string();
        move_to(&app, &token, &user.password, "moved@example.com").await;
        app.post(UNDO, json!({ "token": undo_link(&app, &user.email).await })).await.assert_status(200);
        let reset = app.token_from_mail(&user.email, "/reset-password").await;
        app.post("/api/auth/reset-password", json!({ "token": reset, "password": "the owner's secret" })).await.assert_status(200);
        app.next_totp_step();
        let without = app.login(&user.email, "the owner's secret", None).await;
        assert_ne!(without.status, 200, "{}", without.body);
        app.login(&user.email, "the owner's secret", Some(&app.totp_now(&secret))).await.assert_status(200);
    }

    async fn parallel_undos_restore_once(backend) {
        let app = TestApp::spawn(backend).await;
        let (user, token) = user_with_session(&app).await;
        move_to(&app, &token, &user.password, "moved@example.com").await;
        let undo = undo_link(&app, &user.email).await;
        let answers = futures::future::join_all((0..4).map(|_| app.post(UNDO, json!({ "token": undo })))).await;
        let ok = answers.iter().filter(|r| r.status == 200).count();
        assert_eq!(ok, 1, "{:?}", answers.iter().map(|r| (r.status, r.body.clone())).collect::<Vec<_>>());
        for r in answers.iter().filter(|r| r.status != 200) {
            r.assert_error(400, "invalid_token");
        }
        assert_eq!(app.tokens_from_mail(&user.email, "/reset-password").await.len(), 1);
    }

    async fn an_undo_link_is_no_other_token(backend) {
        let app = TestApp::spawn(backend).await;
        let (user, token) = user_with_session(&app).await;
        move_to(&app, &token, &user.password, "moved@example.com").await;
        let undo = undo_link(&app, &user.email).await;
        app.post("/api/auth/reset-password", json!({ "token": undo, "password": "another secret" })).await.assert_error(400, "invalid_token");
        app.post("/api/auth/verify-email", json!({ "token": undo })).await.assert_error(400, "invalid_token");
        app.post(UNDO, json!({ "token": "not-a-token" })).await.assert_error(400, "invalid_token");
        app.post(UNDO, json!({})).await.assert_status(400);
        // Still good for its own purpose.
        app.post(UNDO, json!({ "token": undo })).await.assert_status(200);
    }
}
