//! Buddo as an OpenID Connect provider: discovery, ID tokens and their claims, userinfo,
//! pushed authorization requests, RP-initiated logout.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests! {
    async fn discovery_names_the_hosted_pages_and_this_issuer(backend) {
        let app = TestApp::spawn(backend).await;
        let issuer = format!("http://{}", app.addr);
        let oidc = app.get("/.well-known/openid-configuration").await;
        let oidc = oidc.assert_status(200).clone();
        let rfc8414 = app.get("/.well-known/oauth-authorization-server").await;
        assert_eq!(&oidc, rfc8414.assert_status(200), "one document");
        assert_eq!(oidc["issuer"], issuer.as_str());
        assert_eq!(oidc["authorization_endpoint"], format!("{issuer}/oauth/authorize"));
        assert_eq!(oidc["userinfo_endpoint"], format!("{issuer}/oauth/userinfo"));
        assert_eq!(oidc["end_session_endpoint"], format!("{issuer}/oauth/logout"));
        assert_eq!(oidc["pushed_authorization_request_endpoint"], format!("{issuer}/oauth/par"));
        assert_eq!(oidc["id_token_signing_alg_values_supported"], json!(["RS256", "EdDSA"]));
        assert_eq!(oidc["subject_types_supported"], json!(["public"]));
        assert_eq!(oidc["authorization_response_iss_parameter_supported"], true);
        assert_eq!(oidc["token_endpoint_auth_methods_supported"], json!(["client_secret_basic", "client_secret_post", "none"]));
        for scope in ["openid", "profile", "email"] {
            assert!(oidc["scopes_supported"].as_array().unwrap().contains(&json!(scope)));
        }
    }

    async fn the_code_exchange_answers_an_id_token_with_the_sign_in(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["openid", "profile", "email"], true).await;
        let user = app.new_verified_user().await;
        let token = app.login_ok(&user).await.token;
        let (secret, _) = app.enable_totp(&token).await;
        app.next_totp_step();
        let browser = app.browser();
        let page = browser.get("/signin").await;
        let step = browser.submit(&page, &[("email", &user.email), ("password", &user.password)]).await;
        let code_page = browser.get(step.location.as_deref().unwrap()).await;
        browser.submit(&code_page, &[("code", &app.totp_now(&secret))]).await;
        let signed_in_at = app.state.now_unix();
        app.clock.advance(5);

        let request = app.authorization(&client, "openid profile email", &[]);
        let params = app.browser_code(&browser, &request).await;
        let body = app.exchange(&client, &params["code"], &request.verifier).await;
        let body = body.assert_status(200).clone();
        assert_eq!(body["scope"], "openid profile email");
        let (claims, alg) = app.id_token_claims(body["id_token"].as_str().expect("an id_token")).await;
        assert_eq!(alg, "RS256", "the default");
        assert_eq!(claims["iss"], format!("http://{}", app.addr));
        assert_eq!(claims["sub"], user.id.as_str());
        assert_eq!(claims["aud"], client.client_id.as_str());
        assert_eq!(claims["nonce"], request.nonce.as_str());
        assert_eq!(claims["auth_time"], signed_in_at);
        assert_eq!(claims["amr"], json!(["pwd", "otp", "mfa"]));
        assert!(claims["sid"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
        assert_eq!(claims["email"], user.email.as_str());
        assert_eq!(claims["email_verified"], true);
        assert_eq!(claims["preferred_username"], user.username.as_str());
        assert_eq!(claims["name"], user.username.as_str());
        assert!(claims["updated_at"].is_i64());
        // Only the claims of the granted scopes.
        let narrow = app.authorization(&client, "openid", &[]);
        let params = app.browser_code(&browser, &narrow).await;
        let body = app.exchange(&client, &params["code"], &narrow.verifier).await;
        let (claims, _) = app.id_token_claims(body.assert_status(200)["id_token"].as_str().unwrap()).await;
        assert!(claims.get("email").is_none() && claims.get("preferred_username").is_none(), "{claims}");
        assert_eq!(claims["nonce"], narrow.nonce.as_str(), "each authorization its own nonce");
        // Without openid: no ID token at all.
        let plain = app.new_client(&["profile:read"], true).await;
        let request = app.authorization(&plain, "profile:read", &[]);
        let params = app.browser_code(&browser, &request).await;
        let body = app.exchange(&plain, &params["code"], &request.verifier).await;
        assert!(body.assert_status(200).get("id_token").is_none());
    }

    async fn an_app_may_ask_for_eddsa_id_tokens(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client_with(&["openid"], true, json!({ "id_token_signed_response_alg": "EdDSA" })).await;
        let rs = app.new_client(&["openid"], true).await;
        let user = app.new_user().await;
        let browser = app.signed_in_browser(&user).await;
        let mut kids = Vec::new();
        for client in [&client, &rs] {
            let request = app.authorization(client, "openid", &[]);
            let params = app.browser_code(&browser, &request).await;
            let body = app.exchange(client, &params["code"], &request.verifier).await;
            let id_token = body.assert_status(200)["id_token"].as_str().unwrap().to_string();
            let (claims, alg) = app.id_token_claims(&id_token).await;
            assert_eq!(claims["amr"], json!(["pwd"]));
            kids.push((alg, jsonwebtoken::decode_header(&id_token).unwrap().kid.unwrap()));
        }
        assert_eq!(kids[0].0, "EdDSA");
        assert_eq!(kids[1].0, "RS256");
        assert_ne!(kids[0].1, kids[1].1, "distinct kids");
        let refused = app.post_auth("/api/oauth/apps", &client.owner_token, Some(json!({
            "app_name": "x", "redirect_uris": ["https://x.example/cb"], "id_token_signed_response_alg": "HS256",
        }))).await;
        refused.assert_error(400, "validation_failed");
    }

    async fn userinfo_tells_the_claims_of_the_token_scopes(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["openid", "email", "profile:read"], true).await;
        let user = app.new_user().await;
        let browser = app.signed_in_browser(&user).await;
        let request = app.authorization(&client, "openid email", &[]);
        let params = app.browser_code(&browser, &request).await;
        let body = app.exchange(&client, &params["code"], &request.verifier).await;
        let access = body.assert_status(200)["access_token"].as_str().unwrap().to_string();
        for info in [app.get_auth("/oauth/userinfo", &access).await, app.post_auth("/oauth/userinfo", &access, None).await] {
            let info = info.assert_status(200);
            assert_eq!(info["sub"], user.id.as_str());
            assert_eq!(info["email"], user.email.as_str());
            assert_eq!(info["email_verified"], false);
            assert!(info.get("preferred_username").is_none(), "no profile scope");
        }
        // A token without openid: 403 with the RFC 6750 challenge.
        let request = app.authorization(&client, "profile:read", &[]);
        let params = app.browser_code(&browser, &request).await;
        let body = app.exchange(&client, &params["code"], &request.verifier).await;
        let other = body.assert_status(200)["access_token"].as_str().unwrap().to_string();
        let resp = app.client.get(app.url("/oauth/userinfo")).bearer_auth(&other).send().await.unwrap();
        assert_eq!(resp.status(), 403);
        assert_eq!(resp.headers()["www-authenticate"], "Bearer error=\"insufficient_scope\", scope=\"openid\"");
        let resp = app.client.get(app.url("/oauth/userinfo")).bearer_auth("bat_nothing").send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert!(resp.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    }

    async fn pushed_requests_are_used_once_and_may_be_required(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client_with(&["openid"], true, json!({ "require_pushed_authorization_requests": true })).await;
        let user = app.new_user().await;
        let browser = app.signed_in_browser(&user).await;
        // Sent directly: refused at the redirect URI.
        let direct = app.authorization(&client, "openid", &[]);
        let answer = browser.get(&direct.path).await;
        assert_eq!(answer.location_params()["error"], "invalid_request");
        assert_eq!(answer.location_params()["state"], direct.state);

        let (verifier, challenge) = crate::helpers::pkce();
        let form = [
            ("response_type", "code"), ("redirect_uri", client.redirect_uri.as_str()), ("scope", "openid"),
            ("state", "s1"), ("nonce", "n1"), ("code_challenge", challenge.as_str()), ("code_challenge_method", "S256"),
        ];
        let wrong = app.client.post(app.url("/oauth/par")).basic_auth(&client.client_id, Some("bcs_wrong")).form(&form).send().await.unwrap();
        assert_eq!(wrong.status(), 401);
        let pushed = app.client.post(app.url("/oauth/par")).basic_auth(&client.client_id, Some(&client.client_secret)).form(&form).send().await.unwrap();
        assert_eq!(pushed.status(), 201);
        let pushed: serde_json::Value = pushed.json().await.unwrap();
        let request_uri = pushed["request_uri"].as_str().unwrap();
        assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));
        assert!(pushed["expires_in"].as_i64().unwrap() > 0);
        let path = format!("/oauth/authorize?client_id={}&request_uri={}", client.client_id, url::form_urlencoded::byte_serialize(request_uri.as_bytes()).collect::<String>());
        let consent = browser.get(&path).await;
        assert_eq!(consent.status, 200, "{}", consent.body);
        let answer = browser.submit(&consent, &[("decision", "allow")]).await;
        let params = answer.location_params();
        assert_eq!(params["state"], "s1");
        let body = app.exchange(&client, &params["code"], &verifier).await;
        let (claims, _) = app.id_token_claims(body.assert_status(200)["id_token"].as_str().unwrap()).await;
        assert_eq!(claims["nonce"], "n1");
        // Used once.
        let again = browser.get(&path).await;
        assert_eq!(again.status, 400);
        assert!(again.location.is_none());
        // Another client cannot use it.
        let bad = app.client.post(app.url("/oauth/par")).basic_auth(&client.client_id, Some(&client.client_secret)).form(&[("response_type", "code"), ("redirect_uri", "https://evil.example/cb"), ("code_challenge", challenge.as_str()), ("code_challenge_method", "S256")]).send().await.unwrap();
        assert_eq!(bad.status(), 400);
        let bad: serde_json::Value = bad.json().await.unwrap();
        assert_eq!(bad["error"], "invalid_redirect_uri");
        assert!(bad["error_description"].is_string());
    }

    async fn logout_ends_the_browser_session_and_goes_only_where_registered(backend) {
        let app = TestApp::spawn(backend).await;
        let after = "https://rp.example/signed-out";
        let client = app.new_client_with(&["openid"], true, json!({ "post_logout_redirect_uris": [after] })).await;
        let user = app.new_user().await;
        let browser = app.signed_in_browser(&user).await;
        let request = app.authorization(&client, "openid", &[]);
        let params = app.browser_code(&browser, &request).await;
        let body = app.exchange(&client, &params["code"], &request.verifier).await;
        let id_token = body.assert_status(200)["id_token"].as_str().unwrap().to_string();
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();

        // Not registered: a page, never a redirect; the browser stays signed in.
        let open = browser.get(&format!("/oauth/logout?id_token_hint={id_token}&post_logout_redirect_uri={}", enc("https://evil.example/"))).await;
        assert_eq!(open.status, 400);
        assert!(open.location.is_none());
        assert_eq!(browser.get("/account").await.status, 200);
        // A forged hint is refused.
        let forged = browser.get(&format!("/oauth/logout?id_token_hint={}x&post_logout_redirect_uri={}", id_token, enc(after))).await;
        assert_eq!(forged.status, 400);

        let out = browser.get(&format!("/oauth/logout?id_token_hint={id_token}&post_logout_redirect_uri={}&state=bye", enc(after))).await;
        assert_eq!(out.status, 303);
        assert_eq!(out.location.as_deref(), Some(format!("{after}?state=bye").as_str()));
        assert_eq!(browser.get("/account").await.status, 303, "signed out");
        // prompt=none now: login_required.
        let silent = app.authorization(&client, "openid", &[("prompt", "none")]);
        assert_eq!(browser.get(&silent.path).await.location_params()["error"], "login_required");

        // Without a hint, the user confirms first: a link alone signs nobody out.
        let browser = app.signed_in_browser(&user).await;
        let ask = browser.get(&format!("/oauth/logout?client_id={}&post_logout_redirect_uri={}", client.client_id, enc(after))).await;
        assert_eq!(ask.status, 200);
        assert_eq!(browser.get("/account").await.status, 200, "still signed in");
        let cross = browser.post_form_from("/oauth/logout", &ask.form(&[]).1, Some("https://evil.example")).await;
        assert_eq!(cross.status, 403);
        let done = browser.submit(&ask, &[]).await;
        assert_eq!(done.status, 303);
        assert_eq!(done.location.as_deref(), Some(after));
        assert_eq!(browser.get("/account").await.status, 303);
    }

    async fn a_code_and_its_nonce_serve_once(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["openid"], true).await;
        let user = app.new_user().await;
        let browser = app.signed_in_browser(&user).await;
        let request = app.authorization(&client, "openid", &[]);
        let params = app.browser_code(&browser, &request).await;
        app.exchange(&client, &params["code"], &request.verifier).await.assert_status(200);
        // The same code again (a replayed callback): refused.
        app.exchange(&client, &params["code"], &request.verifier).await.assert_status(400);
        // The same state and nonce sent again get a new code whose ID token names that nonce:
        // telling replays apart is the RP's check of its own state and nonce, which the
        // library tests run.
        let again = app.browser_code(&browser, &request).await;
        assert_ne!(again["code"], params["code"]);
    }
}
