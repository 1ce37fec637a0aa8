//! `GET`/`PATCH /api/user/profile`: the public profile, trimmed and checked.

use serde_json::json;

use super::PROFILE_KEYS;
use crate::backend_tests;
use crate::helpers::{assert_keys, TestApp};

const PROFILE: &str = "/api/user/profile";

backend_tests! {
    async fn a_new_profile_is_empty_and_public_fields_only(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let resp = app.get_auth(PROFILE, &session.token).await;
        let body = resp.assert_status(200);
        // What others see, and one's live subscription (none yet).
        assert_keys(body, &[PROFILE_KEYS, &["subscription"]].concat());
        assert_eq!(body["subscription"], serde_json::Value::Null);
        assert_eq!(body["id"], user.id.as_str());
        assert_eq!(body["username"], user.username.as_str());
        for field in ["display_name", "bio", "avatar_url", "banner_url"] {
            assert!(body[field].is_null(), "{field}: {body}");
        }
        app.get(PROFILE).await.assert_error(401, "invalid_token");
    }

    async fn fields_are_set_trimmed_kept_and_cleared(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let resp = app.patch_auth(PROFILE, &session.token, json!({
            "display_name": "  Ann Example ",
            "bio": "Likes points.\nAnd tea.",
            "avatar_url": "https://cdn.example.com/a.png",
            "banner_url": "https://cdn.example.com/b.png",
        })).await;
        let body = resp.assert_status(200);
        assert_eq!(body["display_name"], "Ann Example");
        assert_eq!(body["bio"], "Likes points.\nAnd tea.");

        // Left out: kept. null or "": cleared.
        let resp = app.patch_auth(PROFILE, &session.token, json!({ "bio": null, "banner_url": "" })).await;
        let body = resp.assert_status(200);
        assert_eq!(body["display_name"], "Ann Example");
        assert_eq!(body["avatar_url"], "https://cdn.example.com/a.png");
        assert!(body["bio"].is_null() && body["banner_url"].is_null(), "{body}");

        // What a reader sees afterwards, here and publicly.
        let mine = app.get_auth(PROFILE, &session.token).await;
        let public = app.get(&format!("/api/users/{}", user.username)).await;
        let mut own = mine.assert_status(200).clone();
        own.as_object_mut().unwrap().remove("subscription");
        assert_eq!(&own, public.assert_status(200));

        // An empty change changes nothing; unknown fields are ignored.
        let same = app.patch_auth(PROFILE, &session.token, json!({ "favourite_colour": "blue" })).await;
        assert_eq!(same.assert_status(200), mine.assert_status(200));
    }

    async fn bad_fields_are_all_named_and_nothing_is_written(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        app.patch_auth(PROFILE, &session.token, json!({ "display_name": "Kept" })).await.assert_status(200);
        let resp = app.patch_auth(PROFILE, &session.token, json!({
            "display_name": "bell\u{7}",
            "bio": "x".repeat(501),
            "avatar_url": "http://cdn.example.com/a.png",
            "banner_url": "javascript:alert(1)",
        })).await;
        resp.assert_error(400, "validation_failed");
        assert_keys(&resp.body["fields"], &["display_name", "bio", "avatar_url", "banner_url"]);
        for bad in [
            json!({ "display_name": "two\nlines" }),
            json!({ "display_name": "x".repeat(51) }),
            json!({ "avatar_url": "https://user:pw@example.com/a.png" }),
            json!({ "avatar_url": "not a url" }),
            json!({ "avatar_url": format!("https://example.com/{}", "a".repeat(2048)) }),
        ] {
            let field = bad.as_object().unwrap().keys().next().unwrap().clone();
            let resp = app.patch_auth(PROFILE, &session.token, bad).await;
            resp.assert_error(400, "validation_failed");
            assert!(resp.body["fields"][&field].is_string(), "{}", resp.body);
        }
        // A wrong type names the field too.
        let resp = app.patch_auth(PROFILE, &session.token, json!({ "bio": 5 })).await;
        resp.assert_error(400, "validation_failed");
        assert!(resp.body["fields"]["bio"].is_string(), "{}", resp.body);
        let after = app.get_auth(PROFILE, &session.token).await;
        assert_eq!(after.assert_status(200)["display_name"], "Kept");
        assert!(after.body["bio"].is_null());
    }

    async fn me_keeps_the_reference_shape(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let session = app.login_ok(&user).await;
        let before = app.me(&session.token).await.assert_status(200).clone();
        app.patch_auth(PROFILE, &session.token, json!({ "display_name": "Ann", "bio": "hi" })).await.assert_status(200);
        let after = app.me(&session.token).await.assert_status(200).clone();
        let keys = |v: &serde_json::Value| {
            let mut k: Vec<String> = v["user"].as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(keys(&before), keys(&after));
        assert!(after["user"].get("display_name").is_none(), "{after}");
    }
}
