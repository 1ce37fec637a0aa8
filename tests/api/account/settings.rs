//! `GET`/`PATCH /api/user/settings`: defaults on read, partial updates, named field errors.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::TestApp;

const SETTINGS: &str = "/api/user/settings";

backend_tests! {
    async fn settings_read_as_defaults_until_changed(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let resp = app.get_auth(SETTINGS, &session.token).await;
        assert_eq!(resp.assert_status(200), &json!({
            "timezone": "UTC",
            "language": "en",
            "theme": "system",
            "notifications": { "email": true, "push": false, "sms": false },
        }));
        app.get(SETTINGS).await.assert_error(401, "invalid_token");
    }

    async fn an_update_changes_only_what_it_names(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let resp = app.patch_auth(SETTINGS, &session.token, json!({
            "timezone": "America/Argentina/Buenos_Aires",
            "notifications": { "push": true },
        })).await;
        resp.assert_status(200);
        let resp = app.patch_auth(SETTINGS, &session.token, json!({ "language": "pt-BR", "theme": "dark" })).await;
        let expected = json!({
            "timezone": "America/Argentina/Buenos_Aires",
            "language": "pt-BR",
            "theme": "dark",
            "notifications": { "email": true, "push": true, "sms": false },
        });
        assert_eq!(resp.assert_status(200), &expected);
        assert_eq!(app.get_auth(SETTINGS, &session.token).await.assert_status(200), &expected);
        // Another user's settings are their own.
        let other = app.new_user().await;
        let other_session = app.login_ok(&other).await;
        assert_eq!(app.get_auth(SETTINGS, &other_session.token).await.assert_status(200)["theme"], "system");
    }

    async fn invalid_values_are_named_in_fields_and_nothing_changes(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let resp = app.patch_auth(SETTINGS, &session.token, json!({
            "timezone": "Mars/Olympus_Mons",
            "language": "english please",
            "theme": "neon",
        })).await;
        resp.assert_error(400, "validation_failed");
        let fields = resp.body["fields"].as_object().unwrap();
        let mut named: Vec<&str> = fields.keys().map(String::as_str).collect();
        named.sort_unstable();
        assert_eq!(named, ["language", "theme", "timezone"]);
        for (bad, field) in [
            (json!({ "timezone": "europe/paris" }), "timezone"),
            (json!({ "timezone": "" }), "timezone"),
            (json!({ "language": "" }), "language"),
            (json!({ "language": 7 }), "language"),
            (json!({ "theme": null }), "theme"),
            (json!({ "notifications": { "sms": "yes" } }), "notifications.sms"),
            (json!({ "notifications": "all" }), "notifications"),
        ] {
            let resp = app.patch_auth(SETTINGS, &session.token, bad.clone()).await;
            if bad["theme"].is_null() && bad.get("theme").is_some() {
                // null means "leave it": not an error.
                resp.assert_status(200);
                continue;
            }
            resp.assert_error(400, "validation_failed");
            assert!(resp.body["fields"][field].is_string(), "{bad}: {}", resp.body);
        }
        let now = app.get_auth(SETTINGS, &session.token).await;
        assert_eq!(now.assert_status(200)["timezone"], "UTC");
        assert_eq!(now.body["theme"], "system");
    }

    async fn concurrent_updates_of_different_settings_both_hold(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let token = session.token.as_str();
        let changes = [
            json!({ "timezone": "Europe/Paris" }),
            json!({ "language": "fr" }),
            json!({ "theme": "light" }),
            json!({ "notifications": { "email": false } }),
            json!({ "notifications": { "sms": true } }),
        ];
        let sent = changes.iter().map(|c| app.patch_auth(SETTINGS, token, c.clone()));
        for resp in futures::future::join_all(sent).await {
            resp.assert_status(200);
        }
        let resp = app.get_auth(SETTINGS, token).await;
        assert_eq!(resp.assert_status(200), &json!({
            "timezone": "Europe/Paris",
            "language": "fr",
            "theme": "light",
            "notifications": { "email": false, "push": false, "sms": true },
        }));
    }
}
