//! What each operator endpoint costs the store: reads (GetItem and Query calls) and items
//! written, counted in the store itself. The README's cost table is this table; a change that
//! makes an endpoint dearer fails here first.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_costs, Backend, Cost, TestApp, ALL_SCOPES};

/// (endpoint, GetItem calls, Query calls, write calls, items written): one request each, in
/// the state a live app is in (a user with points, a running session, a campaign to serve,
/// an impression before the click).
const EXPECTED: [Cost; 10] = [
    ("GET /api/external/user", 4, 0, 0, 0),
    ("GET /api/external/points", 4, 0, 0, 0),
    ("POST /api/external/points/spend", 5, 0, 1, 5),
    (
        "POST /api/external/points/spend (Idempotency-Key)",
        6,
        0,
        2,
        7,
    ),
    ("POST /api/external/points/transfer", 6, 0, 1, 6),
    ("GET /api/external/app/balance", 4, 1, 0, 0),
    ("GET /api/external/session/status", 5, 0, 0, 0),
    ("GET /api/external/ads/serve", 4, 2, 0, 0),
    ("POST /api/external/ads/event (paid click)", 6, 0, 2, 9),
    ("POST /api/external/session/end", 5, 0, 1, 1),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_operator_endpoint_costs_what_the_readme_says() {
    let (app, counts) = TestApp::spawn_counting(Backend::Embedded).await;
    let op = app.operated(&ALL_SCOPES).await;
    let friend = app.new_user().await;
    app.grant_points(&op.user, 1000).await;
    let admin = app.admin_token().await;
    let created = app
        .post_auth(
            "/api/admin/campaigns",
            &admin,
            Some(json!({
                "name": "Banner", "surface_type": "banner", "payout_rate": 10, "budget": 100000,
            })),
        )
        .await;
    let campaign = created.assert_status(201)["campaign"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    app.post_auth(
        "/api/external/ads/event",
        &op.access_token,
        Some(json!({ "campaign_id": campaign, "event_type": "impression" })),
    )
    .await
    .assert_status(200);
    let token = op.access_token.as_str();
    let (app, friend, campaign) = (&app, &friend, campaign.as_str());
    assert_costs(&counts, &EXPECTED, move |name| async move {
        match name {
            "GET /api/external/user" => app.get_auth("/api/external/user", token).await,
            "GET /api/external/points" => app.get_auth("/api/external/points", token).await,
            "POST /api/external/points/spend" => {
                app.post_auth(
                    "/api/external/points/spend",
                    token,
                    Some(json!({ "amount": 1 })),
                )
                .await
            }
            "POST /api/external/points/spend (Idempotency-Key)" => {
                app.post_idempotent(
                    "/api/external/points/spend",
                    token,
                    "cost-1",
                    json!({ "amount": 1 }),
                )
                .await
            }
            "POST /api/external/points/transfer" => {
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
            "POST /api/external/session/end" => {
                app.request(Method::POST, "/api/external/session/end", Some(token), None)
                    .await
            }
            other => unreachable!("{other}"),
        }
    })
    .await;
}
