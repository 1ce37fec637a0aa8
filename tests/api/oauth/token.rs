//! `POST /api/oauth/token`: code exchange with PKCE, refresh rotation, client authentication,
//! RFC 6749 §5.2 errors, replays and races.

use base64::Engine;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{assert_keys, pkce, TestApp};

#[track_caller]
fn assert_oauth_error(resp: &crate::helpers::Resp, status: u16, code: &str) {
    resp.assert_status(status);
    assert_eq!(resp.body["error"], code, "{}", resp.body);
    assert!(resp.body["error_description"].is_string(), "{}", resp.body);
    assert_eq!(resp.headers["cache-control"], "no-store");
}

backend_tests! {
    async fn a_code_becomes_tokens_and_a_session(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read", "points:read"], true).await;
        let user = app.new_user().await;
        let token = app.login_ok(&user).await.token;
        let (code, verifier) = app.code_for(&token, &client, "profile:read points:read").await;
        let resp = app.exchange(&client, &code, &verifier).await;
        let body = resp.assert_status(200);
        assert_keys(body, &["access_token", "expires_in", "refresh_token", "scope", "session_token", "session_token_expires_at", "token_type"]);
        assert_eq!(body["token_type"], "Bearer");
        assert_eq!(body["expires_in"], 3600);
        assert_eq!(body["scope"], "profile:read points:read");
        assert_eq!(resp.headers["cache-control"], "no-store");
        assert_eq!(resp.headers["pragma"], "no-cache");
        assert!(time::OffsetDateTime::parse(body["session_token_expires_at"].as_str().unwrap(), &time::format_description::well_known::Rfc3339).is_ok());
        let active = app.introspect(body["access_token"].as_str().unwrap()).await;
        assert_eq!(active.assert_status(200)["active"], true);
        assert_eq!(active.body["user_id"], user.id.as_str());
        assert_eq!(active.body["app_id"], client.id.as_str());
        assert_eq!(active.body["scopes"], json!(["profile:read", "points:read"]));
        // The user's stats count the connected app.
        assert_eq!(app.me(&token).await.body["user"]["stats"]["connected_apps"], 1);
    }

    async fn json_bodies_and_basic_auth_work_too(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let token = app.login_ok(&app.new_user().await).await.token;
        // The reference's JSON body.
        let (code, verifier) = app.code_for(&token, &client, "profile:read").await;
        let resp = app.post("/api/oauth/token", json!({
            "grant_type": "authorization_code", "client_id": client.client_id, "client_secret": client.client_secret,
            "code": code, "code_verifier": verifier, "redirect_uri": client.redirect_uri,
        })).await;
        let refresh = resp.assert_status(200)["refresh_token"].as_str().unwrap().to_string();
        // HTTP Basic with form-encoded credentials (RFC 6749 §2.3.1), no secret in the body.
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", client.client_id, client.client_secret));
        let resp = app.client.post(app.url("/api/oauth/token"))
            .header("authorization", format!("Basic {basic}"))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())])
            .send().await.unwrap();
        let resp = TestApp::read(resp).await;
        resp.assert_status(200);
        assert!(resp.body.get("session_token").is_none(), "only code grants open a session");
        // Two ways of authenticating at once: refused.
        let refresh = resp.body["refresh_token"].as_str().unwrap();
        let both = app.client.post(app.url("/api/oauth/token"))
            .header("authorization", format!("Basic {basic}"))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh), ("client_secret", client.client_secret.as_str())])
            .send().await.unwrap();
        assert_oauth_error(&TestApp::read(both).await, 400, "invalid_request");
        // Neither form nor JSON.
        let plain = app.client.post(app.url("/api/oauth/token")).header("content-type", "text/plain").body("grant_type=refresh_token").send().await.unwrap();
        assert_oauth_error(&TestApp::read(plain).await, 400, "invalid_request");
    }

    async fn pkce_verifiers_must_match(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let token = app.login_ok(&app.new_user().await).await.token;
        let (code, verifier) = app.code_for(&token, &client, "profile:read").await;
        let (other_code, other_verifier) = app.code_for(&token, &client, "profile:read").await;
        let exchange = |code: &str, verifier: &str| {
            app.token_form_owned(vec![
                ("grant_type", "authorization_code".into()), ("client_id", client.client_id.clone()),
                ("client_secret", client.client_secret.clone()), ("code", code.into()),
                ("redirect_uri", client.redirect_uri.clone()), ("code_verifier", verifier.into()),
            ])
        };
        let (wrong, _) = pkce();
        assert_oauth_error(&exchange(&code, &wrong).await, 400, "invalid_grant");
        assert_oauth_error(&exchange(&code, &other_verifier).await, 400, "invalid_grant");
        assert_oauth_error(&exchange(&code, "").await, 400, "invalid_request");
        assert_oauth_error(&exchange(&code, "short").await, 400, "invalid_request");
        // The secret does not replace the verifier.
        let no_verifier = app.token_form(&[
            ("grant_type", "authorization_code"), ("client_id", &client.client_id), ("client_secret", &client.client_secret),
            ("code", &code), ("redirect_uri", &client.redirect_uri),
        ]).await;
        assert_oauth_error(&no_verifier, 400, "invalid_request");
        // Failed attempts did not use the codes up.
        exchange(&code, &verifier).await.assert_status(200);
        exchange(&other_code, &other_verifier).await.assert_status(200);
        // A confidential client must send its secret with the right verifier too
        // (tests/api/economy/client_auth.rs has public clients).
        let (code, verifier) = app.code_for(&token, &client, "profile:read").await;
        let unauthenticated = app.token_form(&[
            ("grant_type", "authorization_code"), ("client_id", &client.client_id),
            ("code", &code), ("redirect_uri", &client.redirect_uri), ("code_verifier", &verifier),
        ]).await;
        assert_oauth_error(&unauthenticated, 401, "invalid_client");
        exchange(&code, &verifier).await.assert_status(200);
    }

    async fn a_code_works_once_and_a_replay_revokes_what_it_gave(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let token = app.login_ok(&app.new_user().await).await.token;
        let (code, verifier) = app.code_for(&token, &client, "profile:read").await;
        let first = app.exchange(&client, &code, &verifier).await;
        let access = first.assert_status(200)["access_token"].as_str().unwrap().to_string();
        let refresh = first.body["refresh_token"].as_str().unwrap().to_string();
        assert_oauth_error(&app.exchange(&client, &code, &verifier).await, 400, "invalid_grant");
        TestApp::assert_inactive(&app.introspect(&access).await);
        assert_oauth_error(&app.refresh_oauth(&client, &refresh).await, 400, "invalid_grant");
        // Expired codes are dead too.
        let (code, verifier) = app.code_for(&token, &client, "profile:read").await;
        app.clock.advance(601);
        assert_oauth_error(&app.exchange(&client, &code, &verifier).await, 400, "invalid_grant");
    }

    async fn a_code_redeemed_twice_at_once_gives_nothing_that_lasts(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let token = app.login_ok(&app.new_user().await).await.token;
        let (code, verifier) = app.code_for(&token, &client, "profile:read").await;
        let results = futures::future::join_all((0..4).map(|_| app.exchange(&client, &code, &verifier))).await;
        let won: Vec<_> = results.iter().filter(|r| r.status == 200).collect();
        assert_eq!(won.len(), 1, "{:?}", results.iter().map(|r| &r.body).collect::<Vec<_>>());
        for r in results.iter().filter(|r| r.status != 200) {
            assert_oauth_error(r, 400, "invalid_grant");
        }
        // The losers' replays revoked the winner's tokens.
        TestApp::assert_inactive(&app.introspect(won[0].body["access_token"].as_str().unwrap()).await);
    }

    async fn codes_are_bound_to_their_client_and_redirect_uri(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let other = app.new_client(&["profile:read"], true).await;
        let token = app.login_ok(&app.new_user().await).await.token;
        let (code, verifier) = app.code_for(&token, &client, "profile:read").await;
        let stolen = app.token_form(&[
            ("grant_type", "authorization_code"), ("client_id", &other.client_id), ("client_secret", &other.client_secret),
            ("code", &code), ("redirect_uri", &client.redirect_uri), ("code_verifier", &verifier),
        ]).await;
        assert_oauth_error(&stolen, 400, "invalid_grant");
        let elsewhere = app.token_form(&[
            ("grant_type", "authorization_code"), ("client_id", &client.client_id), ("client_secret", &client.client_secret),
            ("code", &code), ("redirect_uri", "https://elsewhere.example/cb"), ("code_verifier", &verifier),
        ]).await;
        assert_oauth_error(&elsewhere, 400, "invalid_grant");
        app.exchange(&client, &code, &verifier).await.assert_status(200);
    }

    async fn clients_must_authenticate(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let token = app.login_ok(&app.new_user().await).await.token;
        let tokens = app.oauth_tokens(&token, &client, "profile:read").await;
        let (code, verifier) = app.code_for(&token, &client, "profile:read").await;
        let wrong_secret = app.token_form(&[
            ("grant_type", "authorization_code"), ("client_id", &client.client_id), ("client_secret", "bcs_wrong"),
            ("code", &code), ("redirect_uri", &client.redirect_uri), ("code_verifier", &verifier),
        ]).await;
        assert_oauth_error(&wrong_secret, 401, "invalid_client");
        assert!(wrong_secret.headers["www-authenticate"].to_str().unwrap().starts_with("Basic"));
        let unknown = app.token_form(&[("grant_type", "refresh_token"), ("client_id", "bci_nobody"), ("client_secret", "x"), ("refresh_token", &tokens.refresh_token)]).await;
        assert_oauth_error(&unknown, 401, "invalid_client");
        // Refreshing needs the secret.
        let no_secret = app.token_form(&[("grant_type", "refresh_token"), ("client_id", &client.client_id), ("refresh_token", &tokens.refresh_token)]).await;
        assert_oauth_error(&no_secret, 401, "invalid_client");
        let bad_basic = app.client.post(app.url("/api/oauth/token")).header("authorization", "Basic !!!").form(&[("grant_type", "refresh_token")]).send().await.unwrap();
        assert_oauth_error(&TestApp::read(bad_basic).await, 401, "invalid_client");
        for grant in ["password", "client_credentials", "implicit", "urn:ietf:params:oauth:grant-type:device_code"] {
            let resp = app.token_form(&[("grant_type", grant), ("client_id", &client.client_id), ("client_secret", &client.client_secret)]).await;
            assert_oauth_error(&resp, 400, "unsupported_grant_type");
        }
        assert_oauth_error(&app.token_form(&[("client_id", &client.client_id)]).await, 400, "invalid_request");
        assert_oauth_error(&app.token_form(&[("grant_type", "refresh_token")]).await, 400, "invalid_request");
    }

    async fn refresh_rotates_and_reuse_revokes_the_family(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read", "points:read"], true).await;
        let token = app.login_ok(&app.new_user().await).await.token;
        let first = app.oauth_tokens(&token, &client, "profile:read points:read").await;
        let second = app.refresh_oauth(&client, &first.refresh_token).await;
        let second_access = second.assert_status(200)["access_token"].as_str().unwrap().to_string();
        let second_refresh = second.body["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(second_refresh, first.refresh_token);
        assert_eq!(app.introspect(&second_access).await.body["active"], true);
        // The old refresh token again: the whole family dies.
        assert_oauth_error(&app.refresh_oauth(&client, &first.refresh_token).await, 400, "invalid_grant");
        TestApp::assert_inactive(&app.introspect(&second_access).await);
        TestApp::assert_inactive(&app.introspect(&first.access_token).await);
        assert_oauth_error(&app.refresh_oauth(&client, &second_refresh).await, 400, "invalid_grant");
        // Another authorization's family is untouched.
        let other = app.oauth_tokens(&token, &client, "profile:read").await;
        assert_eq!(app.introspect(&other.access_token).await.body["active"], true);
    }

    async fn parallel_refreshes_succeed_at_most_once(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let token = app.login_ok(&app.new_user().await).await.token;
        let tokens = app.oauth_tokens(&token, &client, "profile:read").await;
        let results = futures::future::join_all((0..5).map(|_| app.refresh_oauth(&client, &tokens.refresh_token))).await;
        let ok: Vec<_> = results.iter().filter(|r| r.status == 200).collect();
        assert!(ok.len() <= 1, "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
        for r in results.iter().filter(|r| r.status != 200) {
            assert_oauth_error(r, 400, "invalid_grant");
        }
        // A race is a reuse: whatever won is revoked with the family.
        for r in ok {
            TestApp::assert_inactive(&app.introspect(r.body["access_token"].as_str().unwrap()).await);
        }
    }

    async fn a_refresh_cannot_widen_the_scopes(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read", "points:read"], true).await;
        let token = app.login_ok(&app.new_user().await).await.token;
        let tokens = app.oauth_tokens(&token, &client, "profile:read").await;
        let wider = app.token_form(&[
            ("grant_type", "refresh_token"), ("client_id", &client.client_id), ("client_secret", &client.client_secret),
            ("refresh_token", &tokens.refresh_token), ("scope", "profile:read points:read"),
        ]).await;
        assert_oauth_error(&wider, 400, "invalid_scope");
        let same = app.token_form(&[
            ("grant_type", "refresh_token"), ("client_id", &client.client_id), ("client_secret", &client.client_secret),
            ("refresh_token", &tokens.refresh_token), ("scope", "profile:read"),
        ]).await;
        assert_eq!(same.assert_status(200)["scope"], "profile:read");
        // Another client cannot refresh it.
        let other = app.new_client(&["profile:read"], true).await;
        assert_oauth_error(&app.refresh_oauth(&other, same.body["refresh_token"].as_str().unwrap()).await, 400, "invalid_grant");
    }

    async fn the_token_endpoint_is_limited_per_client(backend) {
        let app = TestApp::spawn_with(backend, |c| c.rate_limits.token_endpoint = buddo_shared::config::Limit::new(3, 60)).await;
        let client = app.new_client(&["profile:read"], true).await;
        for _ in 0..3 {
            app.refresh_oauth(&client, "brt_nothing").await.assert_status(400);
        }
        let limited = app.refresh_oauth(&client, "brt_nothing").await;
        limited.assert_status(429);
        assert!(limited.headers.get("retry-after").is_some());
        let other = app.new_client(&["profile:read"], true).await;
        app.refresh_oauth(&other, "brt_nothing").await.assert_status(400);
    }
}
