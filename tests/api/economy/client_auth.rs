//! Client authentication at the token endpoint: a confidential app proves itself with its
//! secret at every grant, a public app has none and never moves points, and junk naming a
//! client cannot lock the client out.

use buddo_shared::config::Limit;
use serde_json::json;

use crate::backend_tests;
use crate::helpers::{pkce, Resp, TestApp};

#[track_caller]
fn assert_oauth_error(resp: &Resp, status: u16, code: &str) {
    resp.assert_status(status);
    assert_eq!(resp.body["error"], code, "{}", resp.body);
    assert!(resp.body["error_description"].is_string(), "{}", resp.body);
}

/// A code exchange with only the public `client_id` and the verifier.
async fn exchange_without_secret(
    app: &TestApp,
    client_id: &str,
    redirect_uri: &str,
    code: &str,
    verifier: &str,
) -> Resp {
    app.token_form(&[
        ("grant_type", "authorization_code"),
        ("client_id", client_id),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", verifier),
    ])
    .await
}

/// A verified owner registers a public app (no secret).
async fn public_app(app: &TestApp, scopes: &[&str]) -> (Resp, String, String) {
    let owner = app.new_verified_user().await;
    let owner_token = app.login_ok(&owner).await.token;
    let redirect_uri = format!("https://{}.example/spa", uuid::Uuid::new_v4().simple());
    let resp = app
        .post_auth(
            "/api/oauth/apps",
            &owner_token,
            Some(json!({
                "app_name": "A single-page app",
                "redirect_uris": [redirect_uri],
                "allowed_scopes": scopes,
                "token_endpoint_auth_method": "none",
            })),
        )
        .await;
    (resp, owner_token, redirect_uri)
}

backend_tests! {
    async fn a_stolen_jwt_cannot_redeem_a_code_without_the_client_secret(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read", "points:transfer"], true).await;
        let victim = app.new_user().await;
        app.grant_points(&victim, 500).await;
        let attacker = app.new_user().await;
        // The attacker holds the victim's one-hour JWT and authorizes an approved app that
        // may transfer points.
        let stolen_jwt = app.login_ok(&victim).await.token;
        let (code, verifier) = app.code_for(&stolen_jwt, &client, "points:transfer").await;
        let resp = exchange_without_secret(&app, &client.client_id, &client.redirect_uri, &code, &verifier).await;
        assert_oauth_error(&resp, 401, "invalid_client");
        assert!(resp.headers.get("www-authenticate").is_some());
        let wrong = app.token_form(&[
            ("grant_type", "authorization_code"), ("client_id", &client.client_id), ("client_secret", "bcs_guess"),
            ("code", &code), ("redirect_uri", &client.redirect_uri), ("code_verifier", &verifier),
        ]).await;
        assert_oauth_error(&wrong, 401, "invalid_client");
        // Nothing moved; the code still belongs to whoever holds the secret.
        let (points, ledger) = app.balance_and_ledger(&victim.id).await;
        assert_eq!((points, ledger), (500, 500));
        let (attacker_points, _) = app.balance_and_ledger(&attacker.id).await;
        assert_eq!(attacker_points, 0);
        app.exchange(&client, &code, &verifier).await.assert_status(200);
        // A refresh without the secret is refused as well.
        let tokens = app.oauth_tokens(&stolen_jwt, &client, "profile:read").await;
        let refresh = app.token_form(&[("grant_type", "refresh_token"), ("client_id", &client.client_id), ("refresh_token", &tokens.refresh_token)]).await;
        assert_oauth_error(&refresh, 401, "invalid_client");
    }

    async fn public_clients_have_no_secret_and_never_move_points(backend) {
        let app = TestApp::spawn(backend).await;
        // Scopes that move points are refused for a public client, at registration…
        for scope in ["points:spend", "points:transfer"] {
            let (resp, _, _) = public_app(&app, &["profile:read", scope]).await;
            resp.assert_error(400, "validation_failed");
            assert!(resp.body["fields"]["allowed_scopes"].is_string(), "{}", resp.body);
        }
        let (resp, owner_token, redirect_uri) = public_app(&app, &["profile:read", "points:read"]).await;
        let created = resp.assert_status(201)["app"].clone();
        assert!(created.get("client_secret").is_none(), "no secret: {created}");
        assert_eq!(created["token_endpoint_auth_method"], "none");
        let id = created["id"].as_str().unwrap();
        let client_id = created["client_id"].as_str().unwrap();
        // …and on every later way in.
        let asked = app.post_auth(&format!("/api/oauth/my-apps/{id}/scope-request"), &owner_token, Some(json!({ "requested_scopes": ["points:transfer"] }))).await;
        asked.assert_error(400, "validation_failed");
        let changed = app.put_auth(&format!("/api/oauth/my-apps/{id}"), &owner_token, json!({ "allowed_scopes": ["profile:read", "points:spend"] })).await;
        changed.assert_error(400, "validation_failed");
        // PKCE is the public client's proof: the owner tests it with the client_id alone.
        let (verifier, challenge) = pkce();
        let authorized = app.authorize(&owner_token, &[
            ("client_id", client_id), ("response_type", "code"), ("redirect_uri", &redirect_uri),
            ("scope", "profile:read points:read"), ("code_challenge", &challenge), ("code_challenge_method", "S256"),
        ]).await;
        let code = authorized.assert_status(200)["code"].as_str().unwrap().to_string();
        let tokens = exchange_without_secret(&app, client_id, &redirect_uri, &code, &verifier).await;
        let refresh_token = tokens.assert_status(200)["refresh_token"].as_str().unwrap().to_string();
        let refreshed = app.token_form(&[("grant_type", "refresh_token"), ("client_id", client_id), ("refresh_token", &refresh_token)]).await;
        let refresh_token = refreshed.assert_status(200)["refresh_token"].as_str().unwrap().to_string();
        // A public client that sends a secret is not who it says.
        let with_secret = app.token_form(&[("grant_type", "refresh_token"), ("client_id", client_id), ("client_secret", "bcs_made_up"), ("refresh_token", &refresh_token)]).await;
        assert_oauth_error(&with_secret, 401, "invalid_client");
        // The metadata lists the methods.
        let meta = app.get("/.well-known/oauth-authorization-server").await;
        assert_eq!(meta.assert_status(200)["token_endpoint_auth_methods_supported"], json!(["client_secret_basic", "client_secret_post", "none"]));
        // A bad method is named.
        let owner = app.new_verified_user().await;
        let token = app.login_ok(&owner).await.token;
        let bad = app.post_auth("/api/oauth/apps", &token, Some(json!({ "app_name": "x", "redirect_uris": ["https://x.example/cb"], "token_endpoint_auth_method": "private_key_jwt" }))).await;
        bad.assert_error(400, "validation_failed");
        assert!(bad.body["fields"]["token_endpoint_auth_method"].is_string(), "{}", bad.body);
    }

    async fn junk_naming_a_client_blocks_only_its_sender(backend) {
        let app = TestApp::spawn_behind_proxy(backend, |c| {
            c.rate_limits.token_endpoint = Limit::new(6, 60);
            c.rate_limits.client_auth_failures = Limit::new(3, 60);
        }).await;
        let client = app.new_client(&["profile:read"], true).await;
        let user_token = app.login_ok(&app.new_user().await).await.token;
        // 60 junk requests from one address, naming the client: three count as failures,
        // the rest are refused with 429 in the OAuth shape.
        let junk = |i: usize| {
            let req = app.client.post(app.url("/api/oauth/token"))
                .header("x-forwarded-for", "203.0.113.7")
                .form(&[("grant_type", "refresh_token"), ("client_id", client.client_id.as_str()), ("client_secret", &format!("bcs_junk{i}")), ("refresh_token", "brt_junk")]);
            async move { TestApp::read(req.send().await.unwrap()).await }
        };
        let answers = futures::future::join_all((0..60).map(junk)).await;
        let refused: Vec<&Resp> = answers.iter().filter(|r| r.status == 429).collect();
        assert_eq!(answers.iter().filter(|r| r.status == 401).count(), 3);
        assert_eq!(refused.len(), 57);
        assert_oauth_error(refused[0], 429, "rate_limited");
        assert!(refused[0].headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
        // The client itself is not blocked: its exchanges and refreshes go through, up to its
        // own limit of authenticated requests.
        let mut refresh = None;
        for _ in 0..3 {
            let tokens = app.oauth_tokens(&user_token, &client, "profile:read").await;
            refresh = Some(tokens.refresh_token);
        }
        let mut refresh = refresh.unwrap();
        for _ in 0..3 {
            let resp = app.refresh_oauth(&client, &refresh).await;
            refresh = resp.assert_status(200)["refresh_token"].as_str().unwrap().to_string();
        }
        let over = app.refresh_oauth(&client, &refresh).await;
        assert_oauth_error(&over, 429, "rate_limited");
        assert!(over.headers.get("retry-after").is_some());
    }

    async fn a_public_clients_traffic_counts_per_address(backend) {
        let app = TestApp::spawn_behind_proxy(backend, |c| c.rate_limits.token_endpoint = Limit::new(2, 60)).await;
        let (resp, owner_token, redirect_uri) = public_app(&app, &["profile:read"]).await;
        let client_id = resp.assert_status(201)["app"]["client_id"].as_str().unwrap().to_string();
        // Anyone can name a public client: one address spending its limit does not stop
        // another.
        let from = |ip: &'static str| {
            let req = app.client.post(app.url("/api/oauth/token"))
                .header("x-forwarded-for", ip)
                .form(&[("grant_type", "refresh_token"), ("client_id", client_id.as_str()), ("refresh_token", "brt_unknown")]);
            async move { TestApp::read(req.send().await.unwrap()).await }
        };
        for _ in 0..2 {
            assert_oauth_error(&from("198.51.100.1").await, 400, "invalid_grant");
        }
        assert_oauth_error(&from("198.51.100.1").await, 429, "rate_limited");
        let (verifier, challenge) = pkce();
        let authorized = app.authorize(&owner_token, &[
            ("client_id", &client_id), ("response_type", "code"), ("redirect_uri", &redirect_uri),
            ("code_challenge", &challenge), ("code_challenge_method", "S256"),
        ]).await;
        let code = authorized.assert_status(200)["code"].as_str().unwrap().to_string();
        exchange_without_secret(&app, &client_id, &redirect_uri, &code, &verifier).await.assert_status(200);
    }
}
