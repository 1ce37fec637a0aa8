//! Other users: public profiles by name and id, whether a name is free, prefix search.

use serde_json::json;

use super::PROFILE_KEYS;
use crate::backend_tests;
use crate::helpers::{assert_keys, TestApp};

fn available(body: &serde_json::Value) -> bool {
    body["available"].as_bool().expect("available")
}

backend_tests! {
    async fn a_public_profile_shows_public_fields_only(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        app.patch_auth("/api/user/profile", &session.token, json!({ "display_name": "Ann" })).await.assert_status(200);
        app.patch_auth("/api/user/settings", &session.token, json!({ "timezone": "Europe/Paris" })).await.assert_status(200);
        let by_name = app.get(&format!("/api/users/{}", user.username.to_uppercase())).await;
        let body = by_name.assert_status(200);
        assert_keys(body, PROFILE_KEYS);
        assert_eq!(body["display_name"], "Ann");
        let text = body.to_string();
        assert!(!text.contains(&user.email) && !text.contains("Europe/Paris"), "{text}");
        let by_id = app.get(&format!("/api/users/id/{}", user.id)).await;
        assert_eq!(by_id.assert_status(200), body);

        app.get("/api/users/nobody_here").await.assert_error(404, "user_not_found");
        app.get(&format!("/api/users/id/{}", uuid::Uuid::new_v4())).await.assert_error(404, "user_not_found");
        app.get("/api/users/id/not-an-id").await.assert_error(404, "user_not_found");
        app.get(&format!("/api/users/{}", "x".repeat(300))).await.assert_error(404, "user_not_found");
    }

    async fn availability_follows_the_rules_of_registration(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let check = |name: String| {
            let app = &app;
            async move { available(app.get(&format!("/api/users/{name}/available")).await.assert_status(200)) }
        };
        assert!(!check(user.username.clone()).await);
        assert!(!check(user.username.to_uppercase()).await, "taken in any case");
        assert!(check("brand_new_name".into()).await);
        for reserved in ["admin", "Support", "root", "api", "buddo", "id", "search", "me", "available", "health"] {
            // (`/api/users/id/available` is the user with the id "available": "id" is only
            // refused at registration.)
            if reserved != "id" {
                assert!(!check(reserved.into()).await, "{reserved} is reserved");
            }
            if reserved.len() >= 3 {
                let resp = app.register(&format!("{reserved}@example.com"), reserved, "correct horse battery").await;
                resp.assert_error(409, "username_taken");
            }
        }
        for invalid in ["ab", "1abc", "has%20space", "dash-ed", &"x".repeat(31)] {
            assert!(!check(invalid.into()).await, "{invalid} is not a valid name");
        }
        // What the check says is what registration does.
        assert!(check("fresh_name".into()).await);
        app.register("fresh@example.com", "fresh_name", "correct horse battery").await.assert_status(201);
        assert!(!check("FRESH_NAME".into()).await);
    }

    async fn search_finds_names_by_prefix_in_any_case_a_page_at_a_time(backend) {
        let app = TestApp::spawn(backend).await;
        let names = ["Zed_one", "zed_two", "ZED_three", "zedd", "zebra", "zed_four", "zed_five"];
        for name in names {
            app.register(&format!("{name}@example.com"), name, "correct horse battery").await.assert_status(201);
        }
        app.register("other@example.com", "alfred", "correct horse battery").await.assert_status(201);

        let resp = app.get("/api/users/search?q=ZED").await;
        let body = resp.assert_status(200);
        let found: Vec<&str> = body["users"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap()).collect();
        // Ordered by lower-case name; zebra does not match.
        assert_eq!(found, ["zed_five", "zed_four", "Zed_one", "ZED_three", "zed_two", "zedd"]);
        for user in body["users"].as_array().unwrap() {
            assert_keys(user, PROFILE_KEYS);
        }
        assert!(body["next_cursor"].is_null());

        // Two at a time: the same names, once each.
        let mut paged = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                None => "/api/users/search?q=zed&limit=2".to_string(),
                Some(c) => format!("/api/users/search?q=zed&limit=2&cursor={}", urlencode(c)),
            };
            let body = app.get(&path).await.assert_status(200).clone();
            let page = body["users"].as_array().unwrap();
            assert!(page.len() <= 2);
            paged.extend(page.iter().map(|u| u["username"].as_str().unwrap().to_string()));
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(paged, found);
    }

    async fn bad_searches_are_refused(backend) {
        let app = TestApp::spawn(backend).await;
        for q in ["", "%20", "a%25", "a-b", &"x".repeat(31)] {
            let resp = app.get(&format!("/api/users/search?q={q}")).await;
            resp.assert_error(400, "validation_failed");
            assert!(resp.body["fields"]["q"].is_string(), "{q}: {}", resp.body);
        }
        app.get("/api/users/search").await.assert_error(400, "validation_failed");
        for limit in ["0", "51", "-1", "many"] {
            let resp = app.get(&format!("/api/users/search?q=a&limit={limit}")).await;
            assert_eq!(resp.status, 400, "{limit}: {}", resp.body);
        }
        let resp = app.get("/api/users/search?q=a&cursor=bm90LWEtY3Vyc29y").await;
        resp.assert_error(400, "validation_failed");
        assert!(resp.body["fields"]["cursor"].is_string(), "{}", resp.body);
    }

    async fn search_is_rate_limited_per_address(backend) {
        let app = TestApp::spawn_behind_proxy(backend, |c| c.rate_limits.user_search = buddo_shared::config::Limit::new(3, 60)).await;
        for _ in 0..3 {
            app.get_from("203.0.113.7", "/api/users/search?q=ann").await.assert_status(200);
        }
        let resp = app.get_from("203.0.113.7", "/api/users/search?q=ann").await;
        resp.assert_error(429, "rate_limited");
        assert!(resp.headers.contains_key("retry-after"));
        // Another address has its own allowance.
        app.get_from("203.0.113.8", "/api/users/search?q=ann").await.assert_status(200);
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn every_path_word_of_the_api_is_a_reserved_username() {
    for route in buddo::routes().list() {
        for word in route.path.split('/') {
            let valid_name = buddo_shared::domain::input::Username::parse(word).is_ok();
            if valid_name && !word.starts_with('{') {
                assert!(
                    buddo_shared::domain::identity::usernames::is_reserved(&word.to_lowercase()),
                    "{word} (of {}) can be registered as a username",
                    route.path
                );
            }
        }
    }
}
