//! Who mints points through apps: an app no admin reviewed mints nothing (its owner may test
//! it), the daily session cap holds per user across every app, and app sessions end with the
//! user's credentials.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

async fn heartbeat(app: &TestApp, token: &str) -> crate::helpers::Resp {
    app.post("/api/session/refresh", json!({ "session_token": token }))
        .await
}

backend_tests! {
    async fn an_unreviewed_app_mints_nothing(backend) {
        let app = TestApp::spawn_with(backend, |c| c.signup_multipliers = vec![]).await;
        let admin = app.admin_token().await;
        // The owner registers three apps nobody reviewed and authorizes each for themself.
        let mut sessions = Vec::new();
        let mut access = Vec::new();
        let first = app.new_client(&["profile:read"], false).await;
        let owner_id = app.me(&first.owner_token).await.body["user"]["id"].as_str().unwrap().to_string();
        let tokens = app.oauth_tokens(&first.owner_token, &first, "profile:read").await;
        sessions.push(tokens.session_token.unwrap());
        access.push(tokens.access_token);
        let rewarded = app.post_auth("/api/admin/campaigns", &admin, Some(json!({ "name": "Rewarded", "surface_type": "rewarded", "payout_rate": 50, "budget": 10000 }))).await;
        let campaign = rewarded.assert_status(201)["campaign"]["id"].as_str().unwrap().to_string();
        // Its sessions run but earn nothing, and say so.
        app.clock.advance(5 * 60);
        let beat = heartbeat(&app, &sessions[0]).await;
        assert_eq!(beat.assert_status(200)["unpaid_reason"], "app_not_approved");
        // Its ad events are recorded but pay nothing, and say so.
        let event = app.post_auth("/api/external/ads/event", &access[0], Some(json!({ "campaign_id": campaign, "event_type": "impression" }))).await;
        assert_eq!(event.assert_status(200)["event"]["unpaid_reason"], "app_not_approved");
        assert_eq!(app.balance_and_ledger(&owner_id).await, (0, 0));
        let row = app.get_auth("/api/admin/campaigns", &admin).await.body["campaigns"][0].clone();
        assert_eq!((row["impressions"].as_i64(), row["budget_left"].as_i64()), (Some(1), Some(10000)));
        // Once an admin approves it, the same session earns.
        app.post_auth(&format!("/api/admin/apps/{}/approve", first.id), &admin, None).await.assert_status(200);
        app.clock.advance(60);
        let next = beat.body["session_token"].as_str().unwrap();
        let beat = heartbeat(&app, next).await;
        assert!(beat.assert_status(200).get("unpaid_reason").is_none(), "{}", beat.body);
        assert_eq!(app.balance_and_ledger(&owner_id).await, (1, 1));
    }

    async fn the_daily_session_cap_holds_across_apps(backend) {
        let app = TestApp::spawn_with(backend, |c| {
            c.signup_multipliers = vec![];
            c.app_sessions.daily_cap = 12;
        }).await;
        let user = app.new_user().await;
        let jwt = app.login_ok(&user).await.token;
        let mut sessions = Vec::new();
        for _ in 0..3 {
            let client = app.new_client(&["profile:read"], true).await;
            sessions.push(app.oauth_tokens(&jwt, &client, "profile:read").await.session_token.unwrap());
        }
        // Five minutes a beat, five points a beat per app, the apps' heartbeats at once:
        // three apps would earn 3 × 12.
        for _ in 0..4 {
            app.clock.advance(5 * 60);
            let beats = futures::future::join_all(sessions.iter().map(|t| heartbeat(&app, t))).await;
            for (beat, token) in beats.iter().zip(sessions.iter_mut()) {
                *token = beat.assert_status(200)["session_token"].as_str().unwrap().to_string();
            }
        }
        assert_eq!(app.balance_and_ledger(&user.id).await, (12, 12));
    }

    async fn a_password_change_or_reset_ends_app_sessions(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let op = app.operated_by(&client, &["profile:read"]).await;
        app.post_auth("/api/auth/change-password", &op.jwt, Some(json!({ "current_password": op.user.password, "new_password": "a-brand-new-secret-1" }))).await.assert_status(200);
        heartbeat(&app, op.session_token.as_ref().unwrap()).await.assert_error(401, "session_ended");
        // A reset too.
        let op = app.operated_by(&client, &["profile:read"]).await;
        app.post("/api/auth/forgot-password", json!({ "email": op.user.email })).await.assert_status(200);
        let token = app.token_from_mail(&op.user.email, "/reset-password").await;
        app.post("/api/auth/reset-password", json!({ "token": token, "password": "another-new-secret-2" })).await.assert_status(200);
        heartbeat(&app, op.session_token.as_ref().unwrap()).await.assert_error(401, "session_ended");
    }

    async fn only_session_and_ad_earnings_are_multiplied(backend) {
        let app = TestApp::spawn_with(backend, |c| {
            c.signup_multipliers = vec![];
            c.default_multiplier = 3.0;
        }).await;
        let referrer = app.new_user().await;
        let friend = app.new_user_referred(Some(&referrer.referral_code)).await;
        app.verify_email_of(&friend).await;
        app.grant_points(&referrer, 10).await;
        // The bonus and the grant are the amounts given, whatever the multiplier.
        let bonus = app.state.config.referral_bonus;
        assert_eq!(app.balance_and_ledger(&referrer.id).await, (bonus + 10, bonus + 10));
        // A session's minute is multiplied.
        let client = app.new_client(&["profile:read"], true).await;
        let op = app.operated_by(&client, &["profile:read"]).await;
        app.clock.advance(60);
        heartbeat(&app, op.session_token.as_ref().unwrap()).await.assert_status(200);
        assert_eq!(app.balance_and_ledger(&op.user.id).await, (3, 3));
    }
}
