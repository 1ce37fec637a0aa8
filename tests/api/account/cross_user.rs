//! One user can never read or change another's private data: every route of every router
//! is tried by an attacker with their own user token and their own OAuth access token, with
//! the victim's ids in the path, the query and the body. Nothing private of the victim's
//! comes back, and afterwards everything of the victim's is as it was.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Resp, TestApp, TestUser};

/// A settings value only the victim has: it must never reach the attacker.
const VICTIM_TIMEZONE: &str = "Pacific/Chatham";
const VICTIM_AGENT: &str = "VictimBrowser/9.1";

struct Victim {
    user: TestUser,
    jwt: String,
    session_id: String,
    app_id: String,
    client_id: String,
    client_secret: String,
    scope_request_id: String,
    connected_app_id: String,
    /// A device the victim trusts (TOTP on): its token and id.
    device_token: String,
    device_id: String,
}

/// Everything private of the victim's, as the victim reads it.
async fn snapshot(app: &TestApp, v: &Victim) -> Value {
    let mut out = serde_json::Map::new();
    for path in [
        "/api/auth/me",
        "/api/auth/sessions",
        "/api/auth/trusted-devices",
        "/api/auth/totp/status",
        "/api/user/profile",
        "/api/user/settings",
        "/api/user/activity?limit=100",
        "/api/user/connected-apps",
        "/api/user/points/history?limit=100",
        "/api/oauth/my-apps",
    ] {
        let mut body = app.get_auth(path, &v.jwt).await.assert_status(200).clone();
        // Failed sign-ins as the victim are the victim's to see: they are the attacker's
        // traces, not a change the attacker made.
        if let Some(entries) = body.get_mut("activity").and_then(Value::as_array_mut) {
            entries.retain(|e| e["kind"] != "login_failed");
        }
        out.insert(path.into(), body);
    }
    let requests = app
        .get_auth(
            &format!("/api/oauth/my-apps/{}/scope-requests", v.app_id),
            &v.jwt,
        )
        .await;
    out.insert("scope-requests".into(), requests.assert_status(200).clone());
    Value::Object(out)
}

async fn victim(app: &TestApp) -> Victim {
    let user = app.new_verified_user().await;
    let login = app
        .client
        .post(app.url("/api/auth/login"))
        .header("user-agent", VICTIM_AGENT)
        .json(&json!({ "email": user.email, "password": user.password }))
        .send()
        .await
        .unwrap();
    let login = TestApp::read(login).await;
    let jwt = login.assert_status(200)["token"]
        .as_str()
        .unwrap()
        .to_string();
    app.patch_auth(
        "/api/user/profile",
        &jwt,
        json!({ "display_name": "Victoria", "bio": "private? no, public" }),
    )
    .await
    .assert_status(200);
    app.patch_auth(
        "/api/user/settings",
        &jwt,
        json!({ "timezone": VICTIM_TIMEZONE, "theme": "dark" }),
    )
    .await
    .assert_status(200);
    let sessions = app.get_auth("/api/auth/sessions", &jwt).await;
    let session_id = sessions.assert_status(200)["sessions"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    // An app of the victim's own, with a scope request waiting.
    let created = app
        .post_auth(
            "/api/oauth/apps",
            &jwt,
            Some(json!({
                "app_name": "Victim's App",
                "app_description": "The victim's own app",
                "redirect_uris": ["https://victim.example/callback"],
                "allowed_scopes": ["profile:read"],
            })),
        )
        .await;
    let created = created.assert_status(201)["app"].clone();
    let app_id = created["id"].as_str().unwrap().to_string();
    let request = app
        .post_auth(
            &format!("/api/oauth/my-apps/{app_id}/scope-request"),
            &jwt,
            Some(json!({ "requested_scopes": ["points:spend"] })),
        )
        .await;
    let scope_request_id = request.assert_status(201)["id"]
        .as_str()
        .unwrap()
        .to_string();
    // An app only the victim connected, and some points.
    let connected = app.new_client(&["profile:read", "points:read"], true).await;
    app.oauth_tokens(&jwt, &connected, "profile:read points:read")
        .await;
    app.grant_points(&user, 42).await;
    // TOTP on, and a device trusted with a code.
    let (secret, _) = app.enable_totp(&jwt).await;
    app.next_totp_step();
    let remembered = app
        .post(
            "/api/auth/login",
            json!({ "email": user.email, "password": user.password, "totp_code": app.totp_now(&secret), "remember_device": true }),
        )
        .await;
    let device_token = remembered.assert_status(200)["device_token"]
        .as_str()
        .unwrap()
        .to_string();
    let device_id = device_token.split_once('.').unwrap().0.to_string();
    Victim {
        user,
        jwt,
        session_id,
        app_id,
        client_id: created["client_id"].as_str().unwrap().to_string(),
        client_secret: created["client_secret"].as_str().unwrap().to_string(),
        scope_request_id,
        connected_app_id: connected.id,
        device_token,
        device_id,
    }
}

/// The victim's id for a path parameter of this route.
fn param_for(v: &Victim, path: &str, name: &str) -> String {
    match name {
        "username" => v.user.username.clone(),
        "client_id" => v.client_id.clone(),
        "app_id" => v.connected_app_id.clone(),
        "id" if path.starts_with("/api/auth/sessions") => v.session_id.clone(),
        "id" if path.starts_with("/api/auth/trusted-devices") => v.device_id.clone(),
        "id" if path.starts_with("/api/oauth/my-apps") || path.starts_with("/api/admin/apps") => {
            v.app_id.clone()
        }
        "id" if path.starts_with("/api/admin/scope-requests") => v.scope_request_id.clone(),
        _ => v.user.id.clone(),
    }
}

fn concrete(v: &Victim, template: &str) -> String {
    template
        .split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => param_for(v, template, name),
                None => seg.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// A body that names the victim wherever a field could point at someone.
fn body_naming(v: &Victim) -> Value {
    json!({
        "user_id": v.user.id, "id": v.user.id, "to_user_id": v.user.id, "owner_id": v.user.id,
        "session_id": v.session_id, "app_id": v.app_id, "client_id": v.client_id,
        "device_token": v.device_token, "remember_device": true,
        "email": v.user.email, "username": v.user.username, "new_email": "attacker@example.com",
        "password": "not the victim's password", "current_password": "not the victim's password",
        "new_password": "an attacker's new password", "code": "123456", "totp_code": "123456",
        "amount": 1, "reason": "taking it", "description": "mine now",
        "display_name": "Hacked", "bio": "hacked", "timezone": "UTC", "theme": "light",
        "app_name": "Hijacked", "redirect_uris": ["https://attacker.example/cb"],
        "allowed_scopes": ["profile:read"], "requested_scopes": ["points:spend"],
        "campaign_id": v.user.id, "event_type": "click",
    })
}

/// What the attacker must never see.
fn assert_no_leak(v: &Victim, what: &str, resp: &Resp) {
    let text = resp.body.to_string();
    for secret in [
        v.user.email.as_str(),
        VICTIM_TIMEZONE,
        VICTIM_AGENT,
        v.session_id.as_str(),
        v.client_secret.as_str(),
        v.scope_request_id.as_str(),
        v.device_token.as_str(),
    ] {
        assert!(!text.contains(secret), "{what} leaked {secret}: {text}");
    }
    assert!(
        !resp.status.is_server_error(),
        "{what}: {} {text}",
        resp.status
    );
}

/// An answer in JSON, or a page's text (the hosted pages and their stylesheet).
async fn read_any(resp: reqwest::Response) -> Resp {
    let text = resp
        .headers()
        .get("content-type")
        .is_some_and(|v| v.as_bytes().starts_with(b"text/"));
    if !text {
        return TestApp::read(resp).await;
    }
    Resp {
        status: resp.status(),
        headers: resp.headers().clone(),
        body: serde_json::Value::String(resp.text().await.unwrap()),
    }
}

backend_tests! {
    async fn no_route_shows_or_changes_another_users_private_data(backend) {
        let app = TestApp::spawn(backend).await;
        let v = victim(&app).await;
        let before = snapshot(&app, &v).await;

        let attacker = app.new_verified_user().await;
        let attacker_jwt = app.login_ok(&attacker).await.token;
        let operator = app.new_client(&crate::helpers::ALL_SCOPES, true).await;
        let attacker_oauth = app.oauth_tokens(&attacker_jwt, &operator, &crate::helpers::ALL_SCOPES.join(" ")).await;

        let mut routes: Vec<(String, &'static str)> = buddo::routes()
            .list()
            .iter()
            .map(|r| (r.method.to_string(), r.path))
            .collect();
        // Signing out ends the attacker's own session: last.
        routes.sort_by_key(|(_, p)| *p == "/api/auth/logout");
        let mut tried = 0;
        for (method, template) in &routes {
            let path = concrete(&v, template);
            let query = format!("user_id={}&id={}&owner_id={}", v.user.id, v.user.id, v.user.id);
            let url = if path.contains('?') { format!("{path}&{query}") } else { format!("{path}?{query}") };
            for token in [attacker_jwt.as_str(), attacker_oauth.access_token.as_str(), ""] {
                for body in [None, Some(json!({})), Some(body_naming(&v))] {
                    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
                    if method == reqwest::Method::GET && body.is_some() {
                        continue;
                    }
                    let mut req = app.client.request(method.clone(), app.url(&url));
                    if !token.is_empty() {
                        req = req.bearer_auth(token);
                    }
                    if let Some(body) = &body {
                        req = req.json(body);
                    }
                    let resp = read_any(req.send().await.unwrap()).await;
                    assert_no_leak(&v, &format!("{method} {url} with {:?}", body.as_ref().map(|_| "a body")), &resp);
                    tried += 1;
                }
            }
        }
        assert!(tried > routes.len() * 3);

        // The form-encoded OAuth endpoints, with the victim's client named but not its secret.
        for path in ["/api/oauth/token", "/api/oauth/revoke", "/api/oauth/token/verify"] {
            let resp = app.client.post(app.url(path)).form(&[
                ("grant_type", "client_credentials"), ("client_id", v.client_id.as_str()),
                ("client_secret", "guess"), ("token", v.session_id.as_str()),
            ]).send().await.unwrap();
            assert_no_leak(&v, path, &TestApp::read(resp).await);
        }

        let after = snapshot(&app, &v).await;
        assert_eq!(before, after, "the victim's data changed");
        let failed = app.get_auth("/api/user/activity?kind=login_failed", &v.jwt).await;
        assert!(!failed.assert_status(200)["activity"].as_array().unwrap().is_empty(), "the attempts show");
        // The victim's device still stands in for the code.
        let login = json!({ "email": v.user.email, "password": v.user.password, "device_token": v.device_token });
        app.post("/api/auth/login", login).await.assert_status(200);
    }
}
