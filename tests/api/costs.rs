//! What each endpoint costs the store, counted in the store itself (`helpers/counting.rs`):
//! rounds (calls one after another: a request's latency on DynamoDB), GetItem and Query
//! calls, write calls, items written, and DynamoDB capacity units. The README's cost tables
//! are this table, and `tests/cost/store-calls.json` is it for programs
//! (`BUDDO_WRITE_COUNTS=1` rewrites the file from what was measured); a change that makes an
//! endpoint dearer or slower fails here first.

use std::sync::Mutex;

use reqwest::Method;
use serde_json::{json, Map, Value};

use crate::backend_tests;
use crate::helpers::{measure_costs, Backend, Cost, TestApp, ALL_SCOPES};

/// (endpoint, function, rounds, GetItem, Query, writes, items written, read units, write
/// units): one request each, in the state a live app is in — a user with points and a little
/// history signed in on the web and into an approved app (with a running app session, a
/// campaign to serve and an impression before the click), three users whose names match a
/// search, an admin. A name with a case in parentheses is one case of its endpoint; the first
/// row of an endpoint is the one `store-calls.json` gives under `endpoints`.
#[rustfmt::skip]
const EXPECTED: &[Cost] = &[
    ("POST /api/auth/register", "auth", 3, 2, 0, 3, 8, 2.0, 14.0),
    ("POST /api/auth/login", "auth", 3, 2, 0, 6, 9, 2.0, 13.0),
    ("POST /api/auth/refresh", "auth", 3, 3, 0, 1, 2, 3.0, 4.0),
    ("GET /api/auth/me", "auth", 1, 2, 0, 0, 0, 2.0, 0.0),
    ("GET /api/auth/sessions", "auth", 2, 2, 1, 0, 0, 3.0, 0.0),
    ("GET /api/user/profile", "user", 2, 3, 0, 0, 0, 3.0, 0.0),
    ("PATCH /api/user/profile", "user", 2, 3, 0, 1, 1, 3.0, 1.0),
    ("GET /api/user/settings", "user", 2, 3, 0, 0, 0, 3.0, 0.0),
    ("PATCH /api/user/settings", "user", 3, 3, 0, 1, 2, 3.0, 4.0),
    ("GET /api/user/activity", "user", 2, 2, 1, 0, 0, 3.0, 0.0),
    ("GET /api/user/points/history", "user", 2, 2, 1, 0, 0, 3.0, 0.0),
    ("GET /api/user/connected-apps", "user", 3, 3, 1, 0, 0, 4.0, 0.0),
    ("GET /api/users/{username}", "user", 2, 2, 0, 0, 0, 2.0, 0.0),
    ("GET /api/users/id/{id}", "user", 1, 1, 0, 0, 0, 1.0, 0.0),
    ("GET /api/users/{username}/available", "user", 1, 1, 0, 0, 0, 1.0, 0.0),
    ("GET /api/users/search (3 found)", "user", 3, 3, 1, 1, 1, 3.5, 1.0),
    ("GET /api/health", "user", 1, 1, 0, 0, 0, 1.0, 0.0),
    ("GET /api/external/user", "external", 2, 4, 0, 0, 0, 4.0, 0.0),
    ("GET /api/external/points", "external", 2, 4, 0, 0, 0, 4.0, 0.0),
    ("POST /api/external/points/spend (Idempotency-Key)", "external", 3, 4, 0, 1, 6, 4.0, 12.0),
    ("POST /api/external/points/spend (no Idempotency-Key)", "external", 3, 4, 0, 1, 5, 4.0, 10.0),
    ("POST /api/external/points/spend (replayed Idempotency-Key)", "external", 4, 5, 0, 1, 6, 5.0, 12.0),
    ("POST /api/external/points/transfer (Idempotency-Key)", "external", 3, 4, 0, 1, 7, 4.0, 14.0),
    ("POST /api/external/points/transfer (no Idempotency-Key)", "external", 3, 4, 0, 1, 6, 4.0, 12.0),
    ("GET /api/external/app/balance", "external", 3, 4, 1, 0, 0, 5.0, 0.0),
    ("GET /api/external/session/status", "external", 3, 5, 0, 0, 0, 5.0, 0.0),
    ("GET /api/external/ads/serve", "external", 4, 4, 2, 0, 0, 5.5, 0.0),
    ("POST /api/external/ads/event (paid click)", "external", 4, 6, 0, 2, 9, 6.0, 17.0),
    ("POST /api/session/refresh (paid heartbeat)", "session", 3, 5, 0, 2, 7, 5.0, 13.0),
    ("POST /api/external/session/end", "external", 4, 5, 0, 1, 1, 5.0, 1.0),
    ("GET /api/oauth/authorize", "oauth", 7, 4, 1, 3, 7, 5.0, 13.0),
    ("POST /api/oauth/token (refresh_token)", "oauth", 4, 5, 0, 2, 5, 5.0, 9.0),
    ("POST /api/oauth/token (authorization_code)", "oauth", 5, 5, 1, 2, 8, 6.0, 15.0),
    ("POST /api/oauth/token/verify", "oauth", 2, 4, 0, 0, 0, 4.0, 0.0),
    ("POST /api/admin/users/{id}/points", "admin", 3, 3, 0, 1, 3, 3.0, 6.0),
    ("GET /api/admin/campaigns", "admin", 3, 2, 6, 0, 0, 5.5, 0.0),
    ("GET /api/admin/apps", "admin", 2, 2, 1, 0, 0, 2.5, 0.0),
    ("GET /api/admin/activity (one user's)", "admin", 2, 2, 1, 0, 0, 3.0, 0.0),
    ("POST /api/auth/logout", "auth", 2, 2, 0, 1, 1, 2.0, 1.0),
];

/// The JSON of `tests/cost/store-calls.json`.
fn as_json(rows: &[Cost]) -> Value {
    let mut endpoints = Map::new();
    let mut cases = Map::new();
    for &(name, function, rounds, get, query, writes, items, read_units, write_units) in rows {
        let entry = json!({
            "function": function, "rounds": rounds, "get": get, "query": query,
            "writes": writes, "items_written": items, "read_units": read_units,
            "write_units": write_units,
        });
        let endpoint = name.split(" (").next().unwrap();
        if endpoint != name {
            cases.insert(name.to_string(), entry.clone());
        }
        endpoints.entry(endpoint.to_string()).or_insert(entry);
    }
    json!({ "endpoints": endpoints, "cases": cases })
}

fn file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cost/store-calls.json")
}

/// Tokens handed from one row to the next (a login's refresh token, an OAuth code).
#[derive(Default)]
struct Carried {
    refresh_token: Option<String>,
    code: Option<(String, String)>,
}

async fn measure(backend: Backend) -> Vec<Cost> {
    let (app, counts) = TestApp::spawn_counting(backend).await;
    let client = app.new_client(&ALL_SCOPES, true).await;
    let op = app.operated_by(&client, &ALL_SCOPES).await;
    let oauth = app
        .oauth_tokens(&op.jwt, &client, &ALL_SCOPES.join(" "))
        .await;
    let friend = app.new_user().await;
    app.grant_points(&op.user, 1000).await;
    let admin = app.admin_token().await;
    let campaign = app
        .campaign(
            &admin,
            json!({ "name": "Banner", "surface_type": "banner", "payout_rate": 10, "budget": 100000 }),
        )
        .await;
    for name in ["quill_one", "quill_two", "quill_three"] {
        app.register(
            &format!("{name}@example.com"),
            name,
            "correct horse battery",
        )
        .await
        .assert_status(201);
    }
    // The tokens of the user's second authorization of the app act (its session is the live one).
    let token = oauth.access_token.as_str();
    app.post_auth(
        "/api/external/ads/event",
        token,
        Some(json!({ "campaign_id": campaign, "event_type": "impression" })),
    )
    .await
    .assert_status(200);
    let session_token = oauth.session_token.clone().expect("session token");
    let carried = Mutex::new(Carried::default());
    let (app, op, friend, client, admin) = (&app, &op, &friend, &client, admin.as_str());
    let (campaign, jwt, carried) = (campaign.as_str(), op.jwt.as_str(), &carried);
    let (oauth_refresh, session_token) = (oauth.refresh_token.as_str(), session_token.as_str());
    let user = &op.user;
    measure_costs(&app.state, &counts, EXPECTED, move |name| async move {
        match name {
            "POST /api/auth/register" => {
                app.register("newcomer@example.com", "newcomer", "correct horse battery")
                    .await
            }
            "POST /api/auth/login" => {
                let resp = app.login(&user.email, &user.password, None).await;
                carried.lock().unwrap().refresh_token =
                    resp.body["refresh_token"].as_str().map(str::to_string);
                resp
            }
            "POST /api/auth/refresh" => {
                let refresh_token = carried.lock().unwrap().refresh_token.take().unwrap();
                app.post(
                    "/api/auth/refresh",
                    json!({ "refresh_token": refresh_token }),
                )
                .await
            }
            "GET /api/auth/me" => app.get_auth("/api/auth/me", jwt).await,
            "GET /api/auth/sessions" => app.get_auth("/api/auth/sessions", jwt).await,
            "GET /api/user/profile" => app.get_auth("/api/user/profile", jwt).await,
            "PATCH /api/user/profile" => {
                app.patch_auth("/api/user/profile", jwt, json!({ "bio": "hello" }))
                    .await
            }
            "GET /api/user/settings" => app.get_auth("/api/user/settings", jwt).await,
            "PATCH /api/user/settings" => {
                app.patch_auth("/api/user/settings", jwt, json!({ "theme": "dark" }))
                    .await
            }
            "GET /api/user/activity" => app.get_auth("/api/user/activity?limit=20", jwt).await,
            "GET /api/user/points/history" => {
                app.get_auth("/api/user/points/history?limit=20", jwt).await
            }
            "GET /api/user/connected-apps" => app.get_auth("/api/user/connected-apps", jwt).await,
            "GET /api/users/{username}" => app.get(&format!("/api/users/{}", user.username)).await,
            "GET /api/users/id/{id}" => app.get(&format!("/api/users/id/{}", user.id)).await,
            "GET /api/users/{username}/available" => {
                app.get("/api/users/someone_new/available").await
            }
            "GET /api/users/search (3 found)" => app.get("/api/users/search?q=quill").await,
            "GET /api/health" => app.get("/api/health").await,
            "GET /api/external/user" => app.get_auth("/api/external/user", token).await,
            "GET /api/external/points" => app.get_auth("/api/external/points", token).await,
            "POST /api/external/points/spend (Idempotency-Key)" => {
                app.post_idempotent(
                    "/api/external/points/spend",
                    token,
                    "cost-1",
                    json!({ "amount": 1 }),
                )
                .await
            }
            "POST /api/external/points/spend (no Idempotency-Key)" => {
                app.post_auth(
                    "/api/external/points/spend",
                    token,
                    Some(json!({ "amount": 1 })),
                )
                .await
            }
            "POST /api/external/points/spend (replayed Idempotency-Key)" => {
                app.post_idempotent(
                    "/api/external/points/spend",
                    token,
                    "cost-1",
                    json!({ "amount": 1 }),
                )
                .await
            }
            "POST /api/external/points/transfer (Idempotency-Key)" => {
                app.post_idempotent(
                    "/api/external/points/transfer",
                    token,
                    "cost-2",
                    json!({ "amount": 1, "to_user_id": friend.id }),
                )
                .await
            }
            "POST /api/external/points/transfer (no Idempotency-Key)" => {
                app.post_auth(
                    "/api/external/points/transfer",
                    token,
                    Some(json!({ "amount": 1, "to_user_id": friend.id })),
                )
                .await
            }
            "GET /api/external/app/balance" => {
                app.get_auth("/api/external/app/balance", token).await
            }
            "GET /api/external/session/status" => {
                app.get_auth("/api/external/session/status", token).await
            }
            "GET /api/external/ads/serve" => {
                app.get_auth("/api/external/ads/serve?surface_type=banner", token)
                    .await
            }
            "POST /api/external/ads/event (paid click)" => {
                app.post_auth(
                    "/api/external/ads/event",
                    token,
                    Some(json!({ "campaign_id": campaign, "event_type": "click" })),
                )
                .await
            }
            "POST /api/session/refresh (paid heartbeat)" => {
                app.clock.advance(60);
                app.post(
                    "/api/session/refresh",
                    json!({ "session_token": session_token }),
                )
                .await
            }
            "GET /api/oauth/authorize" => {
                let (verifier, challenge) = crate::helpers::pkce();
                let resp = app
                    .authorize(
                        jwt,
                        &[
                            ("client_id", &client.client_id),
                            ("response_type", "code"),
                            ("redirect_uri", &client.redirect_uri),
                            ("scope", "profile:read points:read"),
                            ("code_challenge", &challenge),
                            ("code_challenge_method", "S256"),
                        ],
                    )
                    .await;
                let code = resp.body["code"].as_str().unwrap_or_default().to_string();
                carried.lock().unwrap().code = Some((code, verifier));
                resp
            }
            "POST /api/oauth/token (refresh_token)" => {
                app.refresh_oauth(client, oauth_refresh).await
            }
            "POST /api/oauth/token (authorization_code)" => {
                let (code, verifier) = carried.lock().unwrap().code.take().unwrap();
                app.exchange(client, &code, &verifier).await
            }
            "POST /api/oauth/token/verify" => app.introspect(token).await,
            "POST /api/external/session/end" => {
                app.request(Method::POST, "/api/external/session/end", Some(token), None)
                    .await
            }
            "POST /api/admin/users/{id}/points" => {
                app.post_auth(
                    &format!("/api/admin/users/{}/points", friend.id),
                    admin,
                    Some(json!({ "amount": 5, "reason": "thanks" })),
                )
                .await
            }
            "GET /api/admin/campaigns" => app.get_auth("/api/admin/campaigns", admin).await,
            "GET /api/admin/apps" => app.get_auth("/api/admin/apps?limit=20", admin).await,
            "GET /api/admin/activity (one user's)" => {
                app.get_auth(
                    &format!("/api/admin/activity?user_id={}&limit=20", user.id),
                    admin,
                )
                .await
            }
            "POST /api/auth/logout" => {
                app.request(Method::POST, "/api/auth/logout", Some(jwt), None)
                    .await
            }
            other => unreachable!("{other}"),
        }
    })
    .await
}

backend_tests! {
    async fn each_endpoint_costs_what_the_table_and_the_file_say(backend) {
        let measured = measure(backend).await;
        let json = as_json(&measured);
        if backend == Backend::Embedded && std::env::var("BUDDO_WRITE_COUNTS").as_deref() == Ok("1") {
            let text = serde_json::to_string_pretty(&json).unwrap() + "\n";
            std::fs::write(file(), text).expect("write store-calls.json");
        }
        assert_eq!(measured, EXPECTED.to_vec());
        let written: Value = serde_json::from_str(
            &std::fs::read_to_string(file()).expect("tests/cost/store-calls.json"),
        )
        .expect("store-calls.json is JSON");
        assert_eq!(written, json, "tests/cost/store-calls.json differs from what was measured");
    }
}
