//! What each account endpoint costs the store, counted in the store itself; the README's
//! table of account costs is this table.

use serde_json::json;

use crate::helpers::{assert_costs, Backend, Cost, TestApp};

/// (endpoint, GetItem calls, Query calls, write calls, items written): one request each, by
/// a signed-in user with a little history, searching among three matching names.
const EXPECTED: [Cost; 11] = [
    ("GET /api/user/profile", 2, 0, 0, 0),
    ("PATCH /api/user/profile", 2, 0, 1, 1),
    ("GET /api/user/settings", 3, 0, 0, 0),
    ("PATCH /api/user/settings", 3, 0, 1, 2),
    ("GET /api/user/activity", 2, 1, 0, 0),
    ("GET /api/users/{username}", 2, 0, 0, 0),
    ("GET /api/users/id/{id}", 1, 0, 0, 0),
    ("GET /api/users/{username}/available", 1, 0, 0, 0),
    ("GET /api/users/search (3 found)", 3, 1, 1, 1),
    ("GET /api/health", 1, 0, 0, 0),
    ("POST /api/auth/login", 2, 0, 6, 9),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_account_endpoint_costs_what_the_readme_says() {
    let (app, counts) = TestApp::spawn_counting(Backend::Embedded).await;
    let user = app.new_user().await;
    let token = app.login_ok(&user).await.token;
    for name in ["quill_one", "quill_two", "quill_three"] {
        app.register(
            &format!("{name}@example.com"),
            name,
            "correct horse battery",
        )
        .await
        .assert_status(201);
    }
    let (app, user) = (&app, &user);
    let token = token.as_str();
    assert_costs(&counts, &EXPECTED, move |name| async move {
        match name {
            "GET /api/user/profile" => app.get_auth("/api/user/profile", token).await,
            "PATCH /api/user/profile" => {
                app.patch_auth("/api/user/profile", token, json!({ "bio": "hello" }))
                    .await
            }
            "GET /api/user/settings" => app.get_auth("/api/user/settings", token).await,
            "PATCH /api/user/settings" => {
                app.patch_auth("/api/user/settings", token, json!({ "theme": "dark" }))
                    .await
            }
            "GET /api/user/activity" => app.get_auth("/api/user/activity?limit=20", token).await,
            "GET /api/users/{username}" => app.get(&format!("/api/users/{}", user.username)).await,
            "GET /api/users/id/{id}" => app.get(&format!("/api/users/id/{}", user.id)).await,
            "GET /api/users/{username}/available" => {
                app.get("/api/users/someone_new/available").await
            }
            "GET /api/users/search (3 found)" => app.get("/api/users/search?q=quill").await,
            "GET /api/health" => app.get("/api/health").await,
            "POST /api/auth/login" => app.login(&user.email, &user.password, None).await,
            other => unreachable!("{other}"),
        }
    })
    .await;
}
