//! Bad input gets a 4xx with the error shape (docs/architecture.md, "Errors"), never a 500.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

backend_tests! {
    async fn malformed_bodies_get_the_error_shape(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let posts = [
            "/api/auth/register", "/api/auth/login", "/api/auth/forgot-password", "/api/auth/reset-password",
            "/api/auth/verify-email", "/api/auth/refresh", "/api/auth/change-email/confirm",
        ];
        for path in posts {
            app.post_raw(path, None, "{\"email\": ").await.assert_error(400, "malformed_json");
            app.post_raw(path, None, "[1, 2]").await.assert_error(400, "invalid_request");
            // A field left out, or of the wrong type, is named.
            let resp = app.post_raw(path, None, "{}").await;
            resp.assert_error(400, "validation_failed");
            assert!(resp.body["fields"].as_object().unwrap().values().any(|r| r == "is required"), "{path}: {}", resp.body);
            let resp = app.post_raw(path, None, "{\"email\": 5, \"password\": [], \"token\": {}, \"username\": true, \"refresh_token\": 1}").await;
            resp.assert_error(400, "validation_failed");
            assert!(resp.body["fields"].as_object().unwrap().values().all(|r| r.as_str().unwrap().starts_with("invalid type")), "{path}: {}", resp.body);
        }
        let authed = [
            "/api/auth/totp/enable", "/api/auth/totp/verify", "/api/auth/totp/disable", "/api/auth/totp/recovery-codes",
            "/api/auth/change-password", "/api/auth/change-email",
        ];
        for path in authed {
            app.post_raw(path, Some(&session.token), "not json").await.assert_error(400, "malformed_json");
            app.post_raw(path, Some(&session.token), "{}").await.assert_error(400, "validation_failed");
        }
    }

    async fn missing_field_messages_name_the_field(backend) {
        let app = TestApp::spawn(backend).await;
        let resp = app.post("/api/auth/login", json!({ "email": "a@example.com" })).await;
        resp.assert_error(400, "validation_failed");
        assert_eq!(resp.body["fields"], json!({ "password": "is required" }));
    }

    async fn unknown_fields_are_ignored(backend) {
        let app = TestApp::spawn(backend).await;
        let resp = app.post("/api/auth/register", json!({
            "email": "ann@example.com", "username": "ann", "password": "correct horse battery", "favourite_colour": "blue"
        })).await;
        resp.assert_status(201);
    }

    async fn oversized_bodies_get_413(backend) {
        let app = TestApp::spawn(backend).await;
        let huge = format!("{{\"email\": \"{}\"}}", "a".repeat(70 * 1024));
        app.post_raw("/api/auth/forgot-password", None, huge).await.assert_error(413, "payload_too_large");
    }

    async fn every_body_over_the_limit_gets_413_in_the_error_shape(backend) {
        // Every operation the API description says takes a body, with a credential that gets
        // it past authentication, so that the body is what is refused.
        let app = TestApp::spawn(backend).await;
        let admin = app.new_user().await;
        app.promote(&admin).await;
        let jwt = app.login_ok(&admin).await.token;
        let oauth = app.operated(&crate::helpers::ALL_SCOPES).await.access_token;
        let doc: serde_json::Value = serde_json::from_str(&buddo::openapi_json()).unwrap();
        let huge = format!("{{\"email\": \"{}\"}}", "a".repeat(70 * 1024));
        let mut checked = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let Some(content) = op["requestBody"]["content"].as_object() else { continue };
                // The user import takes up to 256 KiB: tests/api/account/import_export.rs.
                if path == "/api/admin/users/import" { continue }
                let content_type = content.keys().next().unwrap().clone();
                let concrete: String = path.split('/')
                    .map(|s| if s.starts_with('{') { uuid::Uuid::new_v4().to_string() } else { s.to_string() })
                    .collect::<Vec<_>>().join("/");
                let token = if path.starts_with("/api/external/") { &oauth } else { &jwt };
                let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
                let resp = app.client.request(method.clone(), app.url(&concrete)).bearer_auth(token)
                    .header("content-type", content_type).body(huge.clone()).send().await.unwrap();
                let resp = TestApp::read(resp).await;
                assert_eq!(resp.status, 413, "{method} {path}: {}", resp.body);
                resp.assert_error(413, "payload_too_large");
                checked += 1;
            }
        }
        assert!(checked >= 25, "{checked}");
    }

    async fn wrong_content_type_gets_415(backend) {
        let app = TestApp::spawn(backend).await;
        let resp = app
            .client
            .post(app.url("/api/auth/login"))
            .header("content-type", "text/plain")
            .body("{\"email\": \"a@example.com\", \"password\": \"x\"}")
            .send()
            .await
            .unwrap();
        TestApp::read(resp).await.assert_error(415, "unsupported_media_type");
    }

    async fn unknown_routes_and_methods_get_json_errors(backend) {
        let app = TestApp::spawn(backend).await;
        let resp = app.client.get(app.url("/api/auth/nothing-here")).send().await.unwrap();
        TestApp::read(resp).await.assert_error(404, "not_found");
        let resp = app.client.get(app.url("/api/auth/login")).send().await.unwrap();
        TestApp::read(resp).await.assert_error(405, "method_not_allowed");
    }

    async fn cors_preflight_is_answered(backend) {
        let app = TestApp::spawn(backend).await;
        let resp = app
            .client
            .request(reqwest::Method::OPTIONS, app.url("/api/auth/login"))
            .header("origin", "https://app.example")
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
        assert_eq!(resp.headers()["access-control-allow-origin"], "*");
        // Exactly the methods some route answers.
        let mut allowed: Vec<String> = resp.headers()["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_string())
            .collect();
        allowed.sort();
        let mut methods: Vec<String> = buddo::routes().methods().iter().map(|m| m.to_string()).collect();
        methods.sort();
        assert_eq!(allowed, methods);
    }
}
