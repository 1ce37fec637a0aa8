//! The activity log: what happened to an account and from where, newest first; each user
//! sees their own, admins everyone's; entries expire after the retention.

use serde_json::{json, Value};

use buddo_shared::clock::Clock;

use crate::backend_tests;
use crate::helpers::{assert_keys, Resp, TestApp, TestUser};

const ACTIVITY: &str = "/api/user/activity";
const ENTRY_KEYS: &[&str] = &["id", "kind", "at", "ip_address", "user_agent", "details"];

async fn login_as(app: &TestApp, user: &TestUser, ip: &str, agent: &str, password: &str) -> Resp {
    let req = app
        .client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", ip)
        .header("user-agent", agent)
        .json(&json!({ "email": user.email, "password": password }));
    TestApp::read(req.send().await.expect("request")).await
}

fn kinds(body: &Value) -> Vec<String> {
    body["activity"]
        .as_array()
        .expect("activity")
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

backend_tests! {
    async fn logins_from_two_places_and_a_failed_one_are_listed_newest_first(backend) {
        let app = TestApp::spawn_behind_proxy(backend, |_| {}).await;
        let user = app.new_user().await;
        let laptop = login_as(&app, &user, "198.51.100.1", "Laptop/1.0", &user.password).await;
        let laptop = laptop.assert_status(200)["token"].as_str().unwrap().to_string();
        app.clock.advance(60);
        login_as(&app, &user, "198.51.100.2", "Phone/2.0", "wrong password").await.assert_error(401, "invalid_credentials");
        app.clock.advance(60);
        login_as(&app, &user, "198.51.100.2", "Phone/2.0", &user.password).await.assert_status(200);

        let resp = app.get_auth(ACTIVITY, &laptop).await;
        let body = resp.assert_status(200);
        assert_keys(body, &["activity", "next_cursor"]);
        assert_eq!(kinds(body), ["login", "login_failed", "login"]);
        let entries = body["activity"].as_array().unwrap();
        for e in entries {
            assert_keys(e, ENTRY_KEYS);
        }
        assert_eq!(entries[0]["ip_address"], "198.51.100.2");
        assert_eq!(entries[0]["user_agent"], "Phone/2.0");
        assert_eq!(entries[2]["ip_address"], "198.51.100.1");
        assert_eq!(entries[2]["user_agent"], "Laptop/1.0");
        assert!(entries[0]["at"].as_str() > entries[2]["at"].as_str());
        // Nothing secret is in it.
        assert!(!body.to_string().contains(&user.password), "{body}");

        // Filtered by kind.
        let failed = app.get_auth(&format!("{ACTIVITY}?kind=login_failed"), &laptop).await;
        assert_eq!(kinds(failed.assert_status(200)), ["login_failed"]);
        app.get_auth(&format!("{ACTIVITY}?kind=coffee"), &laptop).await.assert_error(400, "validation_failed");
        app.get(ACTIVITY).await.assert_error(401, "invalid_token");
    }

    async fn account_and_security_changes_are_recorded(backend) {
        let app = TestApp::spawn(backend).await;
        let op = app.operated(&["profile:read", "points:read", "points:spend", "points:transfer"]).await;
        let user = &op.user;
        app.verify_email_of(user).await;
        let token = app.login_ok(user).await.token;
        let other = app.login_ok(user).await;
        // Revoke one session by id.
        let sessions = app.get_auth("/api/auth/sessions", &token).await;
        let other_id = sessions.assert_status(200)["sessions"]
            .as_array().unwrap().iter()
            .find(|s| s["current"] == false)
            .map(|s| s["id"].as_str().unwrap().to_string())
            .unwrap();
        app.delete_auth(&format!("/api/auth/sessions/{other_id}"), &token).await.assert_status(200);
        drop(other);
        // TOTP on and off.
        let (secret, _) = app.enable_totp(&token).await;
        app.next_totp_step();
        let code = app.totp_now(&secret);
        app.post_auth("/api/auth/totp/disable", &token, Some(json!({ "password": user.password, "code": code })))
            .await.assert_status(200);
        // Points moved by the app, both ways.
        app.grant_points(user, 100).await;
        app.post_auth("/api/external/points/spend", &op.access_token, Some(json!({ "amount": 10 }))).await.assert_status(200);
        let friend = app.new_user().await;
        app.post_auth("/api/external/points/transfer", &op.access_token, Some(json!({ "amount": 5, "to_user_id": friend.id })))
            .await.assert_status(200);
        // The app's access revoked.
        app.delete_auth(&format!("/api/user/connected-apps/{}", op.client.id), &token).await.assert_status(200);
        // The password changed.
        app.post_auth("/api/auth/change-password", &token, Some(json!({
            "current_password": user.password, "new_password": "a brand new secret",
        }))).await.assert_status(200);

        let body = app.get_auth(ACTIVITY, &token).await.assert_status(200).clone();
        let listed = kinds(&body);
        for expected in [
            "app_connected", "login", "session_revoked", "totp_enabled", "totp_disabled",
            "points_moved", "app_revoked", "password_changed",
        ] {
            assert!(listed.iter().any(|k| k == expected), "{expected} missing from {listed:?}");
        }
        assert_eq!(listed.first().map(String::as_str), Some("password_changed"), "{listed:?}");
        let entries = body["activity"].as_array().unwrap();
        let revoked = entries.iter().find(|e| e["kind"] == "session_revoked").unwrap();
        assert_eq!(revoked["details"]["session_id"], other_id.as_str());
        let connected = entries.iter().find(|e| e["kind"] == "app_connected").unwrap();
        assert_eq!(connected["details"]["app_id"], op.client.id.as_str());
        // Points: an admin grant, a spend and a transfer out; the friend sees the transfer in.
        let moved: Vec<i64> = entries.iter().filter(|e| e["kind"] == "points_moved")
            .map(|e| e["details"]["amount"].as_i64().unwrap()).collect();
        let mut sorted = moved.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [-10, -5, 100], "{moved:?}");
        let friend_token = app.login_ok(&friend).await.token;
        let friends = app.get_auth(&format!("{ACTIVITY}?kind=points_moved"), &friend_token).await;
        let friends = friends.assert_status(200)["activity"].as_array().unwrap().clone();
        assert_eq!(friends.len(), 1);
        assert_eq!(friends[0]["details"]["amount"], 5);
        assert_eq!(friends[0]["details"]["counterparty"], user.id.as_str());
    }

    async fn email_change_and_password_reset_are_recorded(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_verified_user().await;
        let token = app.login_ok(&user).await.token;
        app.post_auth("/api/auth/change-email", &token, Some(json!({ "new_email": "moved@example.com", "password": user.password })))
            .await.assert_status(200);
        let confirm = app.token_from_mail("moved@example.com", "/confirm-email-change").await;
        app.post("/api/auth/change-email/confirm", json!({ "token": confirm })).await.assert_status(200);
        app.post("/api/auth/forgot-password", json!({ "email": "moved@example.com" })).await.assert_status(200);
        let reset = app.token_from_mail("moved@example.com", "/reset-password").await;
        app.post("/api/auth/reset-password", json!({ "token": reset, "password": "another new secret" })).await.assert_status(200);
        let token = app.login("moved@example.com", "another new secret", None).await.assert_status(200)["token"]
            .as_str().unwrap().to_string();
        let body = app.get_auth(ACTIVITY, &token).await.assert_status(200).clone();
        assert_eq!(kinds(&body), ["login", "password_reset", "email_changed", "login"]);
    }

    async fn pages_follow_the_cursor_and_each_user_sees_only_their_own(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let other = app.new_user().await;
        for _ in 0..5 {
            app.login_ok(&user).await;
            app.clock.advance(1);
        }
        let other_token = app.login_ok(&other).await.token;
        let token = app.login_ok(&user).await.token;
        let mut seen = Vec::new();
        let mut path = format!("{ACTIVITY}?limit=2");
        loop {
            let body = app.get_auth(&path, &token).await.assert_status(200).clone();
            let page = body["activity"].as_array().unwrap();
            assert!(page.len() <= 2);
            seen.extend(page.iter().map(|e| (e["at"].as_str().unwrap().to_string(), e["id"].as_str().unwrap().to_string())));
            match body["next_cursor"].as_str() {
                Some(c) => path = format!("{ACTIVITY}?limit=2&cursor={}", url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 6);
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.reverse();
        assert_eq!(seen, sorted, "newest first");
        let theirs = app.get_auth(ACTIVITY, &other_token).await;
        assert_eq!(theirs.assert_status(200)["activity"].as_array().unwrap().len(), 1);
        for bad in ["limit=0", "limit=101", "cursor=garbage"] {
            let resp = app.get_auth(&format!("{ACTIVITY}?{bad}"), &token).await;
            assert_eq!(resp.status, 400, "{bad}: {}", resp.body);
        }
    }

    async fn admins_page_through_everyones_activity_by_user_and_kind(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let users: Vec<TestUser> = futures::future::join_all((0..4).map(|_| app.new_user())).await;
        for (i, user) in users.iter().enumerate() {
            app.clock.advance(1);
            app.login_ok(user).await;
            if i % 2 == 0 {
                app.login(&user.email, "wrong password", None).await.assert_error(401, "invalid_credentials");
            }
        }
        let all = app.get_auth("/api/admin/activity?limit=100", &admin).await;
        let body = all.assert_status(200).clone();
        let entries = body["activity"].as_array().unwrap();
        for user in &users {
            assert!(entries.iter().any(|e| e["user_id"] == user.id.as_str()), "{body}");
        }
        let ats: Vec<&str> = entries.iter().map(|e| e["at"].as_str().unwrap()).collect();
        let mut sorted = ats.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(ats, sorted, "newest first");

        let failed = app.get_auth("/api/admin/activity?kind=login_failed", &admin).await;
        let failed = failed.assert_status(200)["activity"].as_array().unwrap().clone();
        assert_eq!(failed.len(), 2);
        assert!(failed.iter().all(|e| e["kind"] == "login_failed"));

        let one = app.get_auth(&format!("/api/admin/activity?user_id={}", users[1].id), &admin).await;
        let one = one.assert_status(200)["activity"].as_array().unwrap().clone();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0]["user_id"], users[1].id.as_str());

        // A page at a time across the shards: every entry once.
        let mut paged = Vec::new();
        let mut path = "/api/admin/activity?limit=3".to_string();
        loop {
            let body = app.get_auth(&path, &admin).await.assert_status(200).clone();
            paged.extend(body["activity"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap().to_string()));
            match body["next_cursor"].as_str() {
                Some(c) => path = format!("/api/admin/activity?limit=3&cursor={}", url::form_urlencoded::byte_serialize(c.as_bytes()).collect::<String>()),
                None => break,
            }
        }
        let ids: Vec<String> = entries.iter().map(|e| e["id"].as_str().unwrap().to_string()).collect();
        assert_eq!(paged, ids);

        let plain = app.login_ok(&users[0]).await.token;
        app.get_auth("/api/admin/activity", &plain).await.assert_error(403, "forbidden");
        app.get_auth("/api/admin/activity?user_id=nope", &admin).await.assert_error(400, "validation_failed");
    }

    async fn entries_expire_after_the_configured_retention(backend) {
        let app = TestApp::spawn_with(backend, |c| c.activity_retention = std::time::Duration::from_secs(7 * 24 * 3600)).await;
        let user = app.new_user().await;
        app.login_ok(&user).await;
        let page = app
            .state
            .table
            .query(
                &buddo_shared::store::Query::partition(buddo_shared::keys::user_pk(&user.id))
                    .sk(buddo_shared::store::SortKey::BeginsWith(buddo_shared::keys::ACTIVITY_PREFIX.into())),
            )
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1);
        let ttl = page.items[0].get("ttl").and_then(Value::as_i64).expect("ttl");
        assert_eq!(ttl, app.clock.now().unix_timestamp() + 7 * 24 * 3600);
    }
}
