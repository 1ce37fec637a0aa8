//! Points: spend, transfer, idempotency, bad amounts, concurrency, the ledger adding up, the
//! app's sharded balance, admin grants and deductions, the user's history, and `stats`.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{assert_keys, TestApp};

const SPEND: &str = "/api/external/points/spend";
const TRANSFER: &str = "/api/external/points/transfer";

backend_tests! {
    async fn a_spend_moves_points_to_the_app(backend) {
        let app = TestApp::spawn(backend).await;
        let op = app.operated(&["points:spend", "points:read", "app:balance:read"]).await;
        app.grant_points(&op.user, 100).await;
        let resp = app.post_auth(SPEND, &op.access_token, Some(json!({ "amount": 30, "description": "A hat" }))).await;
        assert_eq!(resp.assert_status(200), &json!({ "amount_spent": 30, "points": 70, "success": true }));
        assert_eq!(app.get_auth("/api/external/points", &op.access_token).await.body["points"], 70);
        assert_eq!(app.get_auth("/api/external/app/balance", &op.access_token).await.body["points"], 30);
        let me = app.me(&op.jwt).await;
        assert_eq!(me.body["user"]["stats"]["total_spent"], 30);
        assert_eq!(me.body["user"]["stats"]["total_earned"], 100);
        assert_eq!(app.balance_and_ledger(&op.user.id).await, (70, 70));
        // More than the balance: refused, nothing moves.
        app.post_auth(SPEND, &op.access_token, Some(json!({ "amount": 71 }))).await.assert_error(400, "insufficient_points");
        assert_eq!(app.balance_and_ledger(&op.user.id).await, (70, 70));
    }

    async fn bad_amounts_change_nothing(backend) {
        let app = TestApp::spawn(backend).await;
        let op = app.operated(&["points:spend", "points:transfer"]).await;
        let friend = app.new_user().await;
        app.grant_points(&op.user, 10).await;
        for amount in [json!(0), json!(-5), json!(1_000_000_001), json!(1.5), json!(1e30), json!("10"), json!(null), json!([1])] {
            app.post_auth(SPEND, &op.access_token, Some(json!({ "amount": amount }))).await.assert_error(400, "validation_failed");
            app.post_auth(TRANSFER, &op.access_token, Some(json!({ "amount": amount, "to_user_id": friend.id }))).await.assert_error(400, "validation_failed");
        }
        app.post_auth(SPEND, &op.access_token, Some(json!({}))).await.assert_error(400, "validation_failed");
        app.post_auth(TRANSFER, &op.access_token, Some(json!({ "amount": 1, "to_user_id": op.user.id }))).await.assert_error(400, "validation_failed");
        app.post_auth(TRANSFER, &op.access_token, Some(json!({ "amount": 1, "to_user_id": "nobody" }))).await.assert_error(400, "validation_failed");
        app.post_auth(TRANSFER, &op.access_token, Some(json!({ "amount": 1, "to_user_id": uuid::Uuid::new_v4() }))).await.assert_error(404, "recipient_not_found");
        assert_eq!(app.balance_and_ledger(&op.user.id).await, (10, 10));
        assert_eq!(app.balance_and_ledger(&friend.id).await, (0, 0));
    }

    async fn a_transfer_moves_points_to_a_friend(backend) {
        let app = TestApp::spawn(backend).await;
        let op = app.operated(&["points:transfer"]).await;
        let friend = app.new_user().await;
        let friend_jwt = app.login_ok(&friend).await.token;
        app.grant_points(&op.user, 50).await;
        let resp = app.post_auth(TRANSFER, &op.access_token, Some(json!({ "amount": 20, "to_user_id": friend.id, "description": "lunch" }))).await;
        assert_eq!(resp.assert_status(200), &json!({ "amount_transferred": 20, "points": 30, "success": true }));
        let theirs = app.me(&friend_jwt).await;
        assert_eq!(theirs.body["user"]["points"], 20);
        assert_eq!(theirs.body["user"]["stats"]["total_earned"], 0, "received, not earned");
        assert_eq!(app.me(&op.jwt).await.body["user"]["stats"]["total_spent"], 20);
        assert_eq!(app.balance_and_ledger(&friend.id).await, (20, 20));
        // The friend's history shows it, newest first.
        let history = app.get_auth("/api/user/points/history", &friend_jwt).await;
        let entries = history.assert_status(200)["entries"].as_array().unwrap().clone();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0]["kind"], "transfer_in");
        assert_eq!(entries[0]["counterparty"], op.user.id.as_str());
        assert_eq!(entries[0]["description"], "lunch");
    }

    async fn an_idempotent_retry_moves_nothing_twice(backend) {
        let app = TestApp::spawn(backend).await;
        let op = app.operated(&["points:spend", "points:transfer", "app:balance:read"]).await;
        let friend = app.new_user().await;
        app.grant_points(&op.user, 100).await;
        let body = json!({ "amount": 10 });
        let first = app.post_idempotent(SPEND, &op.access_token, "order-1", body.clone()).await;
        let again = app.post_idempotent(SPEND, &op.access_token, "order-1", body.clone()).await;
        assert_eq!(first.assert_status(200), again.assert_status(200));
        assert_eq!(first.body["points"], 90);
        // The same key with another body.
        app.post_idempotent(SPEND, &op.access_token, "order-1", json!({ "amount": 11 })).await.assert_error(422, "idempotency_key_reused");
        // Retries racing each other: one movement.
        let results = futures::future::join_all((0..6).map(|_| app.post_idempotent(SPEND, &op.access_token, "order-2", body.clone()))).await;
        assert!(results.iter().all(|r| r.status == 200), "{:?}", results.iter().map(|r| &r.body).collect::<Vec<_>>());
        assert_eq!(app.balance_and_ledger(&op.user.id).await, (80, 80));
        assert_eq!(app.get_auth("/api/external/app/balance", &op.access_token).await.body["points"], 20);
        let t = json!({ "amount": 5, "to_user_id": friend.id });
        let results = futures::future::join_all((0..4).map(|_| app.post_idempotent(TRANSFER, &op.access_token, "gift-1", t.clone()))).await;
        assert!(results.iter().all(|r| r.status == 200));
        assert_eq!(app.balance_and_ledger(&friend.id).await, (5, 5));
        app.post_idempotent(SPEND, &op.access_token, "", body).await.assert_error(400, "invalid_idempotency_key");
    }

    async fn concurrent_spends_never_overdraw(backend) {
        let app = TestApp::spawn(backend).await;
        let op = app.operated(&["points:spend", "app:balance:read"]).await;
        app.grant_points(&op.user, 50).await;
        let results = futures::future::join_all((0..200).map(|_| app.post_auth(SPEND, &op.access_token, Some(json!({ "amount": 1 }))))).await;
        let ok = results.iter().filter(|r| r.status == 200).count();
        let refused = results.iter().filter(|r| r.status == 400 && r.body["error"] == "insufficient_points").count();
        assert_eq!((ok, refused), (50, 150), "{:?}", results.iter().filter(|r| r.status != 200 && r.status != 400).map(|r| &r.body).collect::<Vec<_>>());
        assert_eq!(app.balance_and_ledger(&op.user.id).await, (0, 0));
        assert_eq!(app.get_auth("/api/external/app/balance", &op.access_token).await.body["points"], 50);
    }

    async fn transfers_back_and_forth_conserve_the_total(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["points:transfer"], true).await;
        let a = app.operated_by(&client, &["points:transfer"]).await;
        let b = app.operated_by(&client, &["points:transfer"]).await;
        app.grant_points(&a.user, 40).await;
        app.grant_points(&b.user, 40).await;
        let moves = (0..40).map(|i| {
            let (from, to) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
            app.post_auth(TRANSFER, &from.access_token, Some(json!({ "amount": 3, "to_user_id": to.user.id })))
        });
        let results = futures::future::join_all(moves).await;
        assert!(results.iter().all(|r| r.status == 200 || r.body["error"] == "insufficient_points"));
        let (pa, la) = app.balance_and_ledger(&a.user.id).await;
        let (pb, lb) = app.balance_and_ledger(&b.user.id).await;
        assert_eq!(pa + pb, 80);
        assert_eq!((pa, pb), (la, lb));
        assert!(pa >= 0 && pb >= 0);
    }

    async fn many_users_spending_at_one_app_add_up(backend) {
        let app = TestApp::spawn_with(backend, |c| c.economy.app_balance_shards = 4).await;
        let client = app.new_client(&["points:spend", "app:balance:read"], true).await;
        let mut users = Vec::new();
        for _ in 0..8 {
            let op = app.operated_by(&client, &["points:spend", "app:balance:read"]).await;
            app.grant_points(&op.user, 30).await;
            users.push(op);
        }
        let spends = users.iter().flat_map(|op| (1..=5).map(move |n| (op, n)));
        let results = futures::future::join_all(spends.map(|(op, n)| app.post_auth(SPEND, &op.access_token, Some(json!({ "amount": n }))))).await;
        assert!(results.iter().all(|r| r.status == 200), "{:?}", results.iter().filter(|r| r.status != 200).map(|r| &r.body).collect::<Vec<_>>());
        // 8 users × (1 + 2 + 3 + 4 + 5): the shards sum to exactly that.
        let balance = app.get_auth("/api/external/app/balance", &users[0].access_token).await;
        assert_eq!(balance.body["points"], 8 * 15);
        for op in &users {
            assert_eq!(app.balance_and_ledger(&op.user.id).await, (15, 15));
        }
    }

    async fn admins_grant_and_deduct_with_a_reason(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let jwt = app.login_ok(&user).await.token;
        let admin = app.admin_token().await;
        let path = format!("/api/admin/users/{}/points", user.id);
        let granted = app.post_auth(&path, &admin, Some(json!({ "amount": 25, "reason": "contest prize" }))).await;
        assert_eq!(granted.assert_status(200)["points"], 25);
        let deducted = app.post_auth(&path, &admin, Some(json!({ "amount": -10, "reason": "chargeback" }))).await;
        assert_eq!(deducted.assert_status(200)["points"], 15);
        app.post_auth(&path, &admin, Some(json!({ "amount": -16, "reason": "too much" }))).await.assert_error(400, "insufficient_points");
        app.post_auth(&path, &admin, Some(json!({ "amount": 0, "reason": "nothing" }))).await.assert_error(400, "validation_failed");
        app.post_auth(&path, &admin, Some(json!({ "amount": 5, "reason": "" }))).await.assert_error(400, "validation_failed");
        app.post_auth(&format!("/api/admin/users/{}/points", uuid::Uuid::new_v4()), &admin, Some(json!({ "amount": 5, "reason": "x" }))).await.assert_error(404, "user_not_found");
        app.post_auth(&path, &jwt, Some(json!({ "amount": 5, "reason": "me" }))).await.assert_error(403, "forbidden");
        let me = app.me(&jwt).await;
        assert_eq!(me.body["user"]["points"], 15);
        assert_eq!(me.body["user"]["stats"]["total_earned"], 25, "a deduction is not spending");
        assert_eq!(me.body["user"]["stats"]["total_spent"], 0);
        let history = app.get_auth("/api/user/points/history?limit=1", &jwt).await;
        let body = history.assert_status(200);
        assert_keys(&body["entries"][0], &["amount", "counterparty", "created_at", "description", "id", "kind", "reference"]);
        assert_eq!(body["entries"][0]["kind"], "admin_deduction");
        let next = body["next_cursor"].as_str().unwrap();
        let older = app.get_auth(&format!("/api/user/points/history?limit=1&cursor={next}"), &jwt).await;
        assert_eq!(older.body["entries"][0]["kind"], "admin_grant");
        assert_eq!(older.body["entries"][0]["description"], "contest prize");
    }
}
