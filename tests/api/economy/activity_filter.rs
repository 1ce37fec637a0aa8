//! The activity lists' `kind` filter is applied while reading: page after page, every matching
//! entry appears exactly once and nothing else does, however sparse the kind is among the
//! entries around it — across the eight shards of the admin list, and within one user's list.

use std::collections::HashSet;

use serde_json::Value;

use crate::backend_tests;
use crate::helpers::{TestApp, TestUser};

fn encode(cursor: &str) -> String {
    url::form_urlencoded::byte_serialize(cursor.as_bytes()).collect()
}

/// Every entry of a list, page by page (`query` without the cursor).
async fn all_pages(app: &TestApp, token: &str, path: &str, query: &str) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut url = format!("{path}?{query}");
    for _ in 0..1_000 {
        let body = app.get_auth(&url, token).await.assert_status(200).clone();
        entries.extend(body["activity"].as_array().unwrap().iter().cloned());
        match body["next_cursor"].as_str() {
            Some(c) => url = format!("{path}?{query}&cursor={}", encode(c)),
            None => return entries,
        }
    }
    panic!("the list never ended");
}

fn ids(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect()
}

/// Asserts `paged` holds every id of `expected` once, in the same order, and nothing else.
#[track_caller]
fn assert_exactly(paged: &[Value], expected: &[String], kind: &str) {
    let got = ids(paged);
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "an entry appeared twice");
    assert!(
        paged.iter().all(|e| e["kind"] == kind),
        "another kind slipped in"
    );
    assert_eq!(got, expected);
}

/// A wrong password: one `login_failed` entry.
async fn fail_login(app: &TestApp, user: &TestUser) {
    app.login(&user.email, "not the password", None)
        .await
        .assert_error(401, "invalid_credentials");
}

backend_tests! {
    async fn a_sparse_kind_pages_completely_across_the_shards(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let users: Vec<TestUser> = futures::future::join_all((0..6).map(|_| app.new_user())).await;
        // Each user: one failed sign-in, then many sign-ins: the failures are far apart.
        for user in &users {
            app.clock.advance(1);
            fail_login(&app, user).await;
            for _ in 0..12 {
                app.clock.advance(1);
                app.login_ok(user).await;
            }
        }
        // And a few close together at the end.
        for user in users.iter().take(3) {
            app.clock.advance(1);
            fail_login(&app, user).await;
        }

        let everything = all_pages(&app, &admin, "/api/admin/activity", "limit=100").await;
        let expected: Vec<String> = ids(&everything.iter().filter(|e| e["kind"] == "login_failed").cloned().collect::<Vec<_>>());
        assert_eq!(expected.len(), 9);
        for limit in [1, 2, 4] {
            let paged = all_pages(&app, &admin, "/api/admin/activity", &format!("kind=login_failed&limit={limit}")).await;
            assert_exactly(&paged, &expected, "login_failed");
        }
        // The common kind too, in small pages.
        let logins: Vec<String> = ids(&everything.iter().filter(|e| e["kind"] == "login").cloned().collect::<Vec<_>>());
        let paged = all_pages(&app, &admin, "/api/admin/activity", "kind=login&limit=7").await;
        assert_exactly(&paged, &logins, "login");
    }

    async fn one_users_list_pages_completely_by_kind(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let user = app.new_user().await;
        // Newest first the log reads: failed, login, failed, failed, login, failed, failed, failed, …
        for run in 1..=4 {
            app.clock.advance(1);
            app.login_ok(&user).await;
            for _ in 0..run {
                app.clock.advance(1);
                fail_login(&app, &user).await;
            }
        }
        let token = app.login_ok(&user).await.token;
        let everything = all_pages(&app, &token, "/api/user/activity", "limit=100").await;
        let expected: Vec<String> = ids(&everything.iter().filter(|e| e["kind"] == "login_failed").cloned().collect::<Vec<_>>());
        assert_eq!(expected.len(), 10);
        for limit in [1, 2, 3] {
            let query = format!("kind=login_failed&limit={limit}");
            assert_exactly(&all_pages(&app, &token, "/api/user/activity", &query).await, &expected, "login_failed");
            // The admin's view of the one user.
            let query = format!("user_id={}&{query}", user.id);
            assert_exactly(&all_pages(&app, &admin, "/api/admin/activity", &query).await, &expected, "login_failed");
        }
    }
}
