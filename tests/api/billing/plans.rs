//! Plans: admins create and change them; everyone reads the open ones.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests! {
    async fn admins_manage_plans_and_everyone_reads_the_open_ones(backend) {
        let app = TestApp::spawn(backend).await;
        let body = json!({ "id": "premium_monthly", "name": "Premium", "price": 500, "period_days": 30, "features": ["no ads", "badge"] });
        // Not an admin: refused.
        let user = app.new_user().await;
        let token = app.login_ok(&user).await.token;
        app.post_auth("/api/admin/plans", &token, Some(body.clone())).await.assert_error(403, "forbidden");
        let admin = app.admin_token().await;
        let created = app.post_auth("/api/admin/plans", &admin, Some(body.clone())).await;
        let plan = &created.assert_status(201)["plan"];
        assert_eq!(plan["id"], "premium_monthly");
        assert_eq!(plan["price"], 500);
        assert_eq!(plan["period_days"], 30);
        assert_eq!(plan["active"], true);
        assert_eq!(plan["features"], json!(["no ads", "badge"]));
        app.post_auth("/api/admin/plans", &admin, Some(body)).await.assert_error(409, "plan_exists");
        app.plan("basic", 100, 7).await;
        // The public list: no token needed, by id.
        let public = app.get("/api/plans").await;
        let ids: Vec<&str> = public.assert_status(200)["plans"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
        assert_eq!(ids, ["basic", "premium_monthly"]);
        // Closed to new subscribers: gone from the public list, still in the admins'.
        let closed = app.patch_auth("/api/admin/plans/basic", &admin, json!({ "active": false, "price": 120 })).await;
        assert_eq!(closed.assert_status(200)["plan"]["price"], 120);
        let public = app.get("/api/plans").await;
        assert_eq!(public.body["plans"].as_array().unwrap().len(), 1);
        let all = app.get_auth("/api/admin/plans", &admin).await;
        assert_eq!(all.assert_status(200)["plans"].as_array().unwrap().len(), 2);
        app.patch_auth("/api/admin/plans/nope", &admin, json!({ "active": true })).await.assert_error(404, "plan_not_found");
        // A closed plan takes no subscribers.
        app.grant_points(&user, 1000).await;
        app.post_auth("/api/user/subscriptions", &token, Some(json!({ "plan_id": "basic" }))).await.assert_error(404, "plan_not_found");
    }

    async fn bad_plans_are_named_field_by_field(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let resp = app.post_auth("/api/admin/plans", &admin, Some(json!({
            "id": "Not An Id", "name": "", "price": 0, "period_days": 400, "features": [""],
        }))).await;
        resp.assert_error(400, "validation_failed");
        let mut named: Vec<&str> = resp.body["fields"].as_object().unwrap().keys().map(String::as_str).collect();
        named.sort();
        assert_eq!(named, ["features", "id", "name", "period_days", "price"]);
        let resp = app.post_auth("/api/admin/plans", &admin, Some(json!({ "id": "x", "name": "X", "price": "ten", "period_days": 1 }))).await;
        resp.assert_error(400, "validation_failed");
        app.get_auth("/api/admin/plans", &admin).await.assert_status(200);
        assert!(app.get("/api/plans").await.body["plans"].as_array().unwrap().is_empty());
    }
}
