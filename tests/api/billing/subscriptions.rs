//! Subscribing pays the first period in the same write; changing, canceling, pausing and
//! resuming; nobody reaches another user's subscriptions.

use serde_json::json;

use super::DAY;
use crate::backend_tests;
use crate::helpers::TestApp;

const SUBS: &str = "/api/user/subscriptions";

backend_tests! {
    async fn subscribing_pays_the_first_period_at_once(backend) {
        let app = TestApp::spawn(backend).await;
        let plan = app.plan("premium", 300, 30).await;
        let (user, token) = app.user_with_points(1000).await;
        let sub = app.subscribe(&token, &plan).await;
        assert_eq!(sub["plan"], "premium");
        assert_eq!(sub["status"], "active");
        assert_eq!(sub["price"], 300);
        assert_eq!(sub["cancel_at_period_end"], false);
        let start = time::OffsetDateTime::parse(sub["current_period_start"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
        let end = time::OffsetDateTime::parse(sub["current_period_end"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).unwrap();
        assert_eq!((end - start).whole_days(), 30);
        let (points, ledger) = app.balance_and_ledger(&user.id).await;
        assert_eq!((points, ledger), (700, 700));
        let charges = app.subscription_charges(&user).await;
        assert_eq!(charges.len(), 1);
        assert_eq!(charges[0]["amount"], -300);
        assert_eq!(charges[0]["reference"], sub["id"]);
        // The profile carries it; the public profile does not.
        let profile = app.get_auth("/api/user/profile", &token).await;
        assert_eq!(profile.assert_status(200)["subscription"], json!({
            "plan": "premium", "status": "active", "current_period_end": sub["current_period_end"],
        }));
        let public = app.get(&format!("/api/users/{}", user.username)).await;
        assert!(public.assert_status(200).get("subscription").is_none());
        // The list, the activity log and the mail.
        let list = app.get_auth(SUBS, &token).await;
        assert_eq!(list.assert_status(200)["subscriptions"].as_array().unwrap().len(), 1);
        let activity = app.get_auth("/api/user/activity?kind=subscription_changed", &token).await;
        let items = activity.assert_status(200)["activity"].as_array().unwrap().clone();
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["details"]["change"], "created");
        assert!(app.mails_to(&user.email).await.iter().any(|m| m.subject.contains("subscription has started")));
        // One live subscription at a time; nothing charged for the second try.
        app.post_auth(SUBS, &token, Some(json!({ "plan_id": plan }))).await.assert_error(409, "subscription_exists");
        assert_eq!(app.balance_and_ledger(&user.id).await, (700, 700));
    }

    async fn too_few_points_subscribe_nothing(backend) {
        let app = TestApp::spawn(backend).await;
        let plan = app.plan("premium", 300, 30).await;
        let (user, token) = app.user_with_points(299).await;
        app.post_auth(SUBS, &token, Some(json!({ "plan_id": plan }))).await.assert_error(402, "insufficient_points");
        assert_eq!(app.balance_and_ledger(&user.id).await, (299, 299));
        assert!(app.get_auth(SUBS, &token).await.assert_status(200)["subscriptions"].as_array().unwrap().is_empty());
        assert_eq!(app.get_auth("/api/user/profile", &token).await.body["subscription"], json!(null));
        // Nothing was held: with the points, it works.
        app.grant_points(&user, 1).await;
        app.subscribe(&token, &plan).await;
        assert_eq!(app.balance_and_ledger(&user.id).await, (0, 0));
        app.post_auth(SUBS, &token, Some(json!({ "plan_id": "no_such_plan" }))).await.assert_error(404, "plan_not_found");
        app.post_auth(SUBS, &token, Some(json!({}))).await.assert_status(400);
    }

    async fn parallel_subscribes_charge_once(backend) {
        let app = TestApp::spawn(backend).await;
        let plan = app.plan("premium", 100, 30).await;
        let (user, token) = app.user_with_points(1000).await;
        let tries = (0..6).map(|_| app.post_auth(SUBS, &token, Some(json!({ "plan_id": plan }))));
        let answers = futures::future::join_all(tries).await;
        let created = answers.iter().filter(|r| r.status == 201).count();
        assert_eq!(created, 1, "{:?}", answers.iter().map(|r| r.status).collect::<Vec<_>>());
        for r in answers.iter().filter(|r| r.status != 201) {
            r.assert_error(409, "subscription_exists");
        }
        assert_eq!(app.balance_and_ledger(&user.id).await, (900, 900));
    }

    async fn cancel_at_period_end_then_subscribe_again(backend) {
        let app = TestApp::spawn(backend).await;
        let plan = app.plan("weekly", 50, 7).await;
        let (user, token) = app.user_with_points(500).await;
        let sub = app.subscribe(&token, &plan).await;
        let id = sub["id"].as_str().unwrap();
        let canceled = app.put_auth(&format!("{SUBS}/{id}/cancel"), &token, json!({})).await;
        let canceled = &canceled.assert_status(200)["subscription"];
        assert_eq!(canceled["status"], "active");
        assert_eq!(canceled["cancel_at_period_end"], true);
        // Still live until the period ends; then it ends instead of renewing.
        app.clock.advance(7 * DAY);
        let report = app.renew().await;
        assert_eq!((report.renewed, report.canceled), (0, 1));
        let subs = app.subscriptions_of(&user).await;
        assert_eq!(subs[0]["status"], "canceled");
        assert_eq!(app.balance_and_ledger(&user.id).await, (450, 450));
        let token = app.login_ok(&user).await.token;
        assert_eq!(app.get_auth("/api/user/profile", &token).await.body["subscription"], json!(null));
        assert!(app.mails_to(&user.email).await.iter().any(|m| m.subject.contains("has ended")));
        // A canceled one changes no more; a new one can start.
        app.put_auth(&format!("{SUBS}/{id}"), &token, json!({ "plan_id": plan })).await.assert_error(409, "subscription_canceled");
        app.put_auth(&format!("{SUBS}/{id}/pause"), &token, json!({})).await.assert_error(409, "subscription_canceled");
        app.subscribe(&token, &plan).await;
        assert_eq!(app.subscriptions_of(&user).await.len(), 2);
    }

    async fn a_change_of_plan_applies_at_the_next_period(backend) {
        let app = TestApp::spawn(backend).await;
        let basic = app.plan("basic", 20, 10).await;
        let premium = app.plan("premium", 70, 30).await;
        let (user, token) = app.user_with_points(500).await;
        let sub = app.subscribe(&token, &basic).await;
        let id = sub["id"].as_str().unwrap();
        let changed = app.put_auth(&format!("{SUBS}/{id}"), &token, json!({ "plan_id": premium })).await;
        let changed = &changed.assert_status(200)["subscription"];
        assert_eq!(changed["plan"], "basic");
        assert_eq!(changed["next_plan"], "premium");
        assert_eq!(app.balance_and_ledger(&user.id).await.0, 480);
        // Renewal moves it to the new plan at the new price and period.
        app.clock.advance(10 * DAY);
        assert_eq!(app.renew().await.renewed, 1);
        let now = &app.subscriptions_of(&user).await[0];
        assert_eq!(now["plan"], "premium");
        assert_eq!(now["price"], 70);
        assert_eq!(now["next_plan"], json!(null));
        assert_eq!(now["current_period_start"], sub["current_period_end"]);
        assert_eq!(app.balance_and_ledger(&user.id).await, (410, 410));
        // Back to its own plan: nothing pending.
        let token = app.login_ok(&user).await.token;
        let back = app.put_auth(&format!("{SUBS}/{id}"), &token, json!({ "plan_id": premium })).await;
        assert_eq!(back.assert_status(200)["subscription"]["next_plan"], json!(null));
        app.put_auth(&format!("{SUBS}/{id}"), &token, json!({ "plan_id": "nope" })).await.assert_error(404, "plan_not_found");
    }

    async fn pause_and_resume(backend) {
        let app = TestApp::spawn(backend).await;
        let plan = app.plan("monthly", 100, 30).await;
        let (user, token) = app.user_with_points(250).await;
        let sub = app.subscribe(&token, &plan).await;
        let id = sub["id"].as_str().unwrap();
        let paused = app.put_auth(&format!("{SUBS}/{id}/pause"), &token, json!({})).await;
        assert_eq!(paused.assert_status(200)["subscription"]["status"], "paused");
        // Within the paid period: resuming charges nothing.
        let resumed = app.put_auth(&format!("{SUBS}/{id}/unpause"), &token, json!({})).await;
        assert_eq!(resumed.assert_status(200)["subscription"]["status"], "active");
        assert_eq!(resumed.body["subscription"]["current_period_end"], sub["current_period_end"]);
        assert_eq!(app.balance_and_ledger(&user.id).await.0, 150);
        // Paused over the end of the period: no renewal.
        app.put_auth(&format!("{SUBS}/{id}/pause"), &token, json!({})).await.assert_status(200);
        app.clock.advance(45 * DAY);
        assert_eq!(app.renew().await, Default::default());
        assert_eq!(app.balance_and_ledger(&user.id).await.0, 150);
        // Resumed after it: a new period starts now, paid now.
        let token = app.login_ok(&user).await.token;
        let resumed = app.put_auth(&format!("{SUBS}/{id}/unpause"), &token, json!({})).await;
        let resumed = &resumed.assert_status(200)["subscription"];
        assert_eq!(resumed["status"], "active");
        assert_eq!(resumed["current_period_start"], buddo_shared::clock::rfc3339(app.state.now()));
        assert_eq!(app.balance_and_ledger(&user.id).await, (50, 50));
        // Paused again and past its end with too few points: stays paused, nothing charged.
        app.put_auth(&format!("{SUBS}/{id}/pause"), &token, json!({})).await.assert_status(200);
        app.clock.advance(31 * DAY);
        let token = app.login_ok(&user).await.token;
        app.put_auth(&format!("{SUBS}/{id}/unpause"), &token, json!({})).await.assert_error(402, "insufficient_points");
        assert_eq!(app.subscriptions_of(&user).await[0]["status"], "paused");
        assert_eq!(app.balance_and_ledger(&user.id).await, (50, 50));
        // A paused one is canceled at once.
        let token = app.login_ok(&user).await.token;
        let canceled = app.put_auth(&format!("{SUBS}/{id}/cancel"), &token, json!({})).await;
        assert_eq!(canceled.assert_status(200)["subscription"]["status"], "canceled");
    }

    async fn nobody_reaches_another_users_subscriptions(backend) {
        let app = TestApp::spawn(backend).await;
        let plan = app.plan("monthly", 10, 30).await;
        let (owner, owner_token) = app.user_with_points(100).await;
        let sub = app.subscribe(&owner_token, &plan).await;
        let id = sub["id"].as_str().unwrap();
        let (_, other) = app.user_with_points(100).await;
        for path in [format!("{SUBS}/{id}/cancel"), format!("{SUBS}/{id}/pause"), format!("{SUBS}/{id}/unpause")] {
            app.put_auth(&path, &other, json!({})).await.assert_error(404, "subscription_not_found");
        }
        app.put_auth(&format!("{SUBS}/{id}"), &other, json!({ "plan_id": plan })).await.assert_error(404, "subscription_not_found");
        app.put_auth(&format!("{SUBS}/not-an-id/cancel"), &other, json!({})).await.assert_error(404, "subscription_not_found");
        assert!(app.get_auth(SUBS, &other).await.assert_status(200)["subscriptions"].as_array().unwrap().is_empty());
        assert_eq!(app.subscriptions_of(&owner).await[0]["status"], "active");
        assert_eq!(app.subscriptions_of(&owner).await[0]["cancel_at_period_end"], false);
        app.get(SUBS).await.assert_error(401, "invalid_token");
    }
}
