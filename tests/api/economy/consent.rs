//! Consent bounds what an app holds: narrowing it narrows every earlier token family, and an
//! authorization without `scope` grants `profile:read` only.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{pkce, TestApp};

backend_tests! {
    async fn narrowing_consent_narrows_what_was_granted_before(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read", "points:read", "points:spend"], true).await;
        let user = app.new_user().await;
        app.grant_points(&user, 100).await;
        let jwt = app.login_ok(&user).await.token;
        let wide = app.oauth_tokens(&jwt, &client, "profile:read points:read points:spend").await;
        let spend = json!({ "amount": 1 });
        app.post_auth("/api/external/points/spend", &wide.access_token, Some(spend.clone())).await.assert_status(200);
        // The user authorizes the app again, with less.
        let narrow = app.oauth_tokens(&jwt, &client, "profile:read").await;
        assert_eq!(app.introspect(&narrow.access_token).await.body["scope"], "profile:read");
        // The older family keeps only what the consent allows now.
        let older = app.introspect(&wide.access_token).await;
        assert_eq!(older.assert_status(200)["scopes"], json!(["profile:read"]));
        app.post_auth("/api/external/points/spend", &wide.access_token, Some(spend.clone())).await.assert_error(403, "insufficient_scope");
        app.get_auth("/api/external/points", &wide.access_token).await.assert_error(403, "insufficient_scope");
        let refreshed = app.refresh_oauth(&client, &wide.refresh_token).await;
        assert_eq!(refreshed.assert_status(200)["scope"], "profile:read");
        let widen = app.token_form(&[
            ("grant_type", "refresh_token"), ("client_id", &client.client_id), ("client_secret", &client.client_secret),
            ("refresh_token", refreshed.body["refresh_token"].as_str().unwrap()), ("scope", "points:spend"),
        ]).await;
        assert_eq!(widen.assert_status(400)["error"], "invalid_scope");
        // A code issued before the narrowing is bounded the same way.
        let user2 = app.new_user().await;
        let jwt2 = app.login_ok(&user2).await.token;
        let (code, verifier) = app.code_for(&jwt2, &client, "profile:read points:spend").await;
        app.oauth_tokens(&jwt2, &client, "profile:read").await;
        let exchanged = app.exchange(&client, &code, &verifier).await;
        assert_eq!(exchanged.assert_status(200)["scope"], "profile:read");
        assert_eq!(app.balance_and_ledger(&user.id).await, (99, 99));
    }

    async fn no_scope_means_profile_read_only(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read", "points:read", "points:spend", "points:transfer"], true).await;
        let jwt = app.login_ok(&app.new_user().await).await.token;
        let (verifier, challenge) = pkce();
        let resp = app.authorize(&jwt, &[
            ("client_id", &client.client_id), ("response_type", "code"), ("redirect_uri", &client.redirect_uri),
            ("code_challenge", &challenge), ("code_challenge_method", "S256"),
        ]).await;
        let code = resp.assert_status(200)["code"].as_str().unwrap().to_string();
        let tokens = app.exchange(&client, &code, &verifier).await;
        assert_eq!(tokens.assert_status(200)["scope"], "profile:read");
        let access = tokens.body["access_token"].as_str().unwrap();
        app.post_auth("/api/external/points/spend", access, Some(json!({ "amount": 1 }))).await.assert_error(403, "insufficient_scope");
        // An app that may not read profiles must name its scopes.
        let points_only = app.new_client(&["points:read"], true).await;
        let resp = app.authorize(&jwt, &[
            ("client_id", &points_only.client_id), ("response_type", "code"), ("redirect_uri", &points_only.redirect_uri),
            ("code_challenge", &challenge), ("code_challenge_method", "S256"),
        ]).await;
        resp.assert_error(400, "invalid_scope");
    }
}
