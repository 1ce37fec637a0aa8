//! POST /api/auth/register and GET /api/auth/me.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{assert_keys, TestApp};

backend_tests! {
    async fn register_returns_the_reference_shape(backend) {
        let app = TestApp::spawn(backend).await;
        let resp = app.register("Ann@Example.com", "Ann_1", "correct horse battery").await;
        let user = &resp.assert_status(201)["user"];
        assert_keys(&resp.body, &["user"]);
        assert_keys(user, &["email", "email_verified", "id", "points", "referral_code", "registration_number", "signup_multiplier", "tier", "username"]);
        assert_eq!(user["email"], "ann@example.com");
        assert_eq!(user["username"], "Ann_1");
        assert_eq!(user["email_verified"], false);
        assert_eq!(user["points"], 0);
        assert_eq!(user["tier"], "bronze");
        assert_eq!(user["registration_number"], 1);
        assert_eq!(user["signup_multiplier"], 3.0);
        assert!(uuid::Uuid::parse_str(user["id"].as_str().unwrap()).is_ok());
        assert_eq!(user["referral_code"].as_str().unwrap().len(), 8);
    }

    async fn registration_numbers_count_up_and_set_the_multiplier(backend) {
        // Small tiers so that three registrations cross two boundaries.
        let app = TestApp::spawn_with(backend, |c| {
            c.signup_multipliers = vec![(1, 3.0), (2, 2.0)];
            c.default_multiplier = 1.5;
        })
        .await;
        let mut seen = Vec::new();
        for name in ["first", "second", "third"] {
            let resp = app.register(&format!("{name}@example.com"), name, "correct horse battery").await;
            let user = resp.assert_status(201)["user"].clone();
            seen.push((user["registration_number"].as_u64().unwrap(), user["signup_multiplier"].as_f64().unwrap()));
        }
        assert_eq!(seen, vec![(1, 3.0), (2, 2.0), (3, 1.5)]);
        // The stored user carries it too.
        let login = app.login("second@example.com", "correct horse battery", None).await;
        let token = login.assert_status(200)["token"].as_str().unwrap().to_string();
        assert_eq!(app.me(&token).await.body["user"]["signup_multiplier"], 2.0);
    }

    async fn duplicates_are_refused_regardless_of_case(backend) {
        let app = TestApp::spawn(backend).await;
        app.register("ann@example.com", "ann", "correct horse battery").await.assert_status(201);
        app.register("ANN@example.com", "other", "correct horse battery").await.assert_error(409, "email_taken");
        app.register("bob@example.com", "ANN", "correct horse battery").await.assert_error(409, "username_taken");
        // Nothing of the refused registrations was written: the names are still free.
        app.register("bob@example.com", "other", "correct horse battery").await.assert_status(201);
    }

    async fn concurrent_registrations_of_one_email_create_one_account(backend) {
        let app = TestApp::spawn(backend).await;
        let names: Vec<String> = (0..6).map(|i| format!("racer{i}")).collect();
        let attempts = names.iter().map(|name| app.register("race@example.com", name, "correct horse battery"));
        let results = futures::future::join_all(attempts).await;
        let created = results.iter().filter(|r| r.status == 201).count();
        assert_eq!(created, 1, "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
        for r in results.iter().filter(|r| r.status != 201) {
            r.assert_error(409, "email_taken");
        }
    }

    async fn invalid_input_names_the_field(backend) {
        let app = TestApp::spawn(backend).await;
        let cases = [
            (json!({"email": "not-an-email", "username": "ann", "password": "correct horse"}), "email"),
            (json!({"email": "a@example.com", "username": "a", "password": "correct horse"}), "username"),
            (json!({"email": "a@example.com", "username": "has space", "password": "correct horse"}), "username"),
            (json!({"email": "a@example.com", "username": "ann", "password": "short"}), "password"),
            (json!({"email": "a@example.com", "username": "ann", "password": "x".repeat(129)}), "password"),
            (json!({"email": "a@example.com", "username": "ann", "password": "password123"}), "password"),
        ];
        for (body, field) in cases {
            let resp = app.post("/api/auth/register", body).await;
            resp.assert_error(400, "validation_failed");
            assert!(resp.body["fields"][field].is_string(), "{}", resp.body);
        }
    }

    async fn referral_codes_credit_the_referrer(backend) {
        let app = TestApp::spawn(backend).await;
        let referrer = app.new_user().await;
        let session = app.login_ok(&referrer).await;
        let friend = app.new_user_referred(Some(&referrer.referral_code.to_lowercase())).await;
        // Paid once the friend verifies their address (tests/api/economy/referrals.rs).
        app.verify_email_of(&friend).await;
        let me = app.me(&session.token).await;
        let user = &me.assert_status(200)["user"];
        assert_eq!(user["points"], 100);
        assert_eq!(user["stats"]["total_earned"], 100);
        assert_eq!(user["stats"]["direct_referrals"], 1);

        let resp = app.post("/api/auth/register", json!({
            "email": "x@example.com", "username": "xavier", "password": "correct horse", "referral_code": "NOPE1234"
        })).await;
        resp.assert_error(400, "invalid_referral_code");
        app.register("x@example.com", "xavier", "correct horse").await.assert_status(201);
    }

    async fn me_returns_the_full_profile(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let resp = app.me(&session.token).await;
        let me = &resp.assert_status(200)["user"];
        assert_keys(&resp.body, &["user"]);
        assert_keys(me, &["email", "email_verified", "id", "points", "referral_code", "signup_multiplier", "stats", "tier", "tier_emoji", "totp_enabled", "username"]);
        assert_keys(&me["stats"], &["connected_apps", "direct_referrals", "total_earned", "total_spent"]);
        assert_eq!(me["id"], user.id.as_str());
        assert_eq!(me["tier"], "bronze");
        assert_eq!(me["tier_emoji"], "🥉");
        assert_eq!(me["totp_enabled"], false);
        assert_eq!(resp.headers["cache-control"], "no-store");
    }

    async fn tiers_follow_total_earned(backend) {
        let app = TestApp::spawn_with(backend, |c| c.referral_bonus = 1_000).await;
        let referrer = app.new_user().await;
        let session = app.login_ok(&referrer).await;
        let friend = app.new_user_referred(Some(&referrer.referral_code)).await;
        app.verify_email_of(&friend).await;
        let me = app.me(&session.token).await;
        assert_eq!(me.body["user"]["tier"], "silver");
        assert_eq!(me.body["user"]["tier_emoji"], "🥈");
    }
}
