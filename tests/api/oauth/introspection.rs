//! `POST /api/oauth/token/verify` (RFC 7662), revocation (RFC 7009) and the server metadata
//! (RFC 8414) with its public keys.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests! {
    async fn only_live_access_tokens_are_active(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let tokens = app.oauth_tokens(&session.token, &client, "profile:read").await;
        let active = app.introspect(&tokens.access_token).await;
        let body = active.assert_status(200);
        assert_eq!(body["active"], true);
        for field in ["app_id", "expires_at", "scopes", "user_id"] {
            assert!(!body[field].is_null(), "{field}: {body}");
        }
        for garbage in [
            "".to_string(), "garbage".to_string(), format!("bat_{}", "x".repeat(43)),
            tokens.refresh_token.clone(), tokens.session_token.clone().unwrap(), session.token.clone(), session.refresh_token.clone(),
            "bat_".repeat(40),
        ] {
            TestApp::assert_inactive(&app.introspect(&garbage).await);
        }
        // Form bodies, odd bodies: still 200.
        let form = app.client.post(app.url("/api/oauth/token/verify")).form(&[("token", tokens.access_token.as_str())]).send().await.unwrap();
        assert_eq!(TestApp::read(form).await.body["active"], true);
        let broken = app.post_raw("/api/oauth/token/verify", None, "{not json").await;
        TestApp::assert_inactive(&broken);
        // Expired: inactive, and it says so.
        app.clock.advance(3600);
        let expired = app.introspect(&tokens.access_token).await;
        TestApp::assert_inactive(&expired);
        assert_eq!(expired.body["reason"], "expired");
    }

    async fn a_password_reset_ends_every_oauth_token(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let tokens = app.oauth_tokens(&session.token, &client, "profile:read").await;
        app.post("/api/auth/forgot-password", json!({ "email": user.email })).await.assert_status(200);
        let reset = app.token_from_mail(&user.email, "/reset-password").await;
        app.post("/api/auth/reset-password", json!({ "token": reset, "password": "a brand new secret" })).await.assert_status(200);
        let revoked = app.introspect(&tokens.access_token).await;
        TestApp::assert_inactive(&revoked);
        assert_eq!(revoked.body["reason"], "revoked");
        assert_eq!(app.refresh_oauth(&client, &tokens.refresh_token).await.body["error"], "invalid_grant");
        // The connection stays; the app sends the user through authorize again.
        let fresh = app.login(&user.email, "a brand new secret", None).await;
        let token = fresh.assert_status(200)["token"].as_str().unwrap().to_string();
        let again = app.oauth_tokens(&token, &client, "profile:read").await;
        assert_eq!(app.introspect(&again.access_token).await.body["active"], true);
    }

    async fn a_deleted_user_keeps_no_working_token(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let user = app.new_user().await;
        let token = app.login_ok(&user).await.token;
        let tokens = app.oauth_tokens(&token, &client, "profile:read").await;
        // What deleting an account does to the user item (the account API removes it).
        app.state.table.write(vec![buddo_shared::store::WriteOp::delete(buddo_shared::keys::user(&user.id))]).await.unwrap();
        let gone = app.introspect(&tokens.access_token).await;
        TestApp::assert_inactive(&gone);
        assert_eq!(gone.body["reason"], "revoked");
        assert_eq!(app.refresh_oauth(&client, &tokens.refresh_token).await.body["error"], "invalid_grant");
    }

    async fn a_password_change_ends_every_oauth_token_too(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let user = app.new_user().await;
        let token = app.login_ok(&user).await.token;
        let tokens = app.oauth_tokens(&token, &client, "profile:read").await;
        app.post_auth("/api/auth/change-password", &token, Some(json!({ "current_password": user.password, "new_password": "another long secret" })))
            .await
            .assert_status(200);
        TestApp::assert_inactive(&app.introspect(&tokens.access_token).await);
    }

    async fn revocation_ends_tokens_of_the_calling_client_only(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let other = app.new_client(&["profile:read"], true).await;
        let token = app.login_ok(&app.new_user().await).await.token;
        let tokens = app.oauth_tokens(&token, &client, "profile:read").await;
        let revoke = |client: &crate::helpers::TestClient, token: &str| {
            app.client.post(app.url("/api/oauth/revoke"))
                .basic_auth(&client.client_id, Some(&client.client_secret))
                .form(&[("token", token.to_string())])
                .send()
        };
        // Another client: 200, and nothing happens.
        assert_eq!(revoke(&other, &tokens.access_token).await.unwrap().status(), 200);
        assert_eq!(app.introspect(&tokens.access_token).await.body["active"], true);
        // Its own access token: gone.
        assert_eq!(revoke(&client, &tokens.access_token).await.unwrap().status(), 200);
        TestApp::assert_inactive(&app.introspect(&tokens.access_token).await);
        // A refresh token takes its family with it.
        let more = app.oauth_tokens(&token, &client, "profile:read").await;
        assert_eq!(revoke(&client, &more.refresh_token).await.unwrap().status(), 200);
        TestApp::assert_inactive(&app.introspect(&more.access_token).await);
        assert_eq!(app.refresh_oauth(&client, &more.refresh_token).await.body["error"], "invalid_grant");
        // Unknown tokens: 200. A wrong secret: 401 invalid_client.
        assert_eq!(revoke(&client, "bat_unknown").await.unwrap().status(), 200);
        let bad = app.client.post(app.url("/api/oauth/revoke")).basic_auth(&client.client_id, Some("wrong")).form(&[("token", "x")]).send().await.unwrap();
        let bad = TestApp::read(bad).await;
        bad.assert_status(401);
        assert_eq!(bad.body["error"], "invalid_client");
    }

    async fn the_server_describes_itself(backend) {
        let app = TestApp::spawn(backend).await;
        let meta = TestApp::read(app.client.get(app.url("/.well-known/oauth-authorization-server")).send().await.unwrap()).await;
        let meta = meta.assert_status(200);
        let issuer = meta["issuer"].as_str().unwrap();
        assert_eq!(meta["token_endpoint"], format!("{issuer}/api/oauth/token"));
        assert_eq!(meta["introspection_endpoint"], format!("{issuer}/api/oauth/token/verify"));
        assert_eq!(meta["revocation_endpoint"], format!("{issuer}/api/oauth/revoke"));
        assert_eq!(meta["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(meta["grant_types_supported"], json!(["authorization_code", "refresh_token"]));
        let jwks = TestApp::read(app.client.get(app.url("/.well-known/jwks.json")).send().await.unwrap()).await;
        let keys = jwks.assert_status(200)["keys"].as_array().unwrap().clone();
        // The access-token key, then the ID-token keys (RS256, EdDSA).
        let algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
        assert_eq!(algs, ["EdDSA", "RS256", "EdDSA"]);
        assert_eq!(keys[0]["kty"], "OKP");
        assert_eq!(keys[1]["kty"], "RSA");
        assert_eq!(keys[1..], app.state.id_tokens.jwks_keys()[..]);
        let mut kids: Vec<&str> = keys.iter().map(|k| k["kid"].as_str().unwrap()).collect();
        kids.sort();
        kids.dedup();
        assert_eq!(kids.len(), 3, "each kid names one key");
        for key in &keys {
            for private in ["d", "p", "q", "dp", "dq", "qi"] {
                assert!(key.get(private).is_none(), "public keys only: {key}");
            }
        }
    }
}
