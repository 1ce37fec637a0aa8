//! Ads: campaigns, serving with targeting and budget, events and their payouts, fraud limits,
//! and a budget that is never overspent.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{assert_keys, TestApp};

const EVENT: &str = "/api/external/ads/event";

async fn campaign_row(app: &TestApp, admin: &str, id: &str) -> serde_json::Value {
    let list = app.get_auth("/api/admin/campaigns", admin).await;
    list.assert_status(200)["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()
        .clone()
}

backend_tests! {
    async fn admins_run_campaigns(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let user = app.login_ok(&app.new_user().await).await.token;
        let body = json!({
            "name": "Spring sale", "surface_type": "banner", "payout_rate": 5, "budget": 1000,
            "targeting_metadata": { "tiers": ["bronze"] }, "bitcoin_tier": { "sats": 21 },
        });
        app.post_auth("/api/admin/campaigns", &user, Some(body.clone())).await.assert_error(403, "forbidden");
        let created = app.post_auth("/api/admin/campaigns", &admin, Some(body)).await;
        let c = created.assert_status(201)["campaign"].clone();
        assert_eq!(c["budget_left"], 1000);
        assert_eq!(c["status"], "active");
        // Free JSON must be storable on both backends: DynamoDB refuses an empty key at any
        // depth and numbers beyond its range.
        let unstorable = [json!({ "": 1 }), json!({ "a": [{ "b": { "": [] } }] }), json!({ "n": 1e300 }), json!({ "n": -1e-200 })];
        for value in &unstorable {
            for field in ["targeting_metadata", "bitcoin_tier"] {
                let mut bad = json!({ "name": "x", "surface_type": "banner", "payout_rate": 1, "budget": 1 });
                bad[field] = value.clone();
                let resp = app.post_auth("/api/admin/campaigns", &admin, Some(bad)).await;
                resp.assert_error(400, "validation_failed");
                assert!(resp.body["fields"][field].is_string(), "{}", resp.body);
            }
        }
        for (field, value) in [("surface_type", json!("billboard")), ("payout_rate", json!(0)), ("budget", json!(-1)), ("targeting_metadata", json!([1])), ("name", json!(""))] {
            let mut bad = json!({ "name": "x", "surface_type": "banner", "payout_rate": 1, "budget": 1 });
            bad[field] = value;
            let resp = app.post_auth("/api/admin/campaigns", &admin, Some(bad)).await;
            resp.assert_error(400, "validation_failed");
            assert!(resp.body["fields"][field].is_string(), "{}", resp.body);
        }
        let id = c["id"].as_str().unwrap();
        let paused = app.post_auth(&format!("/api/admin/campaigns/{id}/pause"), &admin, None).await;
        assert_eq!(paused.assert_status(200)["campaign"]["status"], "paused");
        let changed = app.request(reqwest::Method::PATCH, &format!("/api/admin/campaigns/{id}"), Some(&admin), Some(json!({ "payout_rate": 7, "status": "active" }))).await;
        assert_eq!(changed.assert_status(200)["campaign"]["payout_rate"], 7);
        for value in &unstorable {
            let resp = app.request(reqwest::Method::PATCH, &format!("/api/admin/campaigns/{id}"), Some(&admin), Some(json!({ "bitcoin_tier": value }))).await;
            resp.assert_error(400, "validation_failed");
        }
        let list = app.get_auth("/api/admin/campaigns?status=active&surface_type=banner", &admin).await;
        assert_eq!(list.assert_status(200)["campaigns"].as_array().unwrap().len(), 1);
        assert_keys(&list.body["campaigns"][0], &["bitcoin_tier", "budget", "budget_left", "clicks", "created_at", "ends_at", "id", "impressions", "name", "paid_events", "payout_rate", "points_paid", "starts_at", "status", "surface_type", "targeting_metadata"]);
        app.post_auth(&format!("/api/admin/campaigns/{}/pause", uuid::Uuid::new_v4()), &admin, None).await.assert_error(404, "campaign_not_found");
    }

    async fn serving_honours_surface_status_targeting_and_budget(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let op = app.operated(&["profile:read"]).await;
        let serve = |surface: &'static str| {
            let (app, token) = (&app, op.access_token.clone());
            async move { app.get_auth(&format!("/api/external/ads/serve?surface_type={surface}"), &token).await }
        };
        serve("video").await.assert_error(404, "no_campaign");
        let gold_only = app.campaign(&admin, json!({ "name": "Gold", "surface_type": "video", "payout_rate": 5, "budget": 100, "targeting_metadata": { "tiers": ["gold"] } })).await;
        serve("video").await.assert_error(404, "no_campaign");
        let everyone = app.campaign(&admin, json!({ "name": "All", "surface_type": "video", "payout_rate": 5, "budget": 100, "bitcoin_tier": { "level": 2 } })).await;
        let served = serve("video").await;
        let c = &served.assert_status(200)["campaign"];
        assert_keys(c, &["bitcoin_tier", "id", "name", "payout_rate", "surface_type", "targeting_metadata"]);
        assert_eq!(c["id"], everyone.as_str());
        assert_eq!(c["bitcoin_tier"], json!({ "level": 2 }));
        assert_ne!(c["id"], gold_only.as_str());
        app.post_auth(&format!("/api/admin/campaigns/{everyone}/pause"), &admin, None).await.assert_status(200);
        serve("video").await.assert_error(404, "no_campaign");
        app.get_auth("/api/external/ads/serve?surface_type=billboard", &op.access_token).await.assert_error(400, "validation_failed");
        app.get_auth("/api/external/ads/serve", &op.access_token).await.assert_error(400, "validation_failed");
        // Not started yet, or over: not served.
        let later = (time::OffsetDateTime::now_utc() + time::Duration::days(30)).format(&time::format_description::well_known::Rfc3339).unwrap();
        app.campaign(&admin, json!({ "name": "Later", "surface_type": "native", "payout_rate": 5, "budget": 100, "starts_at": later })).await;
        serve("native").await.assert_error(404, "no_campaign");
    }

    async fn clicks_pay_after_an_impression_once_a_day(backend) {
        let app = TestApp::spawn_with(backend, |c| { c.signup_multipliers = vec![]; c.default_multiplier = 2.0; }).await;
        let admin = app.admin_token().await;
        let op = app.operated(&["profile:read", "app:balance:read"]).await;
        let id = app.campaign(&admin, json!({ "name": "Banner", "surface_type": "banner", "payout_rate": 10, "budget": 1000 })).await;
        let event = |kind: &str| app.post_auth(EVENT, &op.access_token, Some(json!({ "campaign_id": id, "event_type": kind, "surface_type": "banner" })));
        // A click with no impression before it: recorded, unpaid.
        let click = event("click").await;
        let body = click.assert_status(200);
        assert_keys(&body["event"], &["campaign_id", "event_type", "id", "inserted_at", "payout_rate_snapshot", "surface_type"]);
        assert_eq!(body["event"]["payout_rate_snapshot"], 10);
        assert_eq!(app.me(&op.jwt).await.body["user"]["points"], 0);
        // An impression on a banner pays nothing, but lets the next click pay.
        event("impression").await.assert_status(200);
        assert_eq!(app.me(&op.jwt).await.body["user"]["points"], 0);
        event("click").await.assert_status(200);
        let me = app.me(&op.jwt).await;
        assert_eq!(me.body["user"]["points"], 20, "10 × the multiplier");
        assert_eq!(me.body["user"]["stats"]["total_earned"], 20);
        assert_eq!(app.get_auth("/api/external/app/balance", &op.access_token).await.body["points"], 1, "10 % of the rate");
        // Once a day per user and campaign.
        event("impression").await.assert_status(200);
        event("click").await.assert_status(200);
        assert_eq!(app.me(&op.jwt).await.body["user"]["points"], 20);
        let row = campaign_row(&app, &admin, &id).await;
        assert_eq!((row["impressions"].as_i64(), row["clicks"].as_i64(), row["paid_events"].as_i64()), (Some(2), Some(3), Some(1)));
        assert_eq!(row["budget_left"], 1000 - 21);
        assert_eq!(row["points_paid"], 21);
        // Impressions count for 30 minutes: an impression of another campaign, 31 minutes of
        // nothing, then a click pays nothing.
        let other = app.campaign(&admin, json!({ "name": "Other", "surface_type": "banner", "payout_rate": 10, "budget": 1000 })).await;
        let other_event = |kind: &str| app.post_auth(EVENT, &op.access_token, Some(json!({ "campaign_id": other, "event_type": kind })));
        other_event("impression").await.assert_status(200);
        app.clock.advance(31 * 60);
        other_event("click").await.assert_status(200);
        assert_eq!(app.me(&op.jwt).await.body["user"]["points"], 20);
        app.post_auth(EVENT, &op.access_token, Some(json!({ "campaign_id": uuid::Uuid::new_v4(), "event_type": "click" }))).await.assert_error(404, "campaign_not_found");
        app.post_auth(EVENT, &op.access_token, Some(json!({ "campaign_id": id, "event_type": "hover" }))).await.assert_error(400, "validation_failed");
    }

    async fn rewarded_impressions_pay_until_the_budget_is_gone(backend) {
        let app = TestApp::spawn_with(backend, |c| { c.signup_multipliers = vec![]; c.economy.budget_shards = 4; }).await;
        let admin = app.admin_token().await;
        let client = app.new_client(&["profile:read"], true).await;
        // Eleven points a paid event (10 to the user, 1 to the app). 200 is split over two
        // shards of 100 (each holds at least ten payouts): nine fit in each.
        let id = app.campaign(&admin, json!({ "name": "Rewarded", "surface_type": "rewarded", "payout_rate": 10, "budget": 200 })).await;
        let mut users = Vec::new();
        for _ in 0..20 {
            users.push(app.operated_by(&client, &["profile:read"]).await);
        }
        let events = users.iter().map(|op| app.post_auth(EVENT, &op.access_token, Some(json!({ "campaign_id": id, "event_type": "impression" }))));
        let results = futures::future::join_all(events).await;
        assert!(results.iter().all(|r| r.status == 200));
        let mut paid_users = 0;
        for op in &users {
            let points = app.me(&op.jwt).await.body["user"]["points"].as_i64().unwrap();
            assert!(points == 0 || points == 10);
            paid_users += (points == 10) as i64;
        }
        let row = campaign_row(&app, &admin, &id).await;
        let left = row["budget_left"].as_i64().unwrap();
        assert!(left >= 0, "never overspent");
        assert_eq!(200 - left, 11 * paid_users, "what left the budget was paid, and no more");
        assert_eq!(row["paid_events"], paid_users);
        assert_eq!(row["impressions"], 20);
        assert_eq!(paid_users, 18);
        let op = app.operated_by(&client, &["profile:read"]).await;
        app.get_auth("/api/external/ads/serve?surface_type=rewarded", &op.access_token).await.assert_error(404, "no_campaign");
    }
}
