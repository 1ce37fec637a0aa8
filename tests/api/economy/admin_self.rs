//! An admin cannot act on their own account through the admin API: no granting or deducting
//! their own points, no disabling or enabling themselves (403 `self_action_forbidden`, in any
//! spelling of their id). Another admin can; `buddo admin enable` (the operator's way back,
//! also tested in tests/api/cli.rs) enables a locked-out admin again.

use buddo_shared::domain::account::deletion;
use buddo_shared::domain::input::Email;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{TestApp, TestUser};

/// A signed-in admin: the user and their token.
async fn admin(app: &TestApp) -> (TestUser, String) {
    let user = app.new_user().await;
    app.promote(&user).await;
    let token = app.login_ok(&user).await.token;
    (user, token)
}

fn points(amount: i64) -> Option<serde_json::Value> {
    Some(json!({ "amount": amount, "reason": "my own bonus" }))
}

backend_tests! {
    async fn an_admin_cannot_mint_or_take_their_own_points(backend) {
        let app = TestApp::spawn(backend).await;
        let (me, token) = admin(&app).await;
        for id in [me.id.clone(), me.id.to_uppercase(), me.id.replace('-', "")] {
            let path = format!("/api/admin/users/{id}/points");
            app.post_auth(&path, &token, points(1_000_000)).await.assert_error(403, "self_action_forbidden");
        }
        assert_eq!(app.balance_and_ledger(&me.id).await, (0, 0));

        // Another admin may grant them points; they still cannot take or add to their own.
        app.grant_points(&me, 100).await;
        let path = format!("/api/admin/users/{}/points", me.id);
        app.post_auth(&path, &token, points(-100)).await.assert_error(403, "self_action_forbidden");
        app.post_auth(&path, &token, points(5)).await.assert_error(403, "self_action_forbidden");
        assert_eq!(app.balance_and_ledger(&me.id).await, (100, 100));

        // Their own acts on others are unchanged.
        let other = app.new_user().await;
        app.post_auth(&format!("/api/admin/users/{}/points", other.id), &token, points(7)).await.assert_status(200);
        assert_eq!(app.balance_and_ledger(&other.id).await, (7, 7));
    }

    async fn an_admin_cannot_disable_or_enable_themselves(backend) {
        let app = TestApp::spawn(backend).await;
        let (me, token) = admin(&app).await;
        for action in ["disable", "enable"] {
            for id in [me.id.clone(), me.id.to_uppercase()] {
                let path = format!("/api/admin/users/{id}/{action}");
                app.post_auth(&path, &token, None).await.assert_error(403, "self_action_forbidden");
            }
        }
        // Nothing happened: still signed in, nothing in the log.
        app.me(&token).await.assert_status(200);
        let log = app.get_auth(&format!("/api/admin/activity?user_id={}", me.id), &token).await;
        let kinds: Vec<String> = log.assert_status(200)["activity"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_string()).collect();
        assert_eq!(kinds, ["login"]);

        // Another admin can disable them; the operator command brings them back.
        let (_, other) = admin(&app).await;
        app.post_auth(&format!("/api/admin/users/{}/disable", me.id), &other, None).await.assert_status(200);
        app.me(&token).await.assert_error(401, "invalid_token");
        app.login(&me.email, &me.password, None).await.assert_error(403, "account_disabled");
        let email = Email::parse("email", &me.email).unwrap();
        let enabled = deletion::enable_by_operator(&app.state, &email).await.unwrap();
        assert!(!enabled.disabled);
        let again = app.login_ok(&me).await.token;
        app.me(&again).await.assert_status(200);
    }
}
