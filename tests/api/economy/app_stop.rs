//! An admin stops an app: unapproving ends at once what it holds for every user but its
//! owner, suspending ends it for everyone, and an approved app's new face waits for review.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{Operated, TestApp, TestClient};

/// Every way an operator app acts for the user, each either still working or refused (the
/// rotated refresh and session tokens are kept for the next call).
async fn still_works(app: &TestApp, op: &mut Operated, refresh_token: &mut String) -> [bool; 4] {
    let introspected = app.introspect(&op.access_token).await;
    let active = introspected.assert_status(200)["active"] == true;
    let operator = app.get_auth("/api/external/user", &op.access_token).await;
    let refreshed = app.refresh_oauth(&op.client, refresh_token).await;
    if refreshed.status == 200 {
        *refresh_token = refreshed.body["refresh_token"]
            .as_str()
            .unwrap()
            .to_string();
    }
    let session = app
        .post(
            "/api/session/refresh",
            json!({ "session_token": op.session_token.clone().unwrap() }),
        )
        .await;
    if session.status == 200 {
        op.session_token = session.body["session_token"].as_str().map(str::to_string);
    }
    [
        active,
        operator.status == 200,
        refreshed.status == 200,
        session.status == 200,
    ]
}

/// The owner of `client`, signed in, who authorized the app for themself.
async fn owner_operated(app: &TestApp, client: &TestClient) -> (Operated, String) {
    let tokens = app
        .oauth_tokens(&client.owner_token, client, "profile:read")
        .await;
    let me = app.me(&client.owner_token).await;
    let user_id = me.assert_status(200)["user"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let owner = crate::helpers::TestUser {
        id: user_id,
        username: String::new(),
        email: String::new(),
        password: String::new(),
        referral_code: String::new(),
    };
    let op = Operated {
        user: owner,
        jwt: client.owner_token.clone(),
        client: client.clone(),
        access_token: tokens.access_token,
        session_token: tokens.session_token,
    };
    (op, tokens.refresh_token)
}

backend_tests! {
    async fn unapproving_ends_what_the_app_holds_for_everyone_but_its_owner(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let client = app.new_client(&["profile:read"], true).await;
        let user = app.new_user().await;
        let jwt = app.login_ok(&user).await.token;
        let tokens = app.oauth_tokens(&jwt, &client, "profile:read").await;
        let mut op = Operated { user, jwt: jwt.clone(), client: client.clone(), access_token: tokens.access_token, session_token: tokens.session_token };
        let mut refresh = tokens.refresh_token;
        // A code issued before the decision dies with it too.
        let (code, verifier) = app.code_for(&jwt, &client, "profile:read").await;
        let (mut owner_op, mut owner_refresh) = owner_operated(&app, &client).await;
        assert_eq!(still_works(&app, &mut op, &mut refresh).await, [true; 4]);

        app.post_auth(&format!("/api/admin/apps/{}/unapprove", client.id), &admin, None).await.assert_status(200);
        let introspected = app.introspect(&op.access_token).await;
        TestApp::assert_inactive(&introspected);
        assert_eq!(introspected.body["reason"], "revoked");
        app.get_auth("/api/external/user", &op.access_token).await.assert_error(401, "invalid_token");
        let refreshed = app.refresh_oauth(&client, &refresh).await;
        refreshed.assert_status(400);
        assert_eq!(refreshed.body["error"], "invalid_grant");
        app.post("/api/session/refresh", json!({ "session_token": op.session_token.clone().unwrap() })).await.assert_error(401, "session_ended");
        let exchanged = app.exchange(&client, &code, &verifier).await;
        assert_eq!(exchanged.assert_status(400)["error"], "invalid_grant");
        // Nobody but the owner can authorize it now.
        app.authorize(&jwt, &[("client_id", &client.client_id), ("response_type", "code"), ("code_challenge", &crate::helpers::pkce().1), ("code_challenge_method", "S256")]).await.assert_error(403, "app_not_approved");
        // The owner goes on testing.
        assert_eq!(still_works(&app, &mut owner_op, &mut owner_refresh).await, [true; 4]);

        // Approving it again does not bring the old tokens back; a new authorization works.
        app.post_auth(&format!("/api/admin/apps/{}/approve", client.id), &admin, None).await.assert_status(200);
        TestApp::assert_inactive(&app.introspect(&op.access_token).await);
        let again = app.oauth_tokens(&jwt, &client, "profile:read").await;
        assert_eq!(app.introspect(&again.access_token).await.body["active"], true);
    }

    async fn a_suspended_app_stops_for_its_owner_too(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let client = app.new_client(&["profile:read"], true).await;
        let op = app.operated_by(&client, &["profile:read"]).await;
        let (owner_op, _) = owner_operated(&app, &client).await;
        let suspended = app.post_auth(&format!("/api/admin/apps/{}/suspend", client.id), &admin, None).await;
        let body = suspended.assert_status(200);
        assert_eq!(body["app"]["suspended"], true);
        assert_eq!(body["app"]["is_approved"], false);
        for token in [&op.access_token, &owner_op.access_token] {
            TestApp::assert_inactive(&app.introspect(token).await);
            app.get_auth("/api/external/user", token).await.assert_error(401, "invalid_token");
        }
        let (_, challenge) = crate::helpers::pkce();
        let query = [("client_id", client.client_id.as_str()), ("response_type", "code"), ("code_challenge", &challenge), ("code_challenge_method", "S256")];
        app.authorize(&client.owner_token, &query).await.assert_error(403, "app_suspended");
        app.authorize(&op.jwt, &query).await.assert_error(403, "app_suspended");
        // Only admins decide.
        app.post_auth(&format!("/api/admin/apps/{}/suspend", client.id), &client.owner_token, None).await.assert_error(403, "forbidden");
        app.post_auth(&format!("/api/admin/apps/{}/suspend", uuid::Uuid::new_v4()), &admin, None).await.assert_error(404, "app_not_found");
    }

    async fn an_approved_apps_new_face_waits_for_review(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let client = app.new_client(&["profile:read"], true).await;
        let user_token = app.login_ok(&app.new_user().await).await.token;
        let new_uri = "https://wallet.example/callback";
        let changed = app.put_auth(&format!("/api/oauth/my-apps/{}", client.id), &client.owner_token, json!({
            "app_name": "Buddo Official Wallet", "logo_url": "https://wallet.example/logo.png", "redirect_uris": [new_uri],
        })).await;
        let body = changed.assert_status(200);
        // The reviewed values stay live; the change waits.
        assert_eq!(body["app_name"], "Test App");
        assert_eq!(body["redirect_uris"], json!([client.redirect_uri]));
        assert_eq!(body["pending_changes"]["app_name"], "Buddo Official Wallet");
        assert_eq!(body["pending_changes"]["redirect_uris"], json!([new_uri]));
        let public = app.get(&format!("/api/oauth/apps/{}", client.client_id)).await;
        assert_eq!(public.assert_status(200)["name"], "Test App");
        let (_, challenge) = crate::helpers::pkce();
        let to_new = [("client_id", client.client_id.as_str()), ("response_type", "code"), ("redirect_uri", new_uri), ("code_challenge", &challenge), ("code_challenge_method", "S256")];
        app.authorize(&user_token, &to_new).await.assert_error(400, "invalid_redirect_uri");
        app.code_for(&user_token, &client, "profile:read").await;
        let listed = app.get_auth("/api/admin/apps", &admin).await;
        let row = listed.assert_status(200)["apps"].as_array().unwrap().iter().find(|a| a["id"] == client.id.as_str()).unwrap().clone();
        assert_eq!(row["pending_changes"]["app_name"], "Buddo Official Wallet");
        // An admin approves the change: it goes live.
        app.post_auth(&format!("/api/admin/apps/{}/approve", client.id), &admin, None).await.assert_status(200);
        let public = app.get(&format!("/api/oauth/apps/{}", client.client_id)).await;
        assert_eq!(public.body["name"], "Buddo Official Wallet");
        app.authorize(&user_token, &to_new).await.assert_status(200);
        let mine = app.get_auth("/api/oauth/my-apps", &client.owner_token).await;
        assert!(mine.assert_status(200)[0].get("pending_changes").is_none(), "{}", mine.body);
        // An app nobody reviewed yet changes at once.
        let fresh = app.new_client(&["profile:read"], false).await;
        let renamed = app.put_auth(&format!("/api/oauth/my-apps/{}", fresh.id), &fresh.owner_token, json!({ "app_name": "Renamed" })).await;
        assert_eq!(renamed.assert_status(200)["app_name"], "Renamed");
        assert!(renamed.body.get("pending_changes").is_none());
    }
}
