//! Passkeys: registering (after a recent sign-in), listing, renaming and removing them, and
//! signing in with one, discoverable (no name typed), as two factors. Answers come from a
//! software authenticator (helpers/passkeys.rs) that signs as a real one does, so the server's
//! checks — challenge, origin, relying party, signature, sign counter — are the real ones.

use buddo_shared::domain::identity::sessions;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{assert_keys, SoftAuthenticator, TestApp, TestUser};

const PASSKEYS: &str = "/api/auth/passkeys";

/// A verified user and a fresh session token (a recent sign-in).
async fn signed_in(app: &TestApp) -> (TestUser, String) {
    let user = app.new_verified_user().await;
    let token = app.login_ok(&user).await.token;
    (user, token)
}

fn listed(resp: &crate::helpers::Resp) -> Vec<Value> {
    resp.assert_status(200)["passkeys"]
        .as_array()
        .expect("passkeys")
        .clone()
}

async fn activity_of(app: &TestApp, token: &str, kind: &str) -> Vec<Value> {
    let resp = app
        .get_auth(&format!("/api/user/activity?kind={kind}&limit=100"), token)
        .await;
    resp.assert_status(200)["activity"]
        .as_array()
        .unwrap()
        .clone()
}

backend_tests! {
    async fn a_passkey_is_added_listed_renamed_and_removed(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, token) = signed_in(&app).await;
        let mut synced = SoftAuthenticator { synced: true, ..SoftAuthenticator::new() };
        let added = app.register_passkey(&token, &mut synced, Some("  Laptop  ")).await;
        let passkey = added.assert_status(201)["passkey"].clone();
        assert_keys(&passkey, &["id", "name", "created_at", "last_used_at", "backup_eligible", "backup_state"]);
        assert_eq!(passkey["name"], "Laptop");
        assert_eq!(passkey["last_used_at"], Value::Null);
        assert_eq!((passkey["backup_eligible"].clone(), passkey["backup_state"].clone()), (json!(true), json!(true)));
        let id = passkey["id"].as_str().unwrap().to_string();

        // A device-bound one, named after the browser.
        let mut bound = SoftAuthenticator::new();
        let second = app.register_passkey(&token, &mut bound, None).await;
        let second = second.assert_status(201)["passkey"].clone();
        assert_eq!((second["backup_eligible"].clone(), second["backup_state"].clone()), (json!(false), json!(false)));
        assert!(!second["name"].as_str().unwrap().is_empty());

        let all = listed(&app.get_auth(PASSKEYS, &token).await);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0]["id"], id.as_str(), "oldest first");

        // The same authenticator again: excluded in the options, refused if it answers anyway.
        let again = app.register_passkey(&token, &mut synced.clone(), None).await;
        again.assert_error(409, "passkey_exists");
        // So is a credential of another account's.
        let (_, other) = signed_in(&app).await;
        let taken = app.register_passkey(&other, &mut synced.clone(), None).await;
        taken.assert_error(409, "passkey_exists");
        assert!(listed(&app.get_auth(PASSKEYS, &other).await).is_empty());

        app.patch_auth(&format!("{PASSKEYS}/{id}"), &token, json!({ "name": "Phone" }))
            .await
            .assert_status(200);
        let all = listed(&app.get_auth(PASSKEYS, &token).await);
        assert_eq!(all[0]["name"], "Phone");

        // Signing in notes the use.
        app.passkey_login(&mut synced).await.assert_status(200);
        let all = listed(&app.get_auth(PASSKEYS, &token).await);
        assert!(all[0]["last_used_at"].is_string(), "{}", all[0]);

        app.delete_auth(&format!("{PASSKEYS}/{id}"), &token).await.assert_status(200);
        let all = listed(&app.get_auth(PASSKEYS, &token).await);
        assert_eq!(all.len(), 1);
        app.delete_auth(&format!("{PASSKEYS}/{id}"), &token).await.assert_error(404, "passkey_not_found");
        // A removed passkey signs in no more, at once.
        app.passkey_login(&mut synced).await.assert_error(401, "invalid_passkey");
        app.passkey_login(&mut bound).await.assert_status(200);

        let added = activity_of(&app, &token, "passkey_added").await;
        assert_eq!(added.len(), 2);
        let removed = activity_of(&app, &token, "passkey_removed").await;
        assert_eq!(removed.len(), 1);
        assert_eq!(removed[0]["details"]["passkey_id"], id.as_str());
        assert_eq!(removed[0]["details"]["name"], "Phone");
    }

    async fn a_passkey_signs_in_as_two_factors_without_the_totp_step(backend) {
        let app = TestApp::spawn(backend).await;
        let (user, token) = signed_in(&app).await;
        app.enable_totp(&token).await;
        let mut authenticator = SoftAuthenticator::new();
        app.add_passkey(&token, &mut authenticator).await;

        // The password alone is not enough now.
        app.login(&user.email, &user.password, None).await.assert_error(401, "totp_required");

        let signed = app.passkey_login(&mut authenticator).await;
        let body = signed.assert_status(200).clone();
        // The same answer as a password login's.
        assert_keys(&body, &["token", "refresh_token", "expires_at", "user"]);
        assert_eq!(body["user"]["id"], user.id.as_str());
        assert_eq!(body["user"]["totp_enabled"], true);
        let jwt = body["token"].as_str().unwrap();
        app.me(jwt).await.assert_status(200);
        let auth = sessions::authenticate(&app.state, jwt).await.unwrap_or_else(|_| panic!("a live session"));
        assert_eq!(auth.session.amr, ["hwk", "user", "mfa"]);
        // The refresh token works as any other.
        app.post("/api/auth/refresh", json!({ "refresh_token": body["refresh_token"] }))
            .await
            .assert_status(200);
        // The sign-in is in the activity log.
        let logins = activity_of(&app, jwt, "login").await;
        assert!(logins.len() >= 2);
        // A passkey sign-in is recent enough for sensitive changes.
        app.passkey_registration_options(jwt).await.assert_status(200);
    }

    async fn an_answer_signs_in_once(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, token) = signed_in(&app).await;
        let mut authenticator = SoftAuthenticator::new();
        app.add_passkey(&token, &mut authenticator).await;

        let challenge = app.passkey_challenge().await;
        let answer = authenticator.assert(&challenge.options);
        app.passkey_login_with(&challenge, answer.clone()).await.assert_status(200);
        // The same challenge again: it was used.
        app.passkey_login_with(&challenge, answer.clone()).await.assert_error(400, "invalid_challenge");
        // The old answer to a new challenge: its signature is over another challenge.
        let other = app.passkey_challenge().await;
        app.passkey_login_with(&other, answer).await.assert_error(401, "invalid_passkey");
        // Challenges are used once even when the answer was refused.
        let fresh = authenticator.assert(&other.options);
        app.passkey_login_with(&other, fresh).await.assert_error(400, "invalid_challenge");
    }

    async fn another_origin_is_refused(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, token) = signed_in(&app).await;
        let mut phished = SoftAuthenticator { origin: "https://app.buddo.test.evil.example".into(), ..SoftAuthenticator::new() };
        app.register_passkey(&token, &mut phished, None).await.assert_error(400, "invalid_passkey");
        assert!(listed(&app.get_auth(PASSKEYS, &token).await).is_empty());

        let mut authenticator = SoftAuthenticator::new();
        app.add_passkey(&token, &mut authenticator).await;
        authenticator.origin = "https://evil.example".into();
        app.passkey_login(&mut authenticator).await.assert_error(401, "invalid_passkey");
        authenticator.origin = crate::helpers::PASSKEY_ORIGIN.into();
        app.passkey_login(&mut authenticator).await.assert_status(200);
    }

    async fn a_cloned_authenticator_is_refused(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, token) = signed_in(&app).await;
        let mut original = SoftAuthenticator::new();
        app.add_passkey(&token, &mut original).await;
        app.passkey_login(&mut original).await.assert_status(200);
        let mut clone = original.clone();
        app.passkey_login(&mut original).await.assert_status(200);
        // The clone's counter is where the original's was: it went back.
        app.passkey_login(&mut clone).await.assert_error(401, "invalid_passkey");
        let failed = activity_of(&app, &token, "login_failed").await;
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0]["details"]["reason"], "passkey_cloned");
        // The original goes on counting.
        app.passkey_login(&mut original).await.assert_status(200);

        // An authenticator that keeps no counter (0 every time) is not taken for a clone.
        let mut synced = SoftAuthenticator { counts: false, synced: true, ..SoftAuthenticator::new() };
        app.add_passkey(&token, &mut synced).await;
        app.passkey_login(&mut synced).await.assert_status(200);
        app.passkey_login(&mut synced).await.assert_status(200);
    }

    async fn a_credential_signs_in_only_its_own_user(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, token) = signed_in(&app).await;
        let (victim, _) = signed_in(&app).await;
        let mut authenticator = SoftAuthenticator::new();
        app.add_passkey(&token, &mut authenticator).await;
        // The attacker's credential, claiming to be the victim's.
        let mut forged = authenticator.clone();
        forged.user_handle = uuid::Uuid::parse_str(&victim.id).unwrap().as_bytes().to_vec();
        app.passkey_login(&mut forged).await.assert_error(401, "invalid_passkey");
        // A credential nobody registered.
        let mut stranger = SoftAuthenticator::new();
        stranger.user_handle = forged.user_handle.clone();
        app.passkey_login(&mut stranger).await.assert_error(401, "invalid_passkey");
        // An assertion without user verification.
        authenticator.verifies_user = false;
        app.passkey_login(&mut authenticator).await.assert_error(401, "invalid_passkey");
        // Another user's passkey cannot be renamed or removed.
        let victim_token = app.login_ok(&victim).await.token;
        let id = listed(&app.get_auth(PASSKEYS, &token).await)[0]["id"].as_str().unwrap().to_string();
        app.delete_auth(&format!("{PASSKEYS}/{id}"), &victim_token).await.assert_error(404, "passkey_not_found");
        app.patch_auth(&format!("{PASSKEYS}/{id}"), &victim_token, json!({ "name": "mine" }))
            .await
            .assert_error(404, "passkey_not_found");
        assert!(listed(&app.get_auth(PASSKEYS, &victim_token).await).is_empty());
    }

    async fn challenges_expire(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, token) = signed_in(&app).await;
        let mut authenticator = SoftAuthenticator::new();
        app.add_passkey(&token, &mut authenticator).await;

        let challenge = app.passkey_challenge().await;
        app.clock.advance(301);
        let answer = authenticator.assert(&challenge.options);
        app.passkey_login_with(&challenge, answer).await.assert_error(400, "invalid_challenge");

        // Within the time it is fine.
        let challenge = app.passkey_challenge().await;
        app.clock.advance(290);
        let answer = authenticator.assert(&challenge.options);
        app.passkey_login_with(&challenge, answer).await.assert_status(200);

        // A registration challenge expires too.
        let token = app.login_ok(&app.new_verified_user().await).await.token;
        let options = app.passkey_registration_options(&token).await.assert_status(200).clone();
        app.clock.advance(301);
        let credential = SoftAuthenticator::new().register(&options["options"]);
        let body = json!({ "challenge_id": options["challenge_id"], "credential": credential });
        app.post_auth("/api/auth/passkeys/register", &token, Some(body))
            .await
            .assert_error(400, "invalid_challenge");
    }

    async fn registering_needs_a_recent_sign_in(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, token) = signed_in(&app).await;
        let options = app.passkey_registration_options(&token).await.assert_status(200).clone();
        app.clock.advance(16 * 60);
        app.passkey_registration_options(&token).await.assert_error(401, "recent_login_required");
        // Options asked in time do not stretch it.
        let credential = SoftAuthenticator::new().register(&options["options"]);
        let body = json!({ "challenge_id": options["challenge_id"], "credential": credential });
        app.post_auth("/api/auth/passkeys/register", &token, Some(body))
            .await
            .assert_error(401, "recent_login_required");
        assert!(listed(&app.get_auth(PASSKEYS, &token).await).is_empty());

        // Another user's registration challenge is no use either.
        let (_, other) = signed_in(&app).await;
        let options = app.passkey_registration_options(&other).await.assert_status(200).clone();
        let fresh = app.login_ok(&app.new_verified_user().await).await.token;
        let credential = SoftAuthenticator::new().register(&options["options"]);
        let body = json!({ "challenge_id": options["challenge_id"], "credential": credential });
        app.post_auth("/api/auth/passkeys/register", &fresh, Some(body))
            .await
            .assert_error(400, "invalid_challenge");
        // Nor is a sign-in challenge.
        let challenge = app.passkey_challenge().await;
        let credential = SoftAuthenticator::new().register(&json!({ "publicKey": {
            "challenge": challenge.options["publicKey"]["challenge"],
            "user": { "id": "AAAA" },
            "rp": { "id": crate::helpers::PASSKEY_RP_ID },
        }}));
        let body = json!({ "challenge_id": challenge.id, "credential": credential });
        app.post_auth("/api/auth/passkeys/register", &fresh, Some(body))
            .await
            .assert_error(400, "invalid_challenge");
        // Without a token at all.
        app.post("/api/auth/passkeys/register/options", json!({})).await.assert_error(401, "invalid_token");
        app.get(PASSKEYS).await.assert_error(401, "invalid_token");
    }

    async fn bad_input_gets_the_error_shape(backend) {
        let app = TestApp::spawn(backend).await;
        let (_, token) = signed_in(&app).await;
        let options = app.passkey_registration_options(&token).await.assert_status(200).clone();
        let register = |body: Value| {
            let token = token.clone();
            let app = &app;
            async move { app.post_auth("/api/auth/passkeys/register", &token, Some(body)).await }
        };
        register(json!({ "challenge_id": options["challenge_id"], "credential": { "id": 5 } }))
            .await
            .assert_error(400, "validation_failed");
        register(json!({ "challenge_id": options["challenge_id"] })).await.assert_status(400);
        register(json!({ "challenge_id": 7, "credential": {} })).await.assert_status(400);
        let credential = SoftAuthenticator::new().register(&options["options"]);
        register(json!({ "challenge_id": options["challenge_id"], "credential": credential, "name": "" }))
            .await
            .assert_error(400, "validation_failed");
        register(json!({ "challenge_id": options["challenge_id"], "credential": credential, "name": "x".repeat(65) }))
            .await
            .assert_error(400, "validation_failed");
        register(json!({ "challenge_id": "not a challenge!", "credential": credential }))
            .await
            .assert_error(400, "invalid_challenge");
        register(json!({ "challenge_id": "x".repeat(500), "credential": credential }))
            .await
            .assert_error(400, "invalid_challenge");
        // Garbage where the attestation goes.
        let mut broken = credential.clone();
        broken["response"]["attestationObject"] = json!("AAAA");
        register(json!({ "challenge_id": options["challenge_id"], "credential": broken }))
            .await
            .assert_error(400, "invalid_passkey");

        let login = |body: Value| {
            let app = &app;
            async move { app.post("/api/auth/passkeys/login", body).await }
        };
        let challenge = app.passkey_challenge().await;
        login(json!({ "challenge_id": challenge.id, "credential": "nope" })).await.assert_error(400, "validation_failed");
        login(json!({ "challenge_id": challenge.id })).await.assert_status(400);
        login(json!({ "challenge_id": "unknown", "credential": SoftAuthenticator::new().assert(&challenge.options) }))
            .await
            .assert_error(400, "invalid_challenge");
        let resp = app.post_raw("/api/auth/passkeys/login", None, "{not json").await;
        resp.assert_status(400);

        app.patch_auth(&format!("{PASSKEYS}/{}", uuid::Uuid::new_v4()), &token, json!({ "name": "x" }))
            .await
            .assert_error(404, "passkey_not_found");
        app.patch_auth(&format!("{PASSKEYS}/not-an-id"), &token, json!({ "name": "x" }))
            .await
            .assert_error(404, "passkey_not_found");
        app.delete_auth(&format!("{PASSKEYS}/not-an-id"), &token).await.assert_error(404, "passkey_not_found");
        let mut authenticator = SoftAuthenticator::new();
        let id = app.add_passkey(&token, &mut authenticator).await;
        app.patch_auth(&format!("{PASSKEYS}/{id}"), &token, json!({ "name": " \t " }))
            .await
            .assert_error(400, "validation_failed");
        app.patch_auth(&format!("{PASSKEYS}/{id}"), &token, json!({ "name": "a\u{7}b" }))
            .await
            .assert_error(400, "validation_failed");
        app.patch_auth(&format!("{PASSKEYS}/{id}"), &token, json!({}))
            .await
            .assert_status(400);
    }

    async fn deleting_the_account_removes_its_passkeys(backend) {
        let app = TestApp::spawn(backend).await;
        let (user, token) = signed_in(&app).await;
        let mut authenticator = SoftAuthenticator::new();
        app.add_passkey(&token, &mut authenticator).await;
        app.delete_with("/api/user/me", &token, json!({ "password": user.password }))
            .await
            .assert_status(200);
        app.passkey_login(&mut authenticator).await.assert_error(401, "invalid_passkey");
        // Its credential marker went too.
        let marker = buddo_shared::keys::passkey_credential(&buddo_shared::crypto::hash_secret(
            &base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &authenticator.credential_id),
        ));
        assert!(app.state.table.get(&marker).await.unwrap().is_none());
    }

    async fn a_password_reset_keeps_passkeys_and_ends_their_sessions(backend) {
        let app = TestApp::spawn(backend).await;
        let (user, token) = signed_in(&app).await;
        let mut authenticator = SoftAuthenticator::new();
        app.add_passkey(&token, &mut authenticator).await;
        let passkey_session = app.passkey_login(&mut authenticator).await.assert_status(200)["token"]
            .as_str()
            .unwrap()
            .to_string();
        app.post("/api/auth/forgot-password", json!({ "email": user.email })).await.assert_status(200);
        let reset = app.token_from_mail(&user.email, "/reset-password").await;
        app.post("/api/auth/reset-password", json!({ "token": reset, "password": "a-new-long-password" }))
            .await
            .assert_status(200);
        app.me(&passkey_session).await.assert_error(401, "invalid_token");
        app.passkey_login(&mut authenticator).await.assert_status(200);
    }
}
