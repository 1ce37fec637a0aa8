//! "Remember this device": a right TOTP code with `remember_device` answers a device token that
//! stands in for the code — never the password — until it expires, is revoked, or a password
//! change or reset or TOTP turned off ends every trusted device of the account.

use std::time::Duration;

use buddo_shared::clock::{rfc3339, Clock};
use buddo_shared::config::Limit;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{assert_keys, session_of, Resp, TestApp, TestUser};

const DEVICES: &str = "/api/auth/trusted-devices";

/// A user with TOTP on: the user, the secret, and a session token (recent login).
async fn totp_user(app: &TestApp) -> (TestUser, String, String) {
    let user = app.new_verified_user().await;
    let token = app.login_ok(&user).await.token;
    let (secret, _) = app.enable_totp(&token).await;
    (user, secret, token)
}

async fn login_with(app: &TestApp, user: &TestUser, password: &str, extra: Value) -> Resp {
    let mut body = json!({ "email": user.email, "password": password });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    app.post("/api/auth/login", body).await
}

/// Logs in with a fresh code and `remember_device`; the login's body.
async fn remember(app: &TestApp, user: &TestUser, password: &str, secret: &str) -> Value {
    app.next_totp_step();
    let code = app.totp_now(secret);
    let login = login_with(
        app,
        user,
        password,
        json!({ "totp_code": code, "remember_device": true }),
    )
    .await;
    login.assert_status(200).clone()
}

fn device_token(body: &Value) -> String {
    body["device_token"]
        .as_str()
        .expect("a device_token")
        .to_string()
}

/// A login with the password and this device token only.
async fn with_device(app: &TestApp, user: &TestUser, password: &str, token: &str) -> Resp {
    login_with(app, user, password, json!({ "device_token": token })).await
}

fn listed(resp: &Resp) -> Vec<Value> {
    resp.assert_status(200)["trusted_devices"]
        .as_array()
        .unwrap()
        .clone()
}

backend_tests! {
    async fn a_remembered_device_stands_in_for_the_code_never_for_the_password(backend) {
        let app = TestApp::spawn(backend).await;
        let (user, secret, _) = totp_user(&app).await;
        let body = remember(&app, &user, &user.password, &secret).await;
        let token = device_token(&body);
        let (id, raw_secret) = token.split_once('.').expect("<id>.<secret>");
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{token}");
        assert_eq!(raw_secret.len(), 43, "256 bits, base64url");
        let thirty_days = app.clock.now() + Duration::from_secs(30 * 24 * 3600);
        assert_eq!(body["device_expires_at"], rfc3339(thirty_days));

        // The password and the device token: signed in without a code, and no new token.
        let skipped = with_device(&app, &user, &user.password, &token).await;
        let skipped_body = skipped.assert_status(200);
        assert_eq!(skipped_body["user"]["totp_enabled"], true);
        assert!(skipped_body.get("device_token").is_none(), "{skipped_body}");
        // Its session says how the user signed in: a password and a second factor, no code.
        let jwt = skipped_body["token"].as_str().unwrap();
        let sessions = app.get_auth("/api/auth/sessions", jwt).await;
        let current = sessions.assert_status(200)["sessions"].as_array().unwrap().iter().find(|s| s["current"] == true).unwrap()["id"].as_str().unwrap().to_string();
        let session = app.state.table.get(&buddo_shared::keys::login_session(&user.id, &current)).await.unwrap().unwrap();
        assert_eq!(session["amr"], json!(["pwd", "mfa"]));
        let again = login_with(&app, &user, &user.password, json!({ "device_token": token, "remember_device": true })).await;
        assert!(again.assert_status(200).get("device_token").is_none(), "only a code trusts a device");
        // Never the password.
        with_device(&app, &user, "not the password", &token).await.assert_error(401, "invalid_credentials");
        // Without the token the code is still demanded.
        let asked = app.login(&user.email, &user.password, None).await;
        asked.assert_error(401, "totp_required");
        assert_eq!(asked.body["totp_required"], true);

        // Stored as a hash, in the user's partition.
        let key = buddo_shared::keys::trusted_device(&user.id, id);
        let item = app.state.table.get(&key).await.unwrap().expect("the device's item");
        let stored = serde_json::to_string(&item).unwrap();
        assert!(!stored.contains(raw_secret), "{stored}");
        assert_eq!(item["secret_hash"], buddo_shared::crypto::hash_secret(raw_secret));
        assert_eq!(item["ttl"], thirty_days.unix_timestamp());
    }

    async fn remember_device_without_a_right_code_trusts_nothing(backend) {
        let app = TestApp::spawn(backend).await;
        let (user, secret, session) = totp_user(&app).await;
        app.next_totp_step();
        let no_code = login_with(&app, &user, &user.password, json!({ "remember_device": true })).await;
        no_code.assert_error(401, "totp_required");
        assert!(no_code.body.get("device_token").is_none());
        let wrong = if app.totp_now(&secret) == "000000" { "111111" } else { "000000" };
        let wrong = login_with(&app, &user, &user.password, json!({ "totp_code": wrong, "remember_device": true })).await;
        wrong.assert_error(401, "invalid_totp_code");
        assert!(wrong.body.get("device_token").is_none());
        let wrong_password = login_with(&app, &user, "not the password", json!({ "totp_code": app.totp_now(&secret), "remember_device": true })).await;
        wrong_password.assert_error(401, "invalid_credentials");
        assert!(listed(&app.get_auth(DEVICES, &session).await).is_empty());
        // Without the box the right code trusts nothing either.
        let plain = app.login(&user.email, &user.password, Some(&app.totp_now(&secret))).await;
        assert!(plain.assert_status(200).get("device_token").is_none());
        assert!(listed(&app.get_auth(DEVICES, &session).await).is_empty());

        // An account without TOTP has nothing to remember.
        let other = app.new_user().await;
        let body = login_with(&app, &other, &other.password, json!({ "remember_device": true })).await;
        let body = body.assert_status(200);
        assert!(body.get("device_token").is_none() && body.get("device_expires_at").is_none(), "{body}");
        // Bad input is refused as such.
        login_with(&app, &user, &user.password, json!({ "device_token": "x".repeat(129) })).await.assert_error(400, "validation_failed");
        login_with(&app, &user, &user.password, json!({ "remember_device": "yes" })).await.assert_status(400);
    }

    async fn a_device_token_of_another_user_is_refused(backend) {
        let app = TestApp::spawn(backend).await;
        let (alice, alice_secret, _) = totp_user(&app).await;
        let (bob, bob_secret, _) = totp_user(&app).await;
        let alices = device_token(&remember(&app, &alice, &alice.password, &alice_secret).await);
        let refused = with_device(&app, &bob, &bob.password, &alices).await;
        refused.assert_error(401, "totp_required");
        assert_eq!(refused.body["totp_required"], true);
        // Bob's own code still works beside it.
        app.next_totp_step();
        let code = app.totp_now(&bob_secret);
        login_with(&app, &bob, &bob.password, json!({ "device_token": alices, "totp_code": code })).await.assert_status(200);
        // Another secret under Alice's device id, and tokens of no device at all.
        let (id, _) = alices.split_once('.').unwrap();
        let forged = format!("{id}.{}", buddo_shared::crypto::random_token());
        with_device(&app, &alice, &alice.password, &forged).await.assert_error(401, "totp_required");
        for junk in ["junk", "a.b", &format!("{}.{}", uuid::Uuid::new_v4(), "s".repeat(43))] {
            with_device(&app, &alice, &alice.password, junk).await.assert_error(401, "totp_required");
        }
        with_device(&app, &alice, &alice.password, &alices).await.assert_status(200);
    }

    async fn an_expired_device_token_asks_for_the_code_again(backend) {
        let app = TestApp::spawn_with(backend, |c| c.trusted_device_ttl = Duration::from_secs(2 * 24 * 3600)).await;
        let (user, secret, _) = totp_user(&app).await;
        let body = remember(&app, &user, &user.password, &secret).await;
        let issued = app.clock.now();
        assert_eq!(body["device_expires_at"], rfc3339(issued + Duration::from_secs(2 * 24 * 3600)));
        let token = device_token(&body);
        // A minute before it expires it still works; the expiry does not move with use.
        app.clock.advance(2 * 24 * 3600 - 60);
        with_device(&app, &user, &user.password, &token).await.assert_status(200);
        app.clock.advance(60);
        with_device(&app, &user, &user.password, &token).await.assert_error(401, "totp_required");
        let session = app.login(&user.email, &user.password, Some(&app.totp_now(&secret))).await;
        let session = session_of(session.assert_status(200));
        assert!(listed(&app.get_auth(DEVICES, &session.token).await).is_empty(), "an expired device is not listed");
    }

    async fn password_change_reset_and_totp_disable_end_every_device(backend) {
        let app = TestApp::spawn(backend).await;
        let (mut user, secret, session) = totp_user(&app).await;
        let first = device_token(&remember(&app, &user, &user.password, &secret).await);
        let second = device_token(&remember(&app, &user, &user.password, &secret).await);
        assert_eq!(listed(&app.get_auth(DEVICES, &session).await).len(), 2);

        // A password change.
        let changed = "a changed long passphrase".to_string();
        app.post_auth("/api/auth/change-password", &session, Some(json!({ "current_password": user.password, "new_password": changed })))
            .await
            .assert_status(200);
        user.password = changed;
        for token in [&first, &second] {
            with_device(&app, &user, &user.password, token).await.assert_error(401, "totp_required");
        }
        assert!(listed(&app.get_auth(DEVICES, &session).await).is_empty(), "ended devices are not listed");

        // A password reset.
        let third = device_token(&remember(&app, &user, &user.password, &secret).await);
        with_device(&app, &user, &user.password, &third).await.assert_status(200);
        app.post("/api/auth/forgot-password", json!({ "email": user.email })).await.assert_status(200);
        let reset = app.token_from_mail(&user.email, "/reset-password").await;
        user.password = "a reset long passphrase".into();
        app.post("/api/auth/reset-password", json!({ "token": reset, "password": user.password })).await.assert_status(200);
        with_device(&app, &user, &user.password, &third).await.assert_error(401, "totp_required");

        // TOTP turned off (and on again: the old device does not come back).
        let body = remember(&app, &user, &user.password, &secret).await;
        let fourth = device_token(&body);
        let session = body["token"].as_str().unwrap().to_string();
        with_device(&app, &user, &user.password, &fourth).await.assert_status(200);
        app.next_totp_step();
        app.post_auth("/api/auth/totp/disable", &session, Some(json!({ "password": user.password, "code": app.totp_now(&secret) })))
            .await
            .assert_status(200);
        assert!(listed(&app.get_auth(DEVICES, &session).await).is_empty());
        app.next_totp_step();
        let (secret, _) = app.enable_totp(&session).await;
        with_device(&app, &user, &user.password, &fourth).await.assert_error(401, "totp_required");
        // A new device can be trusted again.
        let fifth = device_token(&remember(&app, &user, &user.password, &secret).await);
        with_device(&app, &user, &user.password, &fifth).await.assert_status(200);
    }

    async fn trusted_devices_are_listed_and_revoked_by_their_owner_only(backend) {
        let app = TestApp::spawn(backend).await;
        let (user, secret, session) = totp_user(&app).await;
        app.next_totp_step();
        let agent = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        let login = app
            .client
            .post(app.url("/api/auth/login"))
            .header("user-agent", agent)
            .json(&json!({ "email": user.email, "password": user.password, "totp_code": app.totp_now(&secret), "remember_device": true }))
            .send()
            .await
            .unwrap();
        let token = device_token(TestApp::read(login).await.assert_status(200));
        let id = token.split_once('.').unwrap().0.to_string();
        let other = device_token(&remember(&app, &user, &user.password, &secret).await);

        let devices = listed(&app.get_auth(DEVICES, &session).await);
        assert_eq!(devices.len(), 2);
        let device = devices.iter().find(|d| d["id"] == id.as_str()).expect("listed by id");
        assert_keys(device, &["created_at", "expires_at", "id", "ip_address", "label", "last_used_at", "user_agent"]);
        assert_eq!(device["label"], "Firefox on Linux");
        assert_eq!(device["user_agent"], agent);
        assert_eq!(device["ip_address"], "127.0.0.1");
        assert_eq!(device["last_used_at"], device["created_at"]);
        assert!(!devices.iter().any(|d| d.to_string().contains(token.split_once('.').unwrap().1)), "no secret is listed");
        assert_eq!(devices[1]["id"], id.as_str(), "newest first");
        // Using it is noted.
        app.clock.advance(120);
        with_device(&app, &user, &user.password, &token).await.assert_status(200);
        let devices = listed(&app.get_auth(DEVICES, &session).await);
        let used = devices.iter().find(|d| d["id"] == id.as_str()).unwrap();
        assert_eq!(used["last_used_at"], rfc3339(app.clock.now()));

        // Another user cannot revoke it, nor see it.
        let stranger = app.login_ok(&app.new_user().await).await.token;
        assert!(listed(&app.get_auth(DEVICES, &stranger).await).is_empty());
        app.delete_auth(&format!("{DEVICES}/{id}"), &stranger).await.assert_error(404, "trusted_device_not_found");
        with_device(&app, &user, &user.password, &token).await.assert_status(200);
        app.delete_auth(&format!("{DEVICES}/not-an-id"), &session).await.assert_error(404, "trusted_device_not_found");
        app.get(DEVICES).await.assert_error(401, "invalid_token");

        // The owner can.
        let revoked = app.delete_auth(&format!("{DEVICES}/{}", id.to_uppercase()), &session).await;
        assert!(revoked.assert_status(200)["message"].is_string());
        with_device(&app, &user, &user.password, &token).await.assert_error(401, "totp_required");
        app.delete_auth(&format!("{DEVICES}/{id}"), &session).await.assert_error(404, "trusted_device_not_found");
        let left = listed(&app.get_auth(DEVICES, &session).await);
        assert_eq!(left.len(), 1);
        with_device(&app, &user, &user.password, &other).await.assert_status(200);

        // Both are in the owner's activity.
        let activity = app.get_auth("/api/user/activity?limit=100", &session).await;
        let entries = activity.assert_status(200)["activity"].as_array().unwrap().clone();
        let of = |kind: &str| entries.iter().filter(|e| e["kind"] == kind).cloned().collect::<Vec<_>>();
        assert_eq!(of("trusted_device_added").len(), 2);
        let added = of("trusted_device_added").into_iter().find(|e| e["details"]["device_id"] == id.as_str()).unwrap();
        assert_eq!(added["details"]["label"], "Firefox on Linux");
        let revoked = of("trusted_device_revoked");
        assert_eq!(revoked.len(), 1);
        assert_eq!(revoked[0]["details"]["device_id"], id.as_str());
        let kind = app.get_auth("/api/user/activity?kind=trusted_device_revoked", &session).await;
        assert_eq!(kind.assert_status(200)["activity"].as_array().unwrap().len(), 1);
    }

    async fn wrong_device_secrets_count_as_wrong_codes(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.failed_code = Limit::new(2, 900)).await;
        let (user, secret, session) = totp_user(&app).await;
        let token = device_token(&remember(&app, &user, &user.password, &secret).await);
        // Tokens of no device of the user's (another account's, expired, ended) are not guesses.
        for _ in 0..3 {
            let unknown = format!("{}.{}", uuid::Uuid::new_v4(), buddo_shared::crypto::random_token());
            with_device(&app, &user, &user.password, &unknown).await.assert_error(401, "totp_required");
        }
        with_device(&app, &user, &user.password, &token).await.assert_status(200);
        // A wrong secret for the user's device is, and so is junk.
        let (id, _) = token.split_once('.').unwrap();
        let forged = format!("{id}.{}", buddo_shared::crypto::random_token());
        with_device(&app, &user, &user.password, &forged).await.assert_error(401, "totp_required");
        with_device(&app, &user, &user.password, "junk").await.assert_error(401, "totp_required");
        // The account's code counter is full: neither the device nor a code is even checked.
        with_device(&app, &user, &user.password, &token).await.assert_limited();
        app.next_totp_step();
        app.login(&user.email, &user.password, Some(&app.totp_now(&secret))).await.assert_limited();
        let activity = app.get_auth("/api/user/activity?kind=login_failed", &session).await;
        let failed = activity.assert_status(200)["activity"].as_array().unwrap().clone();
        assert_eq!(failed.iter().filter(|e| e["details"]["reason"] == "device_token").count(), 2, "{failed:?}");
        // The window passes.
        app.clock.advance(900);
        with_device(&app, &user, &user.password, &token).await.assert_status(200);
    }
}
