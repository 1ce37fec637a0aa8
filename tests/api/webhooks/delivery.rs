//! Events reach the endpoints that want them, signed; failures are retried with backoff and
//! given up after three days; a rolled-back change sends nothing.

use buddo_shared::clock::Clock;
use buddo_shared::domain::webhooks::{self, EventType};
use buddo_shared::keys;
use buddo_shared::store::{Cond, Query, WriteOp};
use serde_json::json;

use super::receiver::{assert_signed, signed_by, Receiver};
use super::{deliver, deliveries, register, spawn};
use crate::backend_tests;

const ADMIN: &str = "/api/admin/webhooks";

backend_tests! {
    async fn lifecycle_events_arrive_signed(backend) {
        let app = spawn(backend).await;
        let receiver = Receiver::start().await;
        let admin = app.admin_token().await;
        let (_, secret) = register(&app, ADMIN, &admin, &receiver.url(), &["user.*", "session.revoked", "points.*"]).await;

        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        app.post_auth("/api/auth/change-password", &session.token, Some(json!({ "current_password": user.password, "new_password": "brand new secret" })))
            .await
            .assert_status(200);
        app.grant_points(&user, 25).await;
        deliver(&app).await;

        let now = app.clock.now().unix_timestamp();
        for received in receiver.all() {
            assert_signed(&received, &secret, now);
        }
        let created = receiver.of_type("user.created");
        let mine: Vec<_> = created.iter().filter(|r| r.user_id() == user.id).collect();
        assert_eq!(mine.len(), 1, "one user.created for the new user");
        let data = mine[0].json()["data"].clone();
        assert_eq!(data["email"], user.email.as_str());
        assert_eq!(data["username"], user.username.as_str());
        let changed = receiver.of_type("user.password_changed");
        assert!(changed.iter().any(|r| r.user_id() == user.id && r.json()["data"]["reset"] == false));
        let credited = receiver.of_type("points.credited");
        assert!(credited.iter().any(|r| r.user_id() == user.id && r.json()["data"]["amount"] == 25));
        // Not asked for: grants.
        assert!(receiver.accepted().iter().all(|r| !r.event_type().starts_with("grant.")));
        // Each message once: a second run sends nothing more.
        let before = receiver.all().len();
        deliver(&app).await;
        assert_eq!(receiver.all().len(), before);
    }

    async fn a_failing_receiver_gets_each_event_once_in_the_end(backend) {
        let app = spawn(backend).await;
        let receiver = Receiver::start().await;
        let admin = app.admin_token().await;
        let (id, secret) = register(&app, ADMIN, &admin, &receiver.url(), &["user.created"]).await;
        receiver.fail_next(2);
        let user = app.new_user().await;

        let first = deliver(&app).await;
        assert_eq!(first.retrying, 1, "{first:?}");
        // Not due yet: nothing is sent before the backoff.
        app.clock.advance(5);
        deliver(&app).await;
        assert_eq!(receiver.all().len(), 1);
        app.clock.advance(600);
        assert_eq!(deliver(&app).await.retrying, 1);
        app.clock.advance(600);
        assert_eq!(deliver(&app).await.delivered, 1);
        app.clock.advance(3600);
        deliver(&app).await;

        let all = receiver.all();
        assert_eq!(all.len(), 3, "two refusals and one success");
        assert!(all.iter().all(|r| r.id == all[0].id), "the same webhook-id at every attempt");
        let accepted = receiver.accepted();
        assert_eq!(accepted.len(), 1);
        assert_eq!(accepted[0].user_id(), user.id);
        assert!(signed_by(&accepted[0], &secret));

        let admin = app.admin_token().await;
        let log = deliveries(&app, ADMIN, &admin, &id).await;
        assert_eq!(log.len(), 1);
        assert_eq!(log[0]["status"], "delivered");
        assert_eq!(log[0]["attempts"], 3);
        assert_eq!(log[0]["id"], all[0].id.as_str());
        let history = log[0]["history"].as_array().unwrap();
        assert_eq!(history.len(), 3);
        assert_eq!(history[0]["status_code"], 500);
        assert_eq!(history[2]["status_code"], 204);
        assert_eq!(log[0]["payload"]["type"], "user.created");
    }

    async fn deliveries_are_given_up_after_three_days_and_can_be_replayed(backend) {
        let app = spawn(backend).await;
        let receiver = Receiver::start().await;
        let admin_user = app.new_user().await;
        app.promote(&admin_user).await;
        let admin = app.login_ok(&admin_user).await.token;
        let (id, secret) = register(&app, ADMIN, &admin, &receiver.url(), &["user.created"]).await;
        receiver.fail_next(usize::MAX);
        app.new_user().await;
        deliver(&app).await;
        let mut failed = 0;
        for _ in 0..40 {
            app.clock.advance(3 * 3600);
            failed += deliver(&app).await.failed;
        }
        assert_eq!(failed, 1, "given up once");
        let tries = receiver.all().len();
        assert!((8..30).contains(&tries), "backoff grows: {tries} attempts in three days");
        // The access token expired meanwhile.
        let admin = app.login_ok(&admin_user).await.token;
        let log = deliveries(&app, ADMIN, &admin, &id).await;
        assert_eq!(log[0]["status"], "failed");
        assert_eq!(log[0]["next_attempt_at"], serde_json::Value::Null);
        assert_eq!(log[0]["history"].as_array().unwrap().len(), 10, "the last ten attempts");
        // Nothing more is tried.
        app.clock.advance(24 * 3600);
        deliver(&app).await;
        assert_eq!(receiver.all().len(), tries);
        let admin = app.login_ok(&admin_user).await.token;

        // The receiver is fixed; a replay sends the same message again.
        receiver.fail_next(0);
        let delivery_id = log[0]["id"].as_str().unwrap();
        let replayed = app
            .post_auth(&format!("{ADMIN}/{id}/deliveries/{delivery_id}/replay"), &admin, None)
            .await;
        assert_eq!(replayed.assert_status(202)["status"], "pending");
        assert_eq!(deliver(&app).await.delivered, 1);
        let accepted = receiver.accepted();
        assert_eq!(accepted.len(), 1);
        assert_eq!(accepted[0].id, delivery_id);
        assert_signed(&accepted[0], &secret, app.clock.now().unix_timestamp());
        let log = deliveries(&app, ADMIN, &admin, &id).await;
        assert_eq!(log[0]["status"], "delivered");
        // A replay of a delivered message is allowed too; an unknown one is 404.
        app.post_auth(&format!("{ADMIN}/{id}/deliveries/msg_0000/replay"), &admin, None)
            .await
            .assert_error(404, "delivery_not_found");
    }

    async fn a_rolled_back_change_writes_no_event(backend) {
        let app = spawn(backend).await;
        let receiver = Receiver::start().await;
        let admin = app.admin_token().await;
        register(&app, ADMIN, &admin, &receiver.url(), &["*"]).await;
        deliver(&app).await;
        let before = receiver.all().len();
        let user = app.new_user().await;
        deliver(&app).await;
        let after_user = receiver.all().len();
        assert_eq!(after_user, before + 1);

        // The change and its event in one write whose condition fails: neither is written.
        let event = webhooks::Listening::ALL.announce(app.clock.now(), EventType::UserPasswordChanged, &user.id, Vec::new(), json!({})).unwrap();
        let key = event.key().unwrap();
        let failed = app
            .state
            .table
            .write(vec![event, WriteOp::check(keys::user(&user.id), Cond::NotExists)])
            .await;
        assert!(failed.is_err());
        assert!(app.state.table.get(&key).await.unwrap().is_none());

        // Through the API: a debit the balance does not cover is rolled back, and so is its
        // points.debited event.
        deliver(&app).await;
        let settled = receiver.all().len();
        let resp = app
            .post_auth(&format!("/api/admin/users/{}/points", user.id), &admin, Some(json!({ "amount": -1000, "reason": "more than there is" })))
            .await;
        assert!(resp.status.as_u16() >= 400, "{:?}", resp.body);
        for shard in 0..webhooks::DUE_SHARDS {
            let due = app.state.table.query(&Query::gsi1(keys::webhook_due_shard(shard))).await.unwrap();
            assert!(due.items.is_empty(), "nothing due after a rolled-back change");
        }
        app.clock.advance(3600);
        deliver(&app).await;
        assert_eq!(receiver.all().len(), settled);
        assert!(receiver.of_type("points.debited").is_empty());
    }

    async fn endpoints_get_only_the_event_types_they_ask_for(backend) {
        let app = spawn(backend).await;
        let grants = Receiver::start().await;
        let everything = Receiver::start().await;
        let admin = app.admin_token().await;
        register(&app, ADMIN, &admin, &grants.url(), &["grant.*"]).await;
        register(&app, ADMIN, &admin, &everything.url(), &["*"]).await;
        let operated = app.operated(&["profile:read"]).await;
        app.delete_auth(&format!("/api/user/connected-apps/{}", operated.client.id), &operated.jwt)
            .await
            .assert_status(200);
        deliver(&app).await;
        let types: Vec<String> = grants.accepted().iter().map(|r| r.event_type()).collect();
        assert!(types.contains(&"grant.created".to_string()), "{types:?}");
        assert!(types.contains(&"grant.revoked".to_string()), "{types:?}");
        assert!(types.iter().all(|t| t.starts_with("grant.")), "{types:?}");
        let all: Vec<String> = everything.accepted().iter().map(|r| r.event_type()).collect();
        assert!(all.contains(&"user.created".to_string()) && all.contains(&"grant.revoked".to_string()), "{all:?}");
        let revoked = grants.of_type("grant.revoked");
        assert_eq!(revoked[0].json()["data"]["app_id"], operated.client.id.as_str());
    }

    async fn email_changes_their_undo_and_deletion_are_announced(backend) {
        let app = spawn(backend).await;
        let receiver = Receiver::start().await;
        let client = app.new_client(&["profile:read"], true).await;
        let admin = app.admin_token().await;
        let (_, secret) = register(&app, ADMIN, &admin, &receiver.url(), &["user.email_changed", "user.deleted", "session.revoked"]).await;
        let app_receiver = Receiver::start().await;
        let app_base = format!("/api/oauth/my-apps/{}/webhooks", client.id);
        register(&app, &app_base, &client.owner_token, &app_receiver.url(), &["user.deleted"]).await;

        let user = app.new_verified_user().await;
        let token = app.login_ok(&user).await.token;
        let moved = format!("moved-{}@example.com", uuid::Uuid::new_v4().simple());
        app.post_auth("/api/auth/change-email", &token, Some(json!({ "new_email": moved, "password": user.password })))
            .await
            .assert_status(200);
        let confirm = app.token_from_mail(&moved, "/confirm-email-change").await;
        app.post("/api/auth/change-email/confirm", json!({ "token": confirm })).await.assert_status(200);
        let undo = app.token_from_mail(&user.email, "/undo-email-change").await;
        app.post("/api/auth/change-email/undo", json!({ "token": undo })).await.assert_status(200);
        deliver(&app).await;

        let now = app.clock.now().unix_timestamp();
        let changes = receiver.of_type("user.email_changed");
        assert_eq!(changes.len(), 2, "the change and its undo");
        for change in &changes {
            assert_signed(change, &secret, now);
            assert_eq!(change.user_id(), user.id);
        }
        let data: Vec<_> = changes.iter().map(|c| c.json()["data"].clone()).collect();
        assert!(data.iter().any(|d| d["email"] == moved.as_str() && d["previous_email"] == user.email.as_str() && d["undone"] == false), "{data:?}");
        assert!(data.iter().any(|d| d["email"] == user.email.as_str() && d["previous_email"] == moved.as_str() && d["undone"] == true), "{data:?}");

        // A session revoked from the list.
        let user = app.new_user().await;
        let first = app.login_ok(&user).await.token;
        app.login_ok(&user).await;
        let sessions = app.get_auth("/api/auth/sessions", &first).await;
        let other = sessions.assert_status(200)["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["current"] == false)
            .map(|s| s["id"].as_str().unwrap().to_string())
            .unwrap();
        app.delete_auth(&format!("/api/auth/sessions/{other}"), &first).await.assert_status(200);

        // The user connects the app, then deletes the account: the app hears of it (the grant
        // goes with the account).
        let connected = app.operated_by(&client, &["profile:read"]).await;
        deliver(&app).await;
        app.delete_with("/api/user/me", &connected.jwt, json!({ "password": connected.user.password }))
            .await
            .assert_status(200);
        deliver(&app).await;
        let revoked = receiver.of_type("session.revoked");
        assert!(revoked.iter().any(|r| r.user_id() == user.id && r.json()["data"]["session_id"] == other.as_str()));
        let deleted = app_receiver.of_type("user.deleted");
        assert_eq!(deleted.len(), 1);
        assert_eq!(deleted[0].user_id(), connected.user.id);
        assert_eq!(receiver.of_type("user.deleted").len(), 1);
    }
}
