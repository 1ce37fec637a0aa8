//! Ad events obey the targeting serving applies: an event for a campaign serving would not
//! pick for this user and surface pays nothing and is refused. Event records expire, and an
//! app's events are rate limited.

use buddo_shared::config::Limit;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

const EVENT: &str = "/api/external/ads/event";

async fn counts(app: &TestApp, admin: &str, id: &str) -> (i64, i64, i64) {
    let list = app.get_auth("/api/admin/campaigns", admin).await;
    let row = list.assert_status(200)["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()
        .clone();
    (
        row["impressions"].as_i64().unwrap(),
        row["clicks"].as_i64().unwrap(),
        row["budget_left"].as_i64().unwrap(),
    )
}

backend_tests! {
    async fn events_for_campaigns_serving_would_not_pick_are_refused(backend) {
        let app = TestApp::spawn_with(backend, |c| c.signup_multipliers = vec![]).await;
        let admin = app.admin_token().await;
        let op = app.operated(&["profile:read"]).await;
        let later = (time::OffsetDateTime::now_utc() + time::Duration::days(30)).format(&time::format_description::well_known::Rfc3339).unwrap();
        let fmt = |d: time::OffsetDateTime| d.format(&time::format_description::well_known::Rfc3339).unwrap();
        let (earlier, ended) = (fmt(time::OffsetDateTime::now_utc() - time::Duration::days(30)), fmt(time::OffsetDateTime::now_utc() - time::Duration::days(29)));
        let diamond = app.campaign(&admin, json!({ "name": "Diamonds only", "surface_type": "rewarded", "payout_rate": 300, "budget": 100000, "targeting_metadata": { "tiers": ["diamond"] } })).await;
        let paused = app.campaign(&admin, json!({ "name": "Paused", "surface_type": "rewarded", "payout_rate": 10, "budget": 1000, "status": "paused" })).await;
        let future = app.campaign(&admin, json!({ "name": "Later", "surface_type": "rewarded", "payout_rate": 10, "budget": 1000, "starts_at": later })).await;
        let over = app.campaign(&admin, json!({ "name": "Over", "surface_type": "rewarded", "payout_rate": 10, "budget": 1000, "starts_at": earlier, "ends_at": ended })).await;
        let rewarded = app.campaign(&admin, json!({ "name": "Everyone", "surface_type": "rewarded", "payout_rate": 10, "budget": 1000 })).await;
        // A bronze user, never served the diamond campaign, reports an impression of it.
        for id in [&diamond, &paused, &future, &over] {
            for kind in ["impression", "click"] {
                let resp = app.post_auth(EVENT, &op.access_token, Some(json!({ "campaign_id": id, "event_type": kind, "surface_type": "rewarded" }))).await;
                resp.assert_error(403, "campaign_not_served");
            }
        }
        // The right campaign on another surface than its own.
        let resp = app.post_auth(EVENT, &op.access_token, Some(json!({ "campaign_id": rewarded, "event_type": "impression", "surface_type": "banner" }))).await;
        resp.assert_error(403, "campaign_not_served");
        // Nothing was paid or counted.
        assert_eq!(app.balance_and_ledger(&op.user.id).await, (0, 0));
        assert_eq!(counts(&app, &admin, &diamond).await, (0, 0, 100000));
        assert_eq!(counts(&app, &admin, &rewarded).await, (0, 0, 1000));
        // What serving would pick pays (the surface defaults to the campaign's own).
        let served = app.get_auth("/api/external/ads/serve?surface_type=rewarded", &op.access_token).await;
        assert_eq!(served.assert_status(200)["campaign"]["id"], rewarded.as_str());
        let paid = app.post_auth(EVENT, &op.access_token, Some(json!({ "campaign_id": rewarded, "event_type": "impression" }))).await;
        assert_eq!(paid.assert_status(200)["event"]["surface_type"], "rewarded");
        assert_eq!(app.balance_and_ledger(&op.user.id).await, (10, 10));
    }

    async fn ad_event_records_expire(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let op = app.operated(&["profile:read"]).await;
        let id = app.campaign(&admin, json!({ "name": "Banner", "surface_type": "banner", "payout_rate": 1, "budget": 100 })).await;
        app.post_auth(EVENT, &op.access_token, Some(json!({ "campaign_id": id, "event_type": "impression" }))).await.assert_status(200);
        let page = app.state.table.query(
            &buddo_shared::store::Query::partition(buddo_shared::keys::user_pk(&op.user.id))
                .sk(buddo_shared::store::SortKey::BeginsWith("ADEVENT#".into())),
        ).await.unwrap();
        assert_eq!(page.items.len(), 1);
        let ttl = page.items[0]["ttl"].as_i64().expect("an ad event has a ttl");
        let now = buddo_shared::clock::Clock::now(app.clock.as_ref()).unix_timestamp();
        assert_eq!(ttl, now + 90 * 24 * 3600);
    }

    async fn each_apps_events_are_rate_limited(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.ad_events = Limit::new(3, 60)).await;
        let admin = app.admin_token().await;
        let op = app.operated(&["profile:read"]).await;
        let other = app.operated(&["profile:read"]).await;
        let id = app.campaign(&admin, json!({ "name": "Banner", "surface_type": "banner", "payout_rate": 1, "budget": 100 })).await;
        let event = json!({ "campaign_id": id, "event_type": "impression" });
        for _ in 0..3 {
            app.post_auth(EVENT, &op.access_token, Some(event.clone())).await.assert_status(200);
        }
        let limited = app.post_auth(EVENT, &op.access_token, Some(event.clone())).await;
        limited.assert_error(429, "rate_limited");
        assert!(limited.headers.get("retry-after").is_some());
        // Another app is counted apart.
        app.post_auth(EVENT, &other.access_token, Some(event.clone())).await.assert_status(200);
        app.clock.advance(60);
        app.post_auth(EVENT, &op.access_token, Some(event)).await.assert_status(200);
    }
}
