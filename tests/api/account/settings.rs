//! `GET`/`PATCH /api/user/settings`: defaults on read, partial updates, named field errors,
//! marketing consent with its time and activity entries, the app's own preferences.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{TestApp, TestUser};

const SETTINGS: &str = "/api/user/settings";

/// The kinds of the user's activity entries, newest first.
async fn activity_kinds(app: &TestApp, token: &str) -> Vec<String> {
    let resp = app.get_auth("/api/user/activity", token).await;
    resp.assert_status(200)["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .collect()
}

fn consent_kinds(kinds: &[String]) -> Vec<&str> {
    kinds
        .iter()
        .map(String::as_str)
        .filter(|k| k.starts_with("marketing_consent"))
        .collect()
}

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
            "marketing_opt_in": false,
            "marketing_opt_in_at": null,
            "preferences": {},
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
            "marketing_opt_in": false,
            "marketing_opt_in_at": null,
            "preferences": {},
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
            "marketing_opt_in": false,
            "marketing_opt_in_at": null,
            "preferences": {},
        }));
    }

    async fn marketing_consent_is_given_and_withdrawn_with_its_time_and_activity(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let token = app.login_ok(&user).await.token;
        let start = app.get_auth(SETTINGS, &token).await;
        assert_eq!(start.assert_status(200)["marketing_opt_in"], false);

        // Withdrawing what was never given changes nothing and records nothing.
        let resp = app.patch_auth(SETTINGS, &token, json!({ "marketing_opt_in": false })).await;
        assert_eq!(resp.assert_status(200)["marketing_opt_in_at"], Value::Null);
        assert!(consent_kinds(&activity_kinds(&app, &token).await).is_empty());

        app.clock.advance(60);
        let given = app.patch_auth(SETTINGS, &token, json!({ "marketing_opt_in": true, "theme": "dark" })).await;
        let given = given.assert_status(200).clone();
        assert_eq!(given["marketing_opt_in"], true);
        assert_eq!(given["theme"], "dark");
        let given_at = given["marketing_opt_in_at"].as_str().unwrap().to_string();
        assert_eq!(app.get_auth(SETTINGS, &token).await.assert_status(200), &given);
        assert_eq!(consent_kinds(&activity_kinds(&app, &token).await), ["marketing_consent_given"]);

        // Giving it again is nothing new: the time stays, no entry.
        app.clock.advance(60);
        let again = app.patch_auth(SETTINGS, &token, json!({ "marketing_opt_in": true })).await;
        assert_eq!(again.assert_status(200)["marketing_opt_in_at"], given_at.as_str());
        assert_eq!(consent_kinds(&activity_kinds(&app, &token).await), ["marketing_consent_given"]);

        let withdrawn = app.patch_auth(SETTINGS, &token, json!({ "marketing_opt_in": false })).await;
        assert_eq!(withdrawn.assert_status(200)["marketing_opt_in"], false);
        let withdrawn_at = withdrawn.body["marketing_opt_in_at"].as_str().unwrap();
        assert!(withdrawn_at > given_at.as_str(), "{withdrawn_at} after {given_at}");
        let kinds = activity_kinds(&app, &token).await;
        assert_eq!(consent_kinds(&kinds), ["marketing_consent_withdrawn", "marketing_consent_given"]);
        let filtered = app.get_auth("/api/user/activity?kind=marketing_consent_withdrawn", &token).await;
        assert_eq!(filtered.assert_status(200)["activity"].as_array().unwrap().len(), 1);

        // Many at once: one change, one entry.
        let sent = (0..4).map(|_| app.patch_auth(SETTINGS, &token, json!({ "marketing_opt_in": true })));
        for resp in futures::future::join_all(sent).await {
            assert_eq!(resp.assert_status(200)["marketing_opt_in"], true);
        }
        let kinds = activity_kinds(&app, &token).await;
        assert_eq!(consent_kinds(&kinds), ["marketing_consent_given", "marketing_consent_withdrawn", "marketing_consent_given"]);
        app.patch_auth(SETTINGS, &token, json!({ "marketing_opt_in": "yes" })).await.assert_error(400, "validation_failed");
    }

    async fn registering_may_give_marketing_consent(backend) {
        let app = TestApp::spawn(backend).await;
        for (name, opt_in) in [("optsin", Some(true)), ("optsout", Some(false)), ("silent", None)] {
            let username = format!("{name}_{}", &uuid::Uuid::new_v4().simple().to_string()[..6]);
            let email = format!("{username}@example.com");
            let password = format!("pw-{username}-secret");
            let mut body = json!({ "email": email, "username": username, "password": password });
            if let Some(v) = opt_in {
                body["marketing_opt_in"] = json!(v);
            }
            let resp = app.post("/api/auth/register", body).await;
            let id = resp.assert_status(201)["user"]["id"].as_str().unwrap().to_string();
            let user = TestUser { id, username, email, password, referral_code: String::new() };
            let token = app.login_ok(&user).await.token;
            let settings = app.get_auth(SETTINGS, &token).await;
            let settings = settings.assert_status(200);
            assert_eq!(settings["marketing_opt_in"], opt_in == Some(true), "{name}");
            assert_eq!(settings["marketing_opt_in_at"].is_string(), opt_in == Some(true), "{name}");
        }
        let resp = app.post("/api/auth/register", json!({
            "email": "badconsent@example.com", "username": "badconsent", "password": "pw-badconsent-secret",
            "marketing_opt_in": "sure",
        })).await;
        resp.assert_error(400, "validation_failed");
        assert!(resp.body["fields"]["marketing_opt_in"].is_string(), "{}", resp.body);
    }

    async fn preferences_merge_and_null_removes_a_key(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let token = app.login_ok(&user).await.token;
        let resp = app.patch_auth(SETTINGS, &token, json!({
            "preferences": { "oddsFormat": "decimal", "stake.default": 2.5, "sound": true, "count": 3 },
        })).await;
        assert_eq!(resp.assert_status(200)["preferences"], json!({
            "oddsFormat": "decimal", "stake.default": 2.5, "sound": true, "count": 3,
        }));
        let resp = app.patch_auth(SETTINGS, &token, json!({
            "preferences": { "oddsFormat": "fractional", "sound": null, "never-set": null, "whole": 4.0 },
            "language": "fr",
        })).await;
        let expected = json!({ "oddsFormat": "fractional", "stake.default": 2.5, "count": 3, "whole": 4 });
        assert_eq!(resp.assert_status(200)["preferences"], expected);
        assert_eq!(resp.body["language"], "fr");
        assert_eq!(app.get_auth(SETTINGS, &token).await.assert_status(200)["preferences"], expected);
        // Other settings leave the preferences alone.
        let resp = app.patch_auth(SETTINGS, &token, json!({ "theme": "light", "preferences": {} })).await;
        assert_eq!(resp.assert_status(200)["preferences"], expected);
    }

    async fn preferences_are_limited_and_bad_ones_are_named(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let token = app.login_ok(&user).await.token;
        let resp = app.patch_auth(SETTINGS, &token, json!({
            "preferences": { "list": [1], "obj": { "a": 1 }, "fine": "yes", "bad key": 1, "long": "x".repeat(257), "huge": 1e300 },
            "theme": "neon",
        })).await;
        resp.assert_error(400, "validation_failed");
        let fields = resp.body["fields"].as_object().unwrap();
        let mut named: Vec<&str> = fields.keys().map(String::as_str).collect();
        named.sort_unstable();
        assert_eq!(named, ["preferences.bad key", "preferences.huge", "preferences.list", "preferences.long", "preferences.obj", "theme"]);
        app.patch_auth(SETTINGS, &token, json!({ "preferences": ["a"] })).await.assert_error(400, "validation_failed");
        app.patch_auth(SETTINGS, &token, json!({ "preferences": { "k".repeat(65): 1 } })).await.assert_error(400, "validation_failed");
        assert_eq!(app.get_auth(SETTINGS, &token).await.assert_status(200)["preferences"], json!({}));

        // 32 keys in all: the 33rd is refused, unless one goes in the same update.
        let thirty: serde_json::Map<String, Value> = (0..30).map(|i| (format!("k{i:02}"), json!(i))).collect();
        app.patch_auth(SETTINGS, &token, json!({ "preferences": thirty })).await.assert_status(200);
        let resp = app.patch_auth(SETTINGS, &token, json!({ "preferences": { "a": 1, "b": 2, "c": 3 } })).await;
        resp.assert_error(400, "validation_failed");
        assert!(resp.body["fields"]["preferences"].is_string(), "{}", resp.body);
        let resp = app.patch_auth(SETTINGS, &token, json!({ "preferences": { "a": 1, "b": 2, "c": 3, "k00": null } })).await;
        assert_eq!(resp.assert_status(200)["preferences"].as_object().unwrap().len(), 32);
        // Overwriting keys that are there adds none.
        let resp = app.patch_auth(SETTINGS, &token, json!({ "preferences": { "a": "one", "k01": false } })).await;
        assert_eq!(resp.assert_status(200)["preferences"].as_object().unwrap().len(), 32);
        assert_eq!(resp.body["preferences"]["a"], "one");
    }

    async fn concurrent_updates_of_different_preferences_all_hold_within_the_limit(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let token = app.login_ok(&user).await.token;
        let base: serde_json::Map<String, Value> = (0..28).map(|i| (format!("base{i:02}"), json!(i))).collect();
        app.patch_auth(SETTINGS, &token, json!({ "preferences": base })).await.assert_status(200);
        // Four new keys fit, each sent on its own at once.
        let sent = (0..4).map(|i| app.patch_auth(SETTINGS, &token, json!({ "preferences": { format!("new{i}"): i } })));
        for resp in futures::future::join_all(sent).await {
            resp.assert_status(200);
        }
        let prefs = app.get_auth(SETTINGS, &token).await.assert_status(200)["preferences"].clone();
        assert_eq!(prefs.as_object().unwrap().len(), 32);
        for i in 0..4 {
            assert_eq!(prefs[format!("new{i}")], i);
        }
        // Now full: of two more keys sent at once, none fits.
        let sent = (0..2).map(|i| app.patch_auth(SETTINGS, &token, json!({ "preferences": { format!("more{i}"): i } })));
        for resp in futures::future::join_all(sent).await {
            resp.assert_error(400, "validation_failed");
        }
        // Freeing two while two are added at once leaves exactly 32.
        let sent = [
            app.patch_auth(SETTINGS, &token, json!({ "preferences": { "base00": null } })),
            app.patch_auth(SETTINGS, &token, json!({ "preferences": { "base01": null } })),
        ];
        for resp in futures::future::join_all(sent).await {
            resp.assert_status(200);
        }
        let sent = (0..3).map(|i| app.patch_auth(SETTINGS, &token, json!({ "preferences": { format!("late{i}"): i } })));
        let answers = futures::future::join_all(sent).await;
        let ok = answers.iter().filter(|r| r.status == 200).count();
        for resp in &answers {
            assert!(resp.status == 200 || resp.status == 400 || resp.status == 409, "{} {}", resp.status, resp.body);
        }
        assert_eq!(ok, 2, "{:?}", answers.iter().map(|r| &r.body).collect::<Vec<_>>());
        let prefs = app.get_auth(SETTINGS, &token).await.assert_status(200)["preferences"].clone();
        assert_eq!(prefs.as_object().unwrap().len(), 32);
    }
}
