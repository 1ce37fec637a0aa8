//! Sign-in with Google and GitHub through the stand-in providers: sign-up with a chosen
//! username, the ID token's checks, single-use state, the takeover refusal, linking and
//! unlinking, the last sign-in method, and TOTP after a provider.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{IdTokenFault, Person, TestApp, APP_REDIRECT};

backend_tests! {
    async fn github_sign_up_chooses_a_username_then_signs_in_again(backend) {
        let (app, idp) = TestApp::spawn_with_providers(backend).await;
        let person = Person::new("octo");
        idp.github_as(&person);
        let offer = app.provider_login(&idp, "github").await;
        let body = offer.assert_status(200);
        assert_eq!(body["signup_required"], true);
        assert_eq!(body["email"], person.email);
        assert_eq!(body["suggested_username"], person.login, "the GitHub login is free");
        let token = body["signup_token"].as_str().unwrap();
        let username = format!("o{}", &person.subject[..6]);
        let resp = app.post("/api/auth/oauth/complete-signup",
            json!({ "signup_token": token, "username": username, "marketing_opt_in": true })).await;
        let signed_up = resp.assert_status(200).clone();
        assert_eq!(signed_up["user"]["username"], username);
        assert_eq!(signed_up["user"]["email"], person.email);
        let me = app.me(signed_up["token"].as_str().unwrap()).await;
        assert_eq!(me.assert_status(200)["user"]["email_verified"], true, "the provider verified it");
        // The token is spent with the account.
        app.post("/api/auth/oauth/complete-signup", json!({ "signup_token": token, "username": "another_one" }))
            .await.assert_error(400, "invalid_signup_token");

        // The same person signs in to the same account from now on.
        let again = app.provider_login(&idp, "github").await;
        let again = again.assert_status(200);
        assert_eq!(again["user"]["id"], signed_up["user"]["id"]);
        let connections = app.get_auth("/api/auth/oauth/connections", again["token"].as_str().unwrap()).await;
        let list = connections.assert_status(200)["connections"].as_array().unwrap().clone();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["provider"], "github");
        assert_eq!(list[0]["login"], person.login);
        assert_eq!(list[0]["email"], person.email);
        assert!(list[0]["linked_at"].as_str().unwrap().ends_with('Z'));
        // No password: a password login is refused like a wrong one.
        app.login(&person.email, "any password at all", None).await.assert_error(401, "invalid_credentials");
    }

    async fn google_id_tokens_are_verified(backend) {
        let (app, idp) = TestApp::spawn_with_providers(backend).await;
        let person = Person::new("gee");
        idp.google_as(&person);
        let first = app.provider_login(&idp, "google").await;
        assert_eq!(first.assert_status(200)["signup_required"], true);
        let nonces = idp.nonces_seen();
        assert_eq!(nonces.len(), 1, "the request carried a nonce");

        for fault in [
            IdTokenFault::Forged,
            IdTokenFault::WrongAudience,
            IdTokenFault::Unsigned,
            // A token of an earlier sign-in replayed into this one.
            IdTokenFault::Nonce(nonces[0].clone()),
        ] {
            idp.fault_next_id_token(fault.clone());
            let resp = app.provider_login(&idp, "google").await;
            assert_eq!(resp.status, 400, "{fault:?}: {}", resp.body);
            assert_eq!(resp.body["error"], "invalid_id_token", "{fault:?}");
        }
        // Every nonce was new.
        let nonces = idp.nonces_seen();
        let mut unique = nonces.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), nonces.len());
    }

    async fn a_state_is_used_once_and_by_its_own_provider(backend) {
        let (app, idp) = TestApp::spawn_with_providers(backend).await;
        idp.github_as(&Person::new("replay"));
        idp.google_as(&Person::new("replay"));
        let (code, state) = app.provider_code(&idp, "github").await;
        let body = json!({ "code": code, "state": state });
        app.post("/api/auth/oauth/github/login", body.clone()).await.assert_status(200);
        app.post("/api/auth/oauth/github/login", body).await.assert_error(400, "invalid_state");

        // A GitHub state is no good at Google's endpoint.
        let (code, state) = app.provider_code(&idp, "github").await;
        app.post("/api/auth/oauth/google/login", json!({ "code": code, "state": state }))
            .await.assert_error(400, "invalid_state");
        // Made-up and expired states.
        app.post("/api/auth/oauth/github/login", json!({ "code": "x", "state": "made-up-state" }))
            .await.assert_error(400, "invalid_state");
        let (code, state) = app.provider_code(&idp, "github").await;
        app.clock.advance(601);
        app.post("/api/auth/oauth/github/login", json!({ "code": code, "state": state }))
            .await.assert_error(400, "invalid_state");

        // Two requests racing with one state: one is answered, the other refused.
        let (code, state) = app.provider_code(&idp, "github").await;
        let body = json!({ "code": code, "state": state });
        let (a, b) = tokio::join!(
            app.post("/api/auth/oauth/github/login", body.clone()),
            app.post("/api/auth/oauth/github/login", body.clone()),
        );
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 400], "{} / {}", a.body, b.body);

        // A code the provider does not know.
        let (_, state) = app.provider_code(&idp, "github").await;
        app.post("/api/auth/oauth/github/login", json!({ "code": "not-a-code", "state": state }))
            .await.assert_error(400, "invalid_code");
    }

    async fn unverified_provider_addresses_are_refused(backend) {
        let (app, idp) = TestApp::spawn_with_providers(backend).await;
        idp.github_as(&Person::new("unv").unverified());
        app.provider_login(&idp, "github").await.assert_error(403, "provider_email_unverified");
        idp.google_as(&Person::new("unv").unverified());
        app.provider_login(&idp, "google").await.assert_error(403, "provider_email_unverified");
    }

    async fn an_address_with_an_account_is_never_linked_silently(backend) {
        let (app, idp) = TestApp::spawn_with_providers(backend).await;
        let owner = app.new_verified_user().await;
        // Someone controls a GitHub account claiming the owner's address.
        idp.github_as(&Person::new("thief").with_email(&owner.email.to_uppercase()));
        app.provider_login(&idp, "github").await.assert_error(409, "account_exists");
        idp.google_as(&Person::new("thief").with_email(&owner.email));
        app.provider_login(&idp, "google").await.assert_error(409, "account_exists");
        // Nothing was linked, and the owner's password still signs in.
        let session = app.login_ok(&owner).await;
        let list = app.get_auth("/api/auth/oauth/connections", &session.token).await;
        assert_eq!(list.assert_status(200)["connections"], json!([]));
    }

    async fn link_sign_in_and_unlink(backend) {
        let (app, idp) = TestApp::spawn_with_providers(backend).await;
        let user = app.new_verified_user().await;
        let session = app.login_ok(&user).await;
        let google = Person::new("linker");
        idp.google_as(&google);
        let (code, state) = app.provider_code(&idp, "google").await;
        let linked = app.post_auth("/api/auth/oauth/google/link", &session.token,
            Some(json!({ "code": code, "state": state }))).await;
        let linked = linked.assert_status(200);
        assert_eq!(linked["provider"], "google");
        assert_eq!(linked["email"], google.email);
        assert_eq!(linked["login"], json!(null));

        // Google signs in to the account now, whatever its address.
        let signed_in = app.provider_login(&idp, "google").await;
        assert_eq!(signed_in.assert_status(200)["user"]["id"], user.id);

        // Linking it again, or a second Google account, is refused.
        let (code, state) = app.provider_code(&idp, "google").await;
        app.post_auth("/api/auth/oauth/google/link", &session.token,
            Some(json!({ "code": code, "state": state }))).await.assert_error(409, "already_linked");
        idp.google_as(&Person::new("second"));
        let (code, state) = app.provider_code(&idp, "google").await;
        app.post_auth("/api/auth/oauth/google/link", &session.token,
            Some(json!({ "code": code, "state": state }))).await.assert_error(409, "provider_already_linked");

        // Another account cannot take this Google account over by linking it.
        let other = app.new_verified_user().await;
        let other_session = app.login_ok(&other).await;
        idp.google_as(&google);
        let (code, state) = app.provider_code(&idp, "google").await;
        app.post_auth("/api/auth/oauth/google/link", &other_session.token,
            Some(json!({ "code": code, "state": state }))).await.assert_error(409, "identity_in_use");

        // Linking needs a recent login.
        app.clock.advance(16 * 60);
        let (code, state) = app.provider_code(&idp, "google").await;
        app.post_auth("/api/auth/oauth/google/link", &session.token,
            Some(json!({ "code": code, "state": state }))).await.assert_error(401, "recent_login_required");

        // Unlinked, the Google account no longer signs in to it.
        app.delete_auth("/api/auth/oauth/connections/google", &session.token).await.assert_status(200);
        app.delete_auth("/api/auth/oauth/connections/google", &session.token).await.assert_error(404, "not_linked");
        let after = app.provider_login(&idp, "google").await;
        assert_eq!(after.assert_status(200)["signup_required"], true);
        let activity = app.get_auth("/api/user/activity", &session.token).await;
        let kinds: Vec<String> = activity.assert_status(200)["activity"].as_array().unwrap()
            .iter().map(|a| a["kind"].as_str().unwrap_or_default().to_string()).collect();
        assert!(kinds.iter().any(|k| k == "provider_linked"), "{kinds:?}");
        assert!(kinds.iter().any(|k| k == "provider_unlinked"), "{kinds:?}");
    }

    async fn the_last_way_to_sign_in_cannot_be_unlinked(backend) {
        let (app, idp) = TestApp::spawn_with_providers(backend).await;
        let github = Person::new("last");
        idp.github_as(&github);
        let signed_up = app.provider_sign_up(&idp, "github", &format!("l{}", &github.subject[..8])).await;
        let token = signed_up["token"].as_str().unwrap().to_string();
        app.delete_auth("/api/auth/oauth/connections/github", &token).await.assert_error(409, "last_sign_in_method");

        // With Google linked, either one may go — but not both.
        idp.google_as(&Person::new("last"));
        let (code, state) = app.provider_code(&idp, "google").await;
        app.post_auth("/api/auth/oauth/google/link", &token, Some(json!({ "code": code, "state": state })))
            .await.assert_status(200);
        let (a, b) = tokio::join!(
            app.delete_auth("/api/auth/oauth/connections/github", &token),
            app.delete_auth("/api/auth/oauth/connections/google", &token),
        );
        let mut statuses = [a.status.as_u16(), b.status.as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{} / {}", a.body, b.body);
        let left = app.get_auth("/api/auth/oauth/connections", &token).await;
        assert_eq!(left.assert_status(200)["connections"].as_array().unwrap().len(), 1);

        // A password set through forgot-password is a way to sign in too.
        app.post("/api/auth/forgot-password", json!({ "email": github.email })).await.assert_status(200);
        let reset = app.token_from_mail(&github.email, "/reset-password").await;
        app.post("/api/auth/reset-password", json!({ "token": reset, "password": "a brand new secret" }))
            .await.assert_status(200);
        let session = app.login(&github.email, "a brand new secret", None).await;
        let token = session.assert_status(200)["token"].as_str().unwrap().to_string();
        let remaining = app.get_auth("/api/auth/oauth/connections", &token).await;
        let provider = remaining.assert_status(200)["connections"][0]["provider"].as_str().unwrap().to_string();
        app.delete_auth(&format!("/api/auth/oauth/connections/{provider}"), &token).await.assert_status(200);
    }

    async fn totp_is_asked_after_a_provider_too(backend) {
        let (app, idp) = TestApp::spawn_with_providers(backend).await;
        let person = Person::new("twofa");
        idp.github_as(&person);
        let signed_up = app.provider_sign_up(&idp, "github", &format!("t{}", &person.subject[..8])).await;
        let (secret, _) = app.enable_totp(signed_up["token"].as_str().unwrap()).await;
        app.next_totp_step();

        let (code, state) = app.provider_code(&idp, "github").await;
        let body = json!({ "code": code, "state": state });
        let resp = app.post("/api/auth/oauth/github/login", body.clone()).await;
        resp.assert_error(401, "totp_required");
        assert_eq!(resp.body["totp_required"], true);
        // The same request again with a wrong code, then the right one.
        let mut with_code = body.clone();
        with_code["totp_code"] = json!("000000");
        app.post("/api/auth/oauth/github/login", with_code.clone()).await.assert_error(401, "invalid_totp_code");
        with_code["totp_code"] = json!(app.totp_now(&secret));
        let signed_in = app.post("/api/auth/oauth/github/login", with_code.clone()).await;
        assert_eq!(signed_in.assert_status(200)["user"]["email"], person.email);
        // Spent.
        app.post("/api/auth/oauth/github/login", with_code).await.assert_error(400, "invalid_state");
    }

    async fn unconfigured_providers_and_bad_requests(backend) {
        let plain = TestApp::spawn(backend).await;
        let path = format!("/api/auth/oauth/google/authorize?redirect_uri={APP_REDIRECT}");
        plain.get(&path).await.assert_error(404, "provider_not_configured");
        plain.post("/api/auth/oauth/github/login", json!({ "code": "c", "state": "s" }))
            .await.assert_error(404, "provider_not_configured");

        let (app, _idp) = TestApp::spawn_with_providers(backend).await;
        app.get("/api/auth/oauth/facebook/authorize?redirect_uri=x").await.assert_error(404, "provider_not_configured");
        app.get("/api/auth/oauth/github/authorize?redirect_uri=https://evil.test/cb")
            .await.assert_error(400, "invalid_redirect_uri");
        app.get("/api/auth/oauth/github/authorize").await.assert_error(400, "validation_failed");
        app.post("/api/auth/oauth/github/login", json!({ "code": "", "state": "s" }))
            .await.assert_error(400, "validation_failed");
        app.post("/api/auth/oauth/complete-signup", json!({ "signup_token": "nope", "username": "fine_name" }))
            .await.assert_error(400, "invalid_signup_token");
        app.post("/api/auth/oauth/complete-signup", json!({ "signup_token": "nope", "username": "1bad" }))
            .await.assert_error(400, "validation_failed");
        // The hosted page's own callback is always a valid redirect URI.
        let own = format!("{}/signin/github/callback", app.state.config.oauth.issuer);
        let ok = app.get(&format!("/api/auth/oauth/github/authorize?redirect_uri={own}")).await;
        let url = ok.assert_status(200)["url"].as_str().unwrap().to_string();
        assert!(url.contains("code_challenge_method=S256"), "{url}");
    }

    async fn a_passwordless_account_must_set_a_password_for_password_checks(backend) {
        let (app, idp) = TestApp::spawn_with_providers(backend).await;
        let person = Person::new("nopw");
        idp.github_as(&person);
        let signed_up = app.provider_sign_up(&idp, "github", &format!("n{}", &person.subject[..8])).await;
        let token = signed_up["token"].as_str().unwrap();
        app.delete_with("/api/user/me", token, json!({ "password": "guess" }))
            .await.assert_error(400, "password_not_set");
    }

    async fn the_whole_story_signs_up_links_unlinks_and_remembers_a_device(backend) {
        let (app, idp) = TestApp::spawn_with_providers(backend).await;
        // Sign up with GitHub and choose a username.
        let github = Person::new("story");
        idp.github_as(&github);
        let username = format!("s{}", &github.subject[..8]);
        let signed_up = app.provider_sign_up(&idp, "github", &username).await;
        let token = signed_up["token"].as_str().unwrap().to_string();
        // Link Google, then unlink GitHub: Google alone signs in from now on (GitHub's address
        // is the account's, so GitHub is told to sign in and link instead).
        let google = Person::new("story");
        idp.google_as(&google);
        let (code, state) = app.provider_code(&idp, "google").await;
        app.post_auth("/api/auth/oauth/google/link", &token, Some(json!({ "code": code, "state": state })))
            .await.assert_status(200);
        app.delete_auth("/api/auth/oauth/connections/github", &token).await.assert_status(200);
        app.provider_login(&idp, "github").await.assert_error(409, "account_exists");
        // TOTP on; a Google sign-in with the code remembers this device.
        let (secret, _) = app.enable_totp(&token).await;
        app.next_totp_step();
        let (code, state) = app.provider_code(&idp, "google").await;
        let body = json!({ "code": code, "state": state, "totp_code": app.totp_now(&secret), "remember_device": true });
        let remembered = app.post("/api/auth/oauth/google/login", body).await;
        let remembered = remembered.assert_status(200).clone();
        assert_eq!(remembered["user"]["username"], username);
        let device = remembered["device_token"].as_str().expect("device_token").to_string();
        assert!(remembered["device_expires_at"].as_str().is_some());
        // Next time the device stands in for the code.
        let (code, state) = app.provider_code(&idp, "google").await;
        let again = app.post("/api/auth/oauth/google/login",
            json!({ "code": code, "state": state, "device_token": device })).await;
        assert_eq!(again.assert_status(200)["user"]["username"], username);
        let devices = app.get_auth("/api/auth/trusted-devices", &token).await;
        assert_eq!(devices.assert_status(200)["trusted_devices"].as_array().map(Vec::len), Some(1), "{}", devices.body);
        // Another user's device token is no stand-in.
        let other = app.new_verified_user().await;
        let other_token = app.login_ok(&other).await.token;
        let (other_secret, _) = app.enable_totp(&other_token).await;
        app.next_totp_step();
        let mine = app.post("/api/auth/login", json!({ "email": other.email, "password": other.password,
            "totp_code": app.totp_now(&other_secret), "remember_device": true })).await;
        let other_device = mine.assert_status(200)["device_token"].as_str().unwrap().to_string();
        let (code, state) = app.provider_code(&idp, "google").await;
        app.post("/api/auth/oauth/google/login", json!({ "code": code, "state": state, "device_token": other_device }))
            .await.assert_error(401, "totp_required");
    }
}
