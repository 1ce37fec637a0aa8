//! `/api/user/devices`: push tokens registered once per token, moving to whoever registers them
//! last, never shown or logged again; changing and removing one's own devices only; devices go
//! with the account.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::TestApp;
use buddo_shared::crypto::hash_secret;
use buddo_shared::keys;

const DEVICES: &str = "/api/user/devices";

fn device_path(id: &str) -> String {
    format!("{DEVICES}/{id}")
}

/// The devices a user lists.
async fn devices_of(app: &TestApp, token: &str) -> Vec<Value> {
    let resp = app.get_auth(DEVICES, token).await;
    resp.assert_status(200)["devices"]
        .as_array()
        .unwrap()
        .clone()
}

/// The user and device a token's marker names, if any.
async fn marker_of(app: &TestApp, push_token: &str) -> Option<(String, String)> {
    let item = app
        .state
        .table
        .get(&keys::push_token(&hash_secret(push_token)))
        .await
        .unwrap()?;
    let field = |name: &str| item.get(name).and_then(Value::as_str).unwrap().to_string();
    Some((field("user_id"), field("device_id")))
}

backend_tests! {
    async fn registering_a_token_again_returns_the_same_device(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let jwt = app.login_ok(&user).await.token;
        let push = "fcm-token-0001:APA91bHx_y-z.wxyz";
        let first = app.post_auth(DEVICES, &jwt, Some(json!({ "token": push, "platform": "android" }))).await;
        let device = first.assert_status(201).clone();
        assert_eq!(device["platform"], "android");
        assert_eq!(device["enabled"], true);
        assert_eq!(device["categories"], json!([]));
        assert_eq!(device["token_hint"], "wxyz");
        assert!(device.get("token").is_none(), "{device}");
        assert!(!device.to_string().contains("APA91b"), "{device}");

        app.clock.advance(60);
        let again = app.post_auth(DEVICES, &jwt, Some(json!({ "token": push, "platform": "android" }))).await;
        let again = again.assert_status(200);
        assert_eq!(again["id"], device["id"]);
        assert_eq!(again["created_at"], device["created_at"]);
        assert_ne!(again["last_registered_at"], device["last_registered_at"]);

        let listed = devices_of(&app, &jwt).await;
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0]["id"], device["id"]);
        assert_eq!(listed[0]["last_registered_at"], again["last_registered_at"]);
        let keys: Vec<&String> = listed[0].as_object().unwrap().keys().collect();
        assert_eq!(keys, ["categories", "created_at", "enabled", "id", "last_registered_at", "platform", "token_hint"]);
        assert!(!listed[0].to_string().contains("APA91b"));

        // The same user's parallel registrations of one new token make one device.
        let push2 = "web-push-token-parallel";
        let sent = (0..4).map(|_| app.post_auth(DEVICES, &jwt, Some(json!({ "token": push2, "platform": "web" }))));
        let answers = futures::future::join_all(sent).await;
        let ids: Vec<&Value> = answers.iter().map(|r| {
            assert!(r.status == 200 || r.status == 201, "{} {}", r.status, r.body);
            &r.body["id"]
        }).collect();
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        assert_eq!(answers.iter().filter(|r| r.status == 201).count(), 1);
        assert_eq!(devices_of(&app, &jwt).await.len(), 2);
        app.get(DEVICES).await.assert_error(401, "invalid_token");
    }

    async fn a_token_moves_to_the_user_who_registers_it_last(backend) {
        let app = TestApp::spawn(backend).await;
        let (alice, bob) = (app.new_user().await, app.new_user().await);
        let alice_jwt = app.login_ok(&alice).await.token;
        let bob_jwt = app.login_ok(&bob).await.token;
        let push = "shared-phone-token-1234";
        let a = app.post_auth(DEVICES, &alice_jwt, Some(json!({ "token": push, "platform": "ios" }))).await;
        let a_id = a.assert_status(201)["id"].as_str().unwrap().to_string();
        app.post_auth(DEVICES, &alice_jwt, Some(json!({ "token": "alice-other-token", "platform": "web" }))).await.assert_status(201);

        let b = app.post_auth(DEVICES, &bob_jwt, Some(json!({ "token": push, "platform": "ios" }))).await;
        let b_id = b.assert_status(201)["id"].as_str().unwrap().to_string();
        assert_ne!(a_id, b_id);
        let alice_devices = devices_of(&app, &alice_jwt).await;
        assert_eq!(alice_devices.len(), 1, "{alice_devices:?}");
        assert_ne!(alice_devices[0]["id"], a_id.as_str());
        let bob_devices = devices_of(&app, &bob_jwt).await;
        assert_eq!(bob_devices.len(), 1);
        assert_eq!(bob_devices[0]["id"], b_id.as_str());
        assert_eq!(marker_of(&app, push).await, Some((bob.id.clone(), b_id.clone())));
        // Alice's old device is gone for her.
        app.patch_auth(&device_path(&a_id), &alice_jwt, json!({ "enabled": false })).await.assert_error(404, "device_not_found");

        // And back: Alice registers it again and gets a new device.
        let back = app.post_auth(DEVICES, &alice_jwt, Some(json!({ "token": push, "platform": "ios" }))).await;
        let back_id = back.assert_status(201)["id"].as_str().unwrap().to_string();
        assert!(devices_of(&app, &bob_jwt).await.is_empty());
        assert_eq!(devices_of(&app, &alice_jwt).await.len(), 2);
        assert_eq!(marker_of(&app, push).await, Some((alice.id.clone(), back_id)));
    }

    async fn two_users_racing_for_one_token_leave_one_owner(backend) {
        let app = TestApp::spawn(backend).await;
        let users = [app.new_user().await, app.new_user().await, app.new_user().await];
        let mut jwts = Vec::new();
        for user in &users {
            jwts.push(app.login_ok(user).await.token);
        }
        for round in 0..3 {
            let push = format!("raced-token-{round}");
            let sent = jwts.iter().map(|jwt| app.post_auth(DEVICES, jwt, Some(json!({ "token": push, "platform": "android" }))));
            for resp in futures::future::join_all(sent).await {
                assert!(resp.status == 201 || resp.status == 409, "{} {}", resp.status, resp.body);
            }
            let mut holders = Vec::new();
            for (user, jwt) in users.iter().zip(&jwts) {
                for device in devices_of(&app, jwt).await {
                    if device["token_hint"] == push[push.len() - 4..] {
                        holders.push((user.id.clone(), device["id"].as_str().unwrap().to_string()));
                    }
                }
            }
            assert_eq!(holders.len(), 1, "round {round}: {holders:?}");
            assert_eq!(marker_of(&app, &push).await.as_ref(), Some(&holders[0]), "round {round}");
        }
    }

    async fn devices_are_changed_and_removed_by_their_owner_only(backend) {
        let app = TestApp::spawn(backend).await;
        let (owner, other) = (app.new_user().await, app.new_user().await);
        let jwt = app.login_ok(&owner).await.token;
        let other_jwt = app.login_ok(&other).await.token;
        let push = "owner-device-token-abcd";
        let created = app.post_auth(DEVICES, &jwt, Some(json!({ "token": push, "platform": "web" }))).await;
        let id = created.assert_status(201)["id"].as_str().unwrap().to_string();
        let path = device_path(&id);

        let resp = app.patch_auth(&path, &jwt, json!({ "categories": ["odds", "news.eu", "odds", "a_b-c"] })).await;
        assert_eq!(resp.assert_status(200)["categories"], json!(["odds", "news.eu", "a_b-c"]));
        assert_eq!(resp.body["enabled"], true);
        let resp = app.patch_auth(&path, &jwt, json!({ "enabled": false })).await;
        assert_eq!(resp.assert_status(200)["enabled"], false);
        assert_eq!(resp.body["categories"], json!(["odds", "news.eu", "a_b-c"]));
        let listed = devices_of(&app, &jwt).await;
        assert_eq!(listed[0]["enabled"], false);

        // Another user's device, an unknown one, a malformed id: not found, and nothing changes.
        app.patch_auth(&path, &other_jwt, json!({ "enabled": true })).await.assert_error(404, "device_not_found");
        app.delete_auth(&path, &other_jwt).await.assert_error(404, "device_not_found");
        let unknown = device_path("0193b2a4-5c1e-7d2f-8a3b-4c5d6e7f8a9b");
        app.patch_auth(&unknown, &jwt, json!({ "enabled": true })).await.assert_error(404, "device_not_found");
        app.patch_auth(&unknown, &jwt, json!({})).await.assert_error(404, "device_not_found");
        app.delete_auth(&unknown, &jwt).await.assert_error(404, "device_not_found");
        app.delete_auth(&device_path("not-an-id"), &jwt).await.assert_error(404, "device_not_found");
        assert_eq!(devices_of(&app, &jwt).await[0]["enabled"], false);
        assert_eq!(marker_of(&app, push).await, Some((owner.id.clone(), id.clone())));

        let resp = app.delete_auth(&path, &jwt).await;
        assert!(resp.assert_status(200)["message"].is_string());
        assert!(devices_of(&app, &jwt).await.is_empty());
        assert_eq!(marker_of(&app, push).await, None);
        app.delete_auth(&path, &jwt).await.assert_error(404, "device_not_found");
        // The token is free: the other user takes it as a new device.
        app.post_auth(DEVICES, &other_jwt, Some(json!({ "token": push, "platform": "web" }))).await.assert_status(201);
    }

    async fn bad_input_is_named_in_fields_and_never_echoes_the_token(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let jwt = app.login_ok(&user).await.token;
        let resp = app.post_auth(DEVICES, &jwt, Some(json!({ "token": "has secret space", "platform": "blackberry" }))).await;
        resp.assert_error(400, "validation_failed");
        let fields = resp.body["fields"].as_object().unwrap();
        let mut named: Vec<&str> = fields.keys().map(String::as_str).collect();
        named.sort_unstable();
        assert_eq!(named, ["platform", "token"]);
        assert!(!resp.body.to_string().contains("secret"), "{}", resp.body);
        for (bad, field) in [
            (json!({ "token": "", "platform": "ios" }), "token"),
            (json!({ "token": "tab\there", "platform": "ios" }), "token"),
            (json!({ "token": "nön-ascii", "platform": "ios" }), "token"),
            (json!({ "token": "x".repeat(4097), "platform": "ios" }), "token"),
            (json!({ "token": "fine", "platform": "IOS" }), "platform"),
            (json!({ "platform": "ios" }), "token"),
            (json!({ "token": "fine" }), "platform"),
            (json!({ "token": 42, "platform": "ios" }), "token"),
        ] {
            let resp = app.post_auth(DEVICES, &jwt, Some(bad.clone())).await;
            resp.assert_error(400, "validation_failed");
            assert!(resp.body["fields"][field].is_string(), "{bad}: {}", resp.body);
        }
        app.post_auth(DEVICES, &jwt, Some(json!({ "token": "x".repeat(4096), "platform": "ios" }))).await.assert_status(201);
        assert_eq!(devices_of(&app, &jwt).await.len(), 1);

        let id = devices_of(&app, &jwt).await[0]["id"].as_str().unwrap().to_string();
        let path = device_path(&id);
        let many: Vec<String> = (0..17).map(|i| format!("c{i}")).collect();
        for bad in [
            json!({ "categories": many }),
            json!({ "categories": ["Odds"] }),
            json!({ "categories": [""] }),
            json!({ "categories": ["x".repeat(33)] }),
            json!({ "categories": ["has space"] }),
            json!({ "categories": "odds" }),
            json!({ "categories": [1] }),
        ] {
            let resp = app.patch_auth(&path, &jwt, bad.clone()).await;
            resp.assert_error(400, "validation_failed");
            let fields = resp.body["fields"].as_object().unwrap();
            assert!(fields.keys().all(|k| k.starts_with("categories")), "{bad}: {}", resp.body);
        }
        app.patch_auth(&path, &jwt, json!({ "enabled": "no" })).await.assert_error(400, "validation_failed");
        let sixteen: Vec<String> = (0..16).map(|i| format!("c{i}")).collect();
        let resp = app.patch_auth(&path, &jwt, json!({ "categories": sixteen })).await;
        assert_eq!(resp.assert_status(200)["categories"].as_array().unwrap().len(), 16);
    }

    async fn a_user_holds_at_most_twenty_devices_the_stalest_goes(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let jwt = app.login_ok(&user).await.token;
        for i in 0..20 {
            app.clock.advance(1);
            app.post_auth(DEVICES, &jwt, Some(json!({ "token": format!("token-{i:02}"), "platform": "web" }))).await.assert_status(201);
        }
        // The first token is registered again: it is no longer the stalest.
        app.clock.advance(1);
        app.post_auth(DEVICES, &jwt, Some(json!({ "token": "token-00", "platform": "web" }))).await.assert_status(200);
        app.clock.advance(1);
        app.post_auth(DEVICES, &jwt, Some(json!({ "token": "token-20", "platform": "web" }))).await.assert_status(201);
        let hints: Vec<String> = devices_of(&app, &jwt).await.iter().map(|d| d["token_hint"].as_str().unwrap().to_string()).collect();
        assert_eq!(hints.len(), 20);
        assert!(hints.contains(&"n-00".to_string()), "{hints:?}");
        assert!(!hints.contains(&"n-01".to_string()), "{hints:?}");
        assert!(hints.contains(&"n-20".to_string()), "{hints:?}");
        assert_eq!(marker_of(&app, "token-01").await, None);
    }

    async fn deleting_the_account_removes_its_devices_and_frees_their_tokens(backend) {
        let app = TestApp::spawn(backend).await;
        let (user, other) = (app.new_user().await, app.new_user().await);
        let jwt = app.login_ok(&user).await.token;
        let other_jwt = app.login_ok(&other).await.token;
        for push in ["gone-token-1", "gone-token-2"] {
            app.post_auth(DEVICES, &jwt, Some(json!({ "token": push, "platform": "android" }))).await.assert_status(201);
        }
        app.delete_with("/api/user/me", &jwt, json!({ "password": user.password })).await.assert_status(200);
        for push in ["gone-token-1", "gone-token-2"] {
            assert_eq!(marker_of(&app, push).await, None);
        }
        let left = app
            .state
            .table
            .query(&buddo_shared::store::Query::partition(keys::user_pk(&user.id)))
            .await
            .unwrap();
        assert!(left.items.is_empty(), "{:?}", left.items);
        app.post_auth(DEVICES, &other_jwt, Some(json!({ "token": "gone-token-1", "platform": "android" }))).await.assert_status(201);
    }
}
