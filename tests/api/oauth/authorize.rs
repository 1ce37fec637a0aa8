//! `GET /api/oauth/authorize`: PKCE S256 only, exact redirect URIs, scopes within the app's,
//! unapproved apps for their owner only.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{assert_keys, pkce, TestApp};

backend_tests! {
    async fn a_code_comes_back_with_the_state_unchanged(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read", "points:read"], true).await;
        let user = app.new_user().await;
        let token = app.login_ok(&user).await.token;
        let (_, challenge) = pkce();
        let resp = app.authorize(&token, &[
            ("client_id", &client.client_id), ("response_type", "code"), ("redirect_uri", &client.redirect_uri),
            ("scope", "profile:read"), ("state", "a b&c=d/é"), ("code_challenge", &challenge), ("code_challenge_method", "S256"),
        ]).await;
        let body = resp.assert_status(200);
        assert_keys(body, &["code", "expires_in", "redirect_uri", "state"]);
        assert_eq!(body["expires_in"], 600);
        assert_eq!(body["redirect_uri"], client.redirect_uri.as_str());
        assert_eq!(body["state"], "a b&c=d/é");
        // One registered URI and none sent: that one.
        let resp = app.authorize(&token, &[
            ("client_id", &client.client_id), ("response_type", "code"),
            ("code_challenge", &challenge), ("code_challenge_method", "S256"),
        ]).await;
        assert_eq!(resp.assert_status(200)["redirect_uri"], client.redirect_uri.as_str());
        assert!(resp.body.get("state").is_none());
        // The user JWT is required.
        let anonymous = TestApp::read(app.client.get(app.url("/api/oauth/authorize")).query(&[("client_id", &client.client_id)]).send().await.unwrap()).await;
        anonymous.assert_error(401, "invalid_token");
    }

    async fn pkce_is_required_and_only_s256(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], true).await;
        let token = app.login_ok(&app.new_user().await).await.token;
        let (verifier, challenge) = pkce();
        let base = |extra: Vec<(&'static str, String)>| {
            let mut q = vec![("client_id", client.client_id.clone()), ("response_type", "code".to_string()), ("redirect_uri", client.redirect_uri.clone())];
            q.extend(extra);
            q
        };
        for query in [
            base(vec![]),
            base(vec![("code_challenge", challenge.clone())]),
            base(vec![("code_challenge", challenge.clone()), ("code_challenge_method", "plain".into())]),
            base(vec![("code_challenge", verifier.clone()), ("code_challenge_method", "plain".into())]),
            base(vec![("code_challenge", "too-short".into()), ("code_challenge_method", "S256".into())]),
        ] {
            let q: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.authorize(&token, &q).await.assert_error(400, "invalid_request");
        }
        let q = base(vec![("code_challenge", challenge.clone()), ("code_challenge_method", "S256".into()), ("response_type", "token".into())]);
        let mut q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
        q.retain(|(k, v)| *k != "response_type" || *v == "token");
        app.authorize(&token, &q).await.assert_error(400, "unsupported_response_type");
    }

    async fn redirect_uris_must_match_exactly(backend) {
        let app = TestApp::spawn(backend).await;
        let owner = app.new_verified_user().await;
        let owner_token = app.login_ok(&owner).await.token;
        let registered = "https://app.example/oauth/callback";
        let resp = app.post_auth("/api/oauth/apps", &owner_token, Some(json!({
            "app_name": "Exact", "redirect_uris": [registered, "http://127.0.0.1:8080/cb"],
        }))).await;
        let client_id = resp.assert_status(201)["app"]["client_id"].as_str().unwrap().to_string();
        let (_, challenge) = pkce();
        let attempt = |redirect: Option<&'static str>| {
            let client_id = client_id.clone();
            let challenge = challenge.clone();
            let owner_token = owner_token.clone();
            let app = &app;
            async move {
                let mut q = vec![("client_id", client_id.as_str()), ("response_type", "code"), ("code_challenge", challenge.as_str()), ("code_challenge_method", "S256")];
                if let Some(r) = redirect {
                    q.push(("redirect_uri", r));
                }
                app.authorize(&owner_token, &q).await
            }
        };
        for evil in [
            "https://APP.example/oauth/callback",
            "https://app.example/oauth/callback/",
            "https://app.example/oauth/callback/extra",
            "https://app.example:8443/oauth/callback",
            "http://app.example/oauth/callback",
            "https://app.example@evil.example/oauth/callback",
            "https://evil.example@app.example/oauth/callback",
            "https://app.example/oauth/callback/..;/",
            "https://app.example/oauth/%2e%2e/oauth/callback",
            "https://app.example/oauth/callback#frag",
            "https://app.example.evil/oauth/callback",
            "http://localhost.evil:8080/cb",
            "http://127.0.0.1:8081/cb",
            "https://app.example/oauth/callback?next=https://evil.example",
        ] {
            let resp = attempt(Some(evil)).await;
            resp.assert_error(400, "invalid_redirect_uri");
            assert!(resp.body.get("code").is_none());
        }
        // Two registered and none sent: the app must say which.
        attempt(None).await.assert_error(400, "invalid_redirect_uri");
        attempt(Some(registered)).await.assert_status(200);
        attempt(Some("http://127.0.0.1:8080/cb")).await.assert_status(200);
        // Nothing was issued for the refused ones: one grant, and the two codes above.
        let grants = app.get_auth("/api/user/connected-apps", &owner_token).await;
        assert_eq!(grants.body["connected_apps"].as_array().unwrap().len(), 1);
    }

    async fn scopes_must_be_allowed_for_the_app(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read", "points:read"], true).await;
        let token = app.login_ok(&app.new_user().await).await.token;
        let (_, challenge) = pkce();
        for scope in ["points:spend", "profile:read points:transfer", "nonsense", "deploy:manage"] {
            app.authorize(&token, &[
                ("client_id", &client.client_id), ("response_type", "code"), ("scope", scope),
                ("code_challenge", &challenge), ("code_challenge_method", "S256"),
            ]).await.assert_error(400, "invalid_scope");
        }
        app.authorize(&token, &[
            ("client_id", "bci_unknown"), ("response_type", "code"),
            ("code_challenge", &challenge), ("code_challenge_method", "S256"),
        ]).await.assert_error(400, "invalid_client");
    }

    async fn an_unapproved_app_is_only_for_its_owner(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], false).await;
        let stranger = app.login_ok(&app.new_user().await).await.token;
        let (_, challenge) = pkce();
        let query = [
            ("client_id", client.client_id.as_str()), ("response_type", "code"),
            ("code_challenge", challenge.as_str()), ("code_challenge_method", "S256"),
        ];
        app.authorize(&stranger, &query).await.assert_error(403, "app_not_approved");
        app.authorize(&client.owner_token, &query).await.assert_status(200);
    }
}
