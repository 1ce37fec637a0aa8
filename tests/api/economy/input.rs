//! What users and apps type cannot spoof or inject: image and web-site URLs (profile avatar and
//! banner, app logo and web site) are stored as the URL parser serialises them (quotes and
//! angle brackets percent-encoded) and may not point at this machine or a private, link-local
//! or unspecified address; names, descriptions and bios refuse bidi controls and other
//! invisible format characters (Unicode Cf). Each refusal is 400 `validation_failed` naming
//! the field.

use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Resp, TestApp};

const PROFILE: &str = "/api/user/profile";

/// Hosts no URL shown to others may point at.
const LOCAL_URLS: &[&str] = &[
    "https://localhost/",
    "https://app.localhost/a.png",
    "https://127.0.0.1/",
    "https://10.0.0.1/",
    "https://172.16.5.4/",
    "https://192.168.0.1/",
    "https://[::1]/",
    "https://[fd00::1]/",
    "https://[fe80::1]/",
    "https://169.254.169.254/latest/meta-data/",
    "https://0.0.0.0/",
    "https://[::]/",
    "https://[::ffff:127.0.0.1]/",
    "https://2130706433/",
];

/// Names with invisible characters that reorder or hide what a reader sees.
const SPOOFED: &[&str] = &[
    "admin\u{202E}gnp.exe",
    "ad\u{200B}min",
    "\u{2066}Buddo\u{2069}",
    "\u{FEFF}Buddo",
    "Bud\u{00AD}do",
];

#[track_caller]
fn assert_field_refused(resp: &Resp, field: &str) {
    resp.assert_error(400, "validation_failed");
    assert!(
        resp.body["fields"][field].is_string(),
        "{field}: {}",
        resp.body
    );
}

fn new_app(name: &str) -> Value {
    json!({
        "app_name": name,
        "redirect_uris": ["https://quest.example/cb"],
    })
}

/// Each value is refused in each of the two profile fields, which stay empty.
async fn assert_profile_refuses(app: &TestApp, token: &str, values: &[&str], fields: [&str; 2]) {
    for value in values {
        for field in fields {
            let resp = app
                .patch_auth(PROFILE, token, json!({ field: value }))
                .await;
            assert_field_refused(&resp, field);
        }
    }
    let body = app
        .get_auth(PROFILE, token)
        .await
        .assert_status(200)
        .clone();
    assert!(
        body[fields[0]].is_null() && body[fields[1]].is_null(),
        "{body}"
    );
}

backend_tests! {
    async fn profile_urls_are_stored_encoded(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let token = app.login_ok(&user).await.token;
        app.patch_auth(PROFILE, &token, json!({
            "avatar_url": "https://x.example/a\"><script>",
            "banner_url": "https://CDN.Example/b.png?x=\"'<>",
        })).await.assert_status(200);
        let body = app.get_auth(PROFILE, &token).await.assert_status(200).clone();
        assert_eq!(body["avatar_url"], "https://x.example/a%22%3E%3Cscript%3E");
        assert_eq!(body["banner_url"], "https://cdn.example/b.png?x=%22%27%3C%3E");
        for field in ["avatar_url", "banner_url"] {
            let stored = body[field].as_str().unwrap();
            assert!(!stored.contains(['"', '<', '>', '\'']), "{stored}");
        }
        // The public profile shows the same.
        let public = app.get(&format!("/api/users/{}", user.username)).await;
        assert_eq!(public.assert_status(200)["avatar_url"], body["avatar_url"]);
    }

    async fn profile_urls_on_local_hosts_are_refused(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let token = app.login_ok(&user).await.token;
        assert_profile_refuses(&app, &token, LOCAL_URLS, ["avatar_url", "banner_url"]).await;
        // A public host is fine.
        app.patch_auth(PROFILE, &token, json!({ "avatar_url": "https://8.8.8.8/a.png" })).await.assert_status(200);
    }

    async fn profile_text_with_invisible_characters_is_refused(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let token = app.login_ok(&user).await.token;
        assert_profile_refuses(&app, &token, SPOOFED, ["display_name", "bio"]).await;
        // Letters of any script, accents and emoji are fine.
        app.patch_auth(PROFILE, &token, json!({ "display_name": "Zoë عربي 🎉" })).await.assert_status(200);
    }

    async fn app_names_descriptions_and_urls_are_checked(backend) {
        let app = TestApp::spawn(backend).await;
        let owner = app.new_verified_user().await;
        let token = app.login_ok(&owner).await.token;
        for name in SPOOFED {
            let resp = app.post_auth("/api/oauth/apps", &token, Some(new_app(name))).await;
            assert_field_refused(&resp, "app_name");
            let mut body = new_app("Quest Log");
            body["app_description"] = json!(format!("Official {name}"));
            let resp = app.post_auth("/api/oauth/apps", &token, Some(body)).await;
            assert_field_refused(&resp, "app_description");
        }
        for url in LOCAL_URLS {
            for field in ["logo_url", "website_url"] {
                let mut body = new_app("Quest Log");
                body[field] = json!(url);
                let resp = app.post_auth("/api/oauth/apps", &token, Some(body)).await;
                assert_field_refused(&resp, field);
            }
        }
        assert!(app.get_auth("/api/oauth/my-apps", &token).await.assert_status(200).as_array().unwrap().is_empty());

        // Registered with URLs that need encoding: stored encoded.
        let mut body = new_app("Quest Log");
        body["logo_url"] = json!("https://cdn.example/logo\"><img src=x>.png");
        body["website_url"] = json!("https://Quest.Example");
        let created = app.post_auth("/api/oauth/apps", &token, Some(body)).await;
        let created = created.assert_status(201)["app"].clone();
        assert_eq!(created["logo_url"], "https://cdn.example/logo%22%3E%3Cimg%20src=x%3E.png");
        assert_eq!(created["website_url"], "https://quest.example/");

        // Changes are checked the same way.
        let path = format!("/api/oauth/my-apps/{}", created["id"].as_str().unwrap());
        assert_field_refused(&app.put_auth(&path, &token, json!({ "app_name": "Quest\u{202E}Log" })).await, "app_name");
        assert_field_refused(&app.put_auth(&path, &token, json!({ "app_description": "a\u{200B}b" })).await, "app_description");
        assert_field_refused(&app.put_auth(&path, &token, json!({ "logo_url": "https://127.0.0.1/logo.png" })).await, "logo_url");
        assert_field_refused(&app.put_auth(&path, &token, json!({ "website_url": "https://[::1]/" })).await, "website_url");
        let updated = app.put_auth(&path, &token, json!({ "logo_url": "https://cdn.example/<new>.png" })).await;
        assert_eq!(updated.assert_status(200)["logo_url"], "https://cdn.example/%3Cnew%3E.png");
        assert_eq!(updated.body["app_name"], "Quest Log");
    }
}
