//! Profile images: upload forms, uploads posted as a browser posts them, completion, removal;
//! each scenario against both image stores (moto's S3 and the local store) on both table
//! backends.
//!
//! moto accepts any POST to a bucket without evaluating its policy, so on S3 the policy's
//! rules (type, size) are checked here through completion, which checks them again; the
//! policy document itself is checked in shared/src/images/s3.rs. The local store evaluates
//! its policies as S3 does.

use std::io::Cursor;

use buddo_shared::config::{ImageStoreConfig, ImagesConfig};
use image::ImageFormat;
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{ses_endpoint, Backend, Resp, TestApp};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Store {
    S3,
    Local,
}

const STORES: [Store; 2] = [Store::S3, Store::Local];
const MIB: usize = 1024 * 1024;

/// The app over a fresh bucket on moto, or over the local store in its own data dir.
async fn spawn(backend: Backend, store: Store) -> TestApp {
    match store {
        Store::Local => TestApp::spawn(backend).await,
        Store::S3 => {
            // moto serves S3 on the port it serves SES on.
            let endpoint = ses_endpoint();
            let bucket = format!("images-{}", uuid::Uuid::new_v4().simple());
            let created = reqwest::Client::new()
                .put(format!("{endpoint}/{bucket}"))
                .send()
                .await
                .expect("moto");
            assert!(
                created.status().is_success(),
                "creating the bucket: {created:?}"
            );
            TestApp::spawn_with(backend, |config| {
                config.images = ImagesConfig {
                    public_url: Some(format!("{endpoint}/{bucket}")),
                    store: ImageStoreConfig::S3 {
                        bucket,
                        endpoint: Some(endpoint),
                    },
                };
            })
            .await
        }
    }
}

fn encode(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image::RgbImage::from_fn(width, height, |x, y| image::Rgb([x as u8, y as u8, 128]))
        .write_to(&mut out, format)
        .expect("encoding");
    out.into_inner()
}

fn png(width: u32, height: u32) -> Vec<u8> {
    encode(width, height, ImageFormat::Png)
}

/// A signed-in user of a new app, and their token.
async fn signed_in(app: &TestApp) -> (crate::helpers::TestUser, String) {
    let user = app.new_user().await;
    let token = app.login_ok(&user).await.token;
    (user, token)
}

async fn start(app: &TestApp, token: &str, slot: &str, content_type: &str) -> Value {
    let resp = app
        .post_auth(
            &format!("/api/user/profile/{slot}"),
            token,
            Some(json!({ "content_type": content_type })),
        )
        .await;
    resp.assert_status(200).clone()
}

/// Posts the form as a browser would: its fields as given (`changes` replacing some), then
/// the file.
async fn post_form(
    app: &TestApp,
    upload: &Value,
    changes: &[(&str, &str)],
    bytes: Vec<u8>,
) -> StatusCode {
    let mut form = Form::new();
    for (name, value) in upload["upload"]["fields"].as_object().expect("fields") {
        let value = changes
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.to_string())
            .unwrap_or_else(|| value.as_str().expect("a string").to_string());
        form = form.text(name.clone(), value);
    }
    form = form.part("file", Part::bytes(bytes).file_name("image"));
    let url = upload["upload"]["url"].as_str().expect("url");
    let resp = app
        .client
        .post(url)
        .multipart(form)
        .send()
        .await
        .expect("posting the form");
    resp.status()
}

async fn complete(app: &TestApp, token: &str, slot: &str, key: &Value) -> Resp {
    app.post_auth(
        &format!("/api/user/profile/{slot}/complete"),
        token,
        Some(json!({ "key": key })),
    )
    .await
}

/// Starts, posts and completes an upload; the completion's answer.
async fn upload(
    app: &TestApp,
    token: &str,
    slot: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> Resp {
    let form = start(app, token, slot, content_type).await;
    let posted = post_form(app, &form, &[], bytes).await;
    assert!(posted.is_success(), "posting the form: {posted}");
    complete(app, token, slot, &form["key"]).await
}

async fn public_profile(app: &TestApp, username: &str) -> Value {
    app.get(&format!("/api/users/{username}"))
        .await
        .assert_status(200)
        .clone()
}

/// A published image as its readers get it: from the local server, or on S3 (whose bucket
/// is private: moto refuses anonymous reads, and on AWS only the CDN reads it) the object
/// the URL names, read with the API's credentials.
async fn fetch(app: &TestApp, store: Store, url: &str) -> (StatusCode, Vec<u8>) {
    if store == Store::S3 {
        let images = &app.state.images;
        let key = images.key_of(url).expect("a URL under IMAGES_PUBLIC_URL");
        return match images.store.get(key).await.expect("reading S3") {
            Some(bytes) => (StatusCode::OK, bytes),
            None => (StatusCode::NOT_FOUND, Vec::new()),
        };
    }
    let resp = app
        .client
        .get(url)
        .send()
        .await
        .expect("fetching the image");
    let status = resp.status();
    (status, resp.bytes().await.expect("body").to_vec())
}

async fn published_and_replaced(backend: Backend, store: Store) {
    let app = spawn(backend, store).await;
    let (user, token) = signed_in(&app).await;

    let form = start(&app, &token, "avatar", "image/png").await;
    let key = form["key"].as_str().unwrap();
    assert!(key.starts_with(&format!("uploads/{}/", user.id)), "{key}");
    assert_eq!(form["upload"]["fields"]["key"], key);
    assert_eq!(form["upload"]["fields"]["Content-Type"], "image/png");
    assert!(form["expires_at"].as_str().is_some());

    // Completing before the file is there leaves the form usable.
    complete(&app, &token, "avatar", &form["key"])
        .await
        .assert_error(400, "upload_not_found");
    let image = png(32, 24);
    assert!(post_form(&app, &form, &[], image.clone())
        .await
        .is_success());
    let profile = complete(&app, &token, "avatar", &form["key"]).await;
    let avatar = profile.assert_status(200)["avatar_url"]
        .as_str()
        .expect("an avatar")
        .to_string();
    assert!(
        avatar.ends_with(".png") && avatar.contains(&format!("/avatars/{}/", user.id)),
        "{avatar}"
    );

    // Everyone sees it, and it is served as uploaded.
    assert_eq!(
        public_profile(&app, &user.username).await["avatar_url"],
        avatar.as_str()
    );
    assert_eq!(fetch(&app, store, &avatar).await, (StatusCode::OK, image));
    // The upload itself is gone.
    if store == Store::Local {
        let (status, _) = fetch(&app, store, &app.url(&format!("/local/images/{key}"))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }

    // Banners are their own slot; JPEG and WebP are accepted too.
    let banner = upload(
        &app,
        &token,
        "banner",
        "image/jpeg",
        encode(800, 200, ImageFormat::Jpeg),
    )
    .await;
    let banner = banner.assert_status(200)["banner_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(banner.ends_with(".jpg"), "{banner}");
    let replaced = upload(
        &app,
        &token,
        "avatar",
        "image/webp",
        encode(64, 64, ImageFormat::WebP),
    )
    .await;
    let body = replaced.assert_status(200);
    let second = body["avatar_url"].as_str().unwrap().to_string();
    assert!(second.ends_with(".webp") && second != avatar, "{second}");
    assert_eq!(body["banner_url"], banner.as_str());
    // The replaced image is deleted.
    assert_eq!(fetch(&app, store, &avatar).await.0, StatusCode::NOT_FOUND);
    assert_eq!(fetch(&app, store, &second).await.0, StatusCode::OK);

    // Removing clears the URL and deletes the image; the banner stays.
    let removed = app.delete_auth("/api/user/profile/avatar", &token).await;
    assert!(removed.assert_status(200)["avatar_url"].is_null());
    let public = public_profile(&app, &user.username).await;
    assert!(public["avatar_url"].is_null());
    assert_eq!(public["banner_url"], banner.as_str());
    assert_eq!(fetch(&app, store, &second).await.0, StatusCode::NOT_FOUND);
    // Removing nothing is no error.
    app.delete_auth("/api/user/profile/avatar", &token)
        .await
        .assert_status(200);
    let removed = app.delete_auth("/api/user/profile/banner", &token).await;
    assert!(removed.assert_status(200)["banner_url"].is_null());
    assert_eq!(fetch(&app, store, &banner).await.0, StatusCode::NOT_FOUND);

    // Signed-in only.
    app.post(
        "/api/user/profile/avatar",
        json!({ "content_type": "image/png" }),
    )
    .await
    .assert_error(401, "invalid_token");
}

async fn wrong_types_are_refused(backend: Backend, store: Store) {
    let app = spawn(backend, store).await;
    let (user, token) = signed_in(&app).await;
    for bad in ["image/gif", "image/svg+xml", "text/html", ""] {
        let resp = app
            .post_auth(
                "/api/user/profile/avatar",
                &token,
                Some(json!({ "content_type": bad })),
            )
            .await;
        resp.assert_error(400, "validation_failed");
        assert!(
            resp.body["fields"]["content_type"].is_string(),
            "{}",
            resp.body
        );
    }

    // A form whose content type was changed: the store refuses it (moto does not check).
    let form = start(&app, &token, "avatar", "image/png").await;
    let posted = post_form(&app, &form, &[("Content-Type", "text/html")], png(16, 16)).await;
    if store == Store::Local {
        assert_eq!(posted, StatusCode::FORBIDDEN);
        // Nor another key than the one it was handed out for.
        let other = format!("uploads/{}/{}", user.id, uuid::Uuid::new_v4().simple());
        let posted = post_form(&app, &form, &[("key", &other)], png(16, 16)).await;
        assert_eq!(posted, StatusCode::FORBIDDEN);
    }

    // Declared as JPEG, uploaded as PNG: not what it claimed to be.
    let form = start(&app, &token, "avatar", "image/jpeg").await;
    assert!(post_form(&app, &form, &[], png(16, 16)).await.is_success());
    complete(&app, &token, "avatar", &form["key"])
        .await
        .assert_error(400, "invalid_image");
    assert!(public_profile(&app, &user.username).await["avatar_url"].is_null());
}

async fn too_large_is_refused(backend: Backend, store: Store) {
    let app = spawn(backend, store).await;
    let (user, token) = signed_in(&app).await;
    // A valid PNG with 5 MiB of trailing bytes: only its size is wrong.
    let mut big = png(16, 16);
    big.resize(5 * MIB + 1, 0);
    let form = start(&app, &token, "avatar", "image/png").await;
    let posted = post_form(&app, &form, &[], big).await;
    if store == Store::Local {
        assert_eq!(posted, StatusCode::BAD_REQUEST);
        complete(&app, &token, "avatar", &form["key"])
            .await
            .assert_error(400, "upload_not_found");
    } else {
        assert!(posted.is_success(), "{posted}");
        complete(&app, &token, "avatar", &form["key"])
            .await
            .assert_error(400, "image_too_large");
    }
    assert!(public_profile(&app, &user.username).await["avatar_url"].is_null());
    // Exactly 5 MiB is fine.
    let mut largest = png(16, 16);
    largest.resize(5 * MIB, 0);
    upload(&app, &token, "avatar", "image/png", largest)
        .await
        .assert_status(200);
}

async fn not_an_image_changes_nothing(backend: Backend, store: Store) {
    let app = spawn(backend, store).await;
    let (user, token) = signed_in(&app).await;
    let kept = upload(&app, &token, "avatar", "image/png", png(16, 16)).await;
    let kept = kept.assert_status(200)["avatar_url"].clone();

    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "invalid_image",
            b"just some text, saved as avatar.png\n".to_vec(),
        ),
        ("invalid_image", {
            let mut cut = png(64, 64);
            cut.truncate(cut.len() / 2);
            cut
        }),
    ];
    for (code, bytes) in cases {
        let form = start(&app, &token, "avatar", "image/png").await;
        assert!(post_form(&app, &form, &[], bytes).await.is_success());
        complete(&app, &token, "avatar", &form["key"])
            .await
            .assert_error(400, code);
        // The key is used up.
        complete(&app, &token, "avatar", &form["key"])
            .await
            .assert_error(400, "upload_not_found");
    }
    assert_eq!(
        public_profile(&app, &user.username).await["avatar_url"],
        kept
    );
    assert_eq!(
        fetch(&app, store, kept.as_str().unwrap()).await.0,
        StatusCode::OK
    );
}

async fn dimensions_are_bounded(backend: Backend, store: Store) {
    let app = spawn(backend, store).await;
    let (user, token) = signed_in(&app).await;
    for (slot, width, height) in [
        ("avatar", 4097, 16),
        ("avatar", 16, 4097),
        ("avatar", 15, 100),
        ("banner", 8193, 16),
        ("banner", 100, 4097),
    ] {
        upload(&app, &token, slot, "image/png", png(width, height))
            .await
            .assert_error(400, "invalid_image_size");
    }
    let profile = public_profile(&app, &user.username).await;
    assert!(profile["avatar_url"].is_null() && profile["banner_url"].is_null());
    upload(&app, &token, "banner", "image/png", png(8192, 16))
        .await
        .assert_status(200);
}

async fn keys_are_single_use_and_their_owners(backend: Backend, store: Store) {
    let app = spawn(backend, store).await;
    let (owner, owner_token) = signed_in(&app).await;
    let (other, other_token) = signed_in(&app).await;
    let form = start(&app, &owner_token, "avatar", "image/png").await;
    assert!(post_form(&app, &form, &[], png(16, 16)).await.is_success());

    // Not another user's, not another slot's, not one made up.
    complete(&app, &other_token, "avatar", &form["key"])
        .await
        .assert_error(400, "upload_not_found");
    complete(&app, &owner_token, "banner", &form["key"])
        .await
        .assert_error(400, "upload_not_found");
    for made_up in [
        json!(format!(
            "uploads/{}/{}",
            owner.id,
            uuid::Uuid::new_v4().simple()
        )),
        json!("avatars/../uploads/x"),
        json!(""),
    ] {
        complete(&app, &owner_token, "avatar", &made_up)
            .await
            .assert_error(400, "upload_not_found");
    }
    assert!(public_profile(&app, &other.username).await["avatar_url"].is_null());

    // Those attempts did not use the key up; completing does.
    complete(&app, &owner_token, "avatar", &form["key"])
        .await
        .assert_status(200);
    complete(&app, &owner_token, "avatar", &form["key"])
        .await
        .assert_error(400, "upload_not_found");
    // Nor can the form be posted again to the published slot's advantage.
    let _ = post_form(&app, &form, &[], b"not an image".to_vec()).await;
    complete(&app, &owner_token, "avatar", &form["key"])
        .await
        .assert_error(400, "upload_not_found");

    // An expired form is refused by the store (local) and its key by completion.
    let form = start(&app, &owner_token, "avatar", "image/png").await;
    app.clock.advance(11 * 60);
    if store == Store::Local {
        assert_eq!(
            post_form(&app, &form, &[], png(16, 16)).await,
            StatusCode::FORBIDDEN
        );
    }
    complete(&app, &owner_token, "avatar", &form["key"])
        .await
        .assert_error(400, "upload_not_found");
}

/// Deleting the account deletes its images.
async fn gone_with_the_account(backend: Backend, store: Store) {
    let app = spawn(backend, store).await;
    let (user, token) = signed_in(&app).await;
    let avatar = upload(&app, &token, "avatar", "image/png", png(32, 32)).await;
    let avatar = avatar.assert_status(200)["avatar_url"]
        .as_str()
        .unwrap()
        .to_string();
    let banner = upload(&app, &token, "banner", "image/png", png(400, 100)).await;
    let banner = banner.assert_status(200)["banner_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(fetch(&app, store, &avatar).await.0, StatusCode::OK);
    app.delete_with("/api/user/me", &token, json!({ "password": user.password }))
        .await
        .assert_status(200);
    assert_eq!(fetch(&app, store, &avatar).await.0, StatusCode::NOT_FOUND);
    assert_eq!(fetch(&app, store, &banner).await.0, StatusCode::NOT_FOUND);
}

backend_tests! {
    async fn images_go_with_the_account(backend) {
        for store in STORES {
            gone_with_the_account(backend, store).await;
        }
    }

    async fn images_are_published_replaced_and_removed(backend) {
        for store in STORES {
            published_and_replaced(backend, store).await;
        }
    }

    async fn images_of_another_type_are_refused(backend) {
        for store in STORES {
            wrong_types_are_refused(backend, store).await;
        }
    }

    async fn images_over_5_mib_are_refused(backend) {
        for store in STORES {
            too_large_is_refused(backend, store).await;
        }
    }

    async fn images_that_do_not_decode_change_nothing(backend) {
        for store in STORES {
            not_an_image_changes_nothing(backend, store).await;
        }
    }

    async fn images_dimensions_are_bounded(backend) {
        for store in STORES {
            dimensions_are_bounded(backend, store).await;
        }
    }

    async fn images_upload_keys_are_single_use_and_their_owners(backend) {
        for store in STORES {
            keys_are_single_use_and_their_owners(backend, store).await;
        }
    }
}
