//! App sessions: `POST /api/session/refresh` rotates the token, beats the heart and credits
//! earnings through the ledger.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{assert_keys, TestApp};

backend_tests! {
    async fn a_refresh_rotates_the_token_and_credits_the_minutes(backend) {
        let app = TestApp::spawn_with(backend, |c| {
            c.signup_multipliers = vec![];
            c.default_multiplier = 1.5;
        }).await;
        let client = app.new_client(&["profile:read"], true).await;
        let user = app.new_user().await;
        let token = app.login_ok(&user).await.token;
        let tokens = app.oauth_tokens(&token, &client, "profile:read").await;
        let first = tokens.session_token.unwrap();
        app.clock.advance(120);
        let resp = app.post("/api/session/refresh", json!({ "session_token": first })).await;
        let body = resp.assert_status(200);
        assert_keys(body, &["expires_at", "session_token"]);
        let second = body["session_token"].as_str().unwrap().to_string();
        assert_ne!(second, first);
        // Two minutes × 1 point × 1.5.
        assert_eq!(app.me(&token).await.body["user"]["points"], 3);
        assert_eq!(app.me(&token).await.body["user"]["stats"]["total_earned"], 3);
        // The rotated-out token is dead.
        app.post("/api/session/refresh", json!({ "session_token": first })).await.assert_error(401, "invalid_session_token");
        // Short heartbeats lose nothing to rounding: 4 × 10 s = 40 s = 1 point at 1.5/min.
        let mut current = second;
        for _ in 0..4 {
            app.clock.advance(10);
            let r = app.post("/api/session/refresh", json!({ "session_token": current })).await;
            current = r.assert_status(200)["session_token"].as_str().unwrap().to_string();
        }
        assert_eq!(app.me(&token).await.body["user"]["points"], 4);
        // The ledger has an entry per credit and they add up to the balance.
        let entries = app.state.table.query(&buddo_shared::store::Query::partition(buddo_shared::keys::user_pk(&user.id)).sk(buddo_shared::store::SortKey::BeginsWith(buddo_shared::keys::LEDGER_PREFIX.into()))).await.unwrap();
        let total: i64 = entries.items.iter().map(|e| e["amount"].as_i64().unwrap()).sum();
        assert_eq!(total, 4);
        assert!(entries.items.iter().all(|e| e["kind"] == "session_earning"));
    }

    async fn earnings_stop_at_the_alive_window_and_the_daily_cap(backend) {
        let app = TestApp::spawn_with(backend, |c| {
            c.signup_multipliers = vec![];
            c.app_sessions.daily_cap = 12;
        }).await;
        let client = app.new_client(&["profile:read"], true).await;
        let token = app.login_ok(&app.new_user().await).await.token;
        let mut session = app.oauth_tokens(&token, &client, "profile:read").await.session_token.unwrap();
        // Ten minutes of silence count as the five-minute alive window, no more.
        app.clock.advance(10 * 60);
        let r = app.post("/api/session/refresh", json!({ "session_token": session })).await;
        session = r.assert_status(200)["session_token"].as_str().unwrap().to_string();
        assert_eq!(app.me(&token).await.body["user"]["points"], 5);
        for _ in 0..3 {
            app.clock.advance(5 * 60);
            let r = app.post("/api/session/refresh", json!({ "session_token": session })).await;
            session = r.assert_status(200)["session_token"].as_str().unwrap().to_string();
        }
        assert_eq!(app.me(&token).await.body["user"]["points"], 12, "capped for the day");
        // A new authorization does not reset the day's cap.
        let mut fresh = app.oauth_tokens(&token, &client, "profile:read").await.session_token.unwrap();
        app.clock.advance(5 * 60);
        let r = app.post("/api/session/refresh", json!({ "session_token": fresh })).await;
        fresh = r.assert_status(200)["session_token"].as_str().unwrap().to_string();
        assert_eq!(app.me(&token).await.body["user"]["points"], 12);
        let _ = fresh;
    }

    async fn parallel_refreshes_with_one_token_succeed_once(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let token = app.login_ok(&app.new_user().await).await.token;
        let session = app.oauth_tokens(&token, &client, "profile:read").await.session_token.unwrap();
        app.clock.advance(60);
        let body = json!({ "session_token": session });
        let results = futures::future::join_all((0..5).map(|_| app.post("/api/session/refresh", body.clone()))).await;
        assert_eq!(results.iter().filter(|r| r.status == 200).count(), 1, "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
        for r in results.iter().filter(|r| r.status != 200) {
            r.assert_error(401, "invalid_session_token");
        }
        // Credited once.
        let points = app.me(&token).await.body["user"]["points"].as_i64().unwrap();
        assert!(points <= 3, "{points}");
    }

    async fn idle_and_replaced_sessions_are_over(backend) {
        let app = TestApp::spawn_with(backend, |c| c.app_sessions.token_ttl = std::time::Duration::from_secs(3600)).await;
        let client = app.new_client(&["profile:read"], true).await;
        let token = app.login_ok(&app.new_user().await).await.token;
        let old = app.oauth_tokens(&token, &client, "profile:read").await.session_token.unwrap();
        let new = app.oauth_tokens(&token, &client, "profile:read").await.session_token.unwrap();
        app.post("/api/session/refresh", json!({ "session_token": old })).await.assert_error(401, "invalid_session_token");
        app.clock.advance(31 * 60);
        app.post("/api/session/refresh", json!({ "session_token": new })).await.assert_error(401, "session_ended");
        for bad in [json!({ "session_token": "" }), json!({ "session_token": "bst_nope" }), json!({ "session_token": 7 })] {
            let r = app.post("/api/session/refresh", bad).await;
            assert!(r.status == 400 || r.status == 401, "{}", r.body);
        }
    }

    async fn session_refresh_is_limited_per_address(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.session_refresh = buddo_shared::config::Limit::new(2, 60)).await;
        for _ in 0..2 {
            app.post("/api/session/refresh", json!({ "session_token": "bst_unknown" })).await.assert_status(401);
        }
        app.post("/api/session/refresh", json!({ "session_token": "bst_unknown" })).await.assert_error(429, "rate_limited");
    }
}
