//! Endpoints: an app owner's hear only of the app's users; someone else cannot see or change
//! them; the secret is shown once and rotates with a day of overlap; the CRUD answers.

use serde_json::json;

use super::receiver::{signed_by, Receiver};
use super::{deliver, deliveries, register, spawn};
use crate::backend_tests;

backend_tests! {
    async fn an_app_owner_hears_only_of_the_apps_users(backend) {
        let app = spawn(backend).await;
        let receiver = Receiver::start().await;
        let client = app.new_client(&["profile:read"], true).await;
        let base = format!("/api/oauth/my-apps/{}/webhooks", client.id);
        register(&app, &base, &client.owner_token, &receiver.url(), &["*"]).await;

        let connected = app.operated_by(&client, &["profile:read"]).await;
        let stranger = app.new_user().await;
        let stranger_session = app.login_ok(&stranger).await;
        let connected_session = app.login_ok(&connected.user).await;
        // Both change their password: only the connected user's change is the app's to hear.
        for (user, token) in [(&connected.user, &connected_session.token), (&stranger, &stranger_session.token)] {
            app.post_auth("/api/auth/change-password", token, Some(json!({ "current_password": user.password, "new_password": "brand new secret" })))
                .await
                .assert_status(200);
        }
        // Fanned out while the user still has the grant (the stream does it within seconds).
        deliver(&app).await;
        app.delete_auth(&format!("/api/user/connected-apps/{}", client.id), &connected_session.token)
            .await
            .assert_status(200);
        deliver(&app).await;

        let got = receiver.accepted();
        assert!(!got.is_empty());
        assert!(got.iter().all(|r| r.user_id() == connected.user.id), "only the app's user: {:?}", got.iter().map(|r| (r.event_type(), r.user_id())).collect::<Vec<_>>());
        let types: Vec<String> = got.iter().map(|r| r.event_type()).collect();
        for wanted in ["grant.created", "user.password_changed", "grant.revoked"] {
            assert!(types.contains(&wanted.to_string()), "{wanted} in {types:?}");
        }
        // After the revocation the user is no longer the app's: a later change is not sent.
        let before = receiver.all().len();
        let again = app.login(&connected.user.email, "brand new secret", None).await;
        let again = again.assert_status(200)["token"].as_str().unwrap();
        app.post_auth("/api/auth/change-password", again, Some(json!({ "current_password": "brand new secret", "new_password": "another new secret" })))
            .await
            .assert_status(200);
        deliver(&app).await;
        assert_eq!(receiver.all().len(), before);
    }

    async fn others_cannot_see_or_change_endpoints(backend) {
        let app = spawn(backend).await;
        let client = app.new_client(&["profile:read"], false).await;
        let base = format!("/api/oauth/my-apps/{}/webhooks", client.id);
        let (id, _) = register(&app, &base, &client.owner_token, "http://127.0.0.1:9/a", &["user.created"]).await;
        let other = app.new_user().await;
        let other_token = app.login_ok(&other).await.token;
        app.get_auth(&base, &other_token).await.assert_error(404, "app_not_found");
        app.post_auth(&base, &other_token, Some(json!({ "url": "http://127.0.0.1:9/b", "event_types": ["*"] })))
            .await
            .assert_error(404, "app_not_found");
        app.get_auth(&format!("{base}/{id}"), &other_token).await.assert_error(404, "app_not_found");
        app.delete_auth(&format!("{base}/{id}"), &other_token).await.assert_error(404, "app_not_found");
        app.post_auth(&format!("{base}/{id}/rotate-secret"), &other_token, None).await.assert_error(404, "app_not_found");
        app.get_auth(&format!("{base}/{id}/deliveries"), &other_token).await.assert_error(404, "app_not_found");
        // Not an admin: the admin list is forbidden.
        app.get_auth("/api/admin/webhooks", &other_token).await.assert_error(403, "forbidden");
        app.post_auth("/api/admin/webhooks", &other_token, Some(json!({ "url": "http://127.0.0.1:9/c", "event_types": ["*"] })))
            .await
            .assert_error(403, "forbidden");
        // An admin's endpoint list does not show an app's endpoints, nor can it reach one by id.
        let admin = app.admin_token().await;
        let listed = app.get_auth("/api/admin/webhooks", &admin).await;
        assert_eq!(listed.assert_status(200)["endpoints"].as_array().unwrap().len(), 0);
        app.get_auth(&format!("/api/admin/webhooks/{id}"), &admin).await.assert_error(404, "endpoint_not_found");
        // Another of the owner's apps does not reach it either.
        app.get_auth(&format!("{base}/not-a-uuid"), &client.owner_token).await.assert_error(404, "endpoint_not_found");
    }

    async fn endpoints_are_listed_changed_and_deleted(backend) {
        let app = spawn(backend).await;
        let admin = app.admin_token().await;
        let base = "/api/admin/webhooks";
        let created = app
            .post_auth(base, &admin, Some(json!({ "url": "http://127.0.0.1:9/x", "event_types": ["user.created", "subscription.*"], "description": "CRM" })))
            .await;
        let body = created.assert_status(201).clone();
        assert!(body["secret"].as_str().unwrap().starts_with("whsec_"));
        assert_eq!(body["event_types"], json!(["user.created", "subscription.*"]));
        assert_eq!(body["enabled"], true);
        let id = body["id"].as_str().unwrap();
        // The secret is never shown again.
        let listed = app.get_auth(base, &admin).await;
        let listed = listed.assert_status(200)["endpoints"].as_array().unwrap().clone();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].get("secret").is_none());
        let one = app.get_auth(&format!("{base}/{id}"), &admin).await;
        assert!(one.assert_status(200).get("secret").is_none());
        assert_eq!(one.body["description"], "CRM");

        let changed = app
            .patch_auth(&format!("{base}/{id}"), &admin, json!({ "event_types": ["*"], "enabled": false, "description": null }))
            .await;
        let changed = changed.assert_status(200);
        assert_eq!(changed["event_types"], json!(["*"]));
        assert_eq!(changed["enabled"], false);
        assert_eq!(changed["description"], serde_json::Value::Null);
        app.patch_auth(&format!("{base}/{id}"), &admin, json!({ "event_types": ["user.exploded"] }))
            .await
            .assert_error(400, "validation_failed");
        app.post_auth(base, &admin, Some(json!({ "url": "http://127.0.0.1:9/y", "event_types": [] })))
            .await
            .assert_error(400, "validation_failed");
        app.get_auth(&format!("{base}/{id}/deliveries?limit=0"), &admin).await.assert_error(400, "validation_failed");
        app.get_auth(&format!("{base}/{id}/deliveries?cursor=junk"), &admin).await.assert_error(400, "validation_failed");

        app.delete_auth(&format!("{base}/{id}"), &admin).await.assert_status(200);
        app.get_auth(&format!("{base}/{id}"), &admin).await.assert_error(404, "endpoint_not_found");
        app.delete_auth(&format!("{base}/{id}"), &admin).await.assert_error(404, "endpoint_not_found");
    }

    async fn a_rotated_secret_signs_beside_the_new_one_for_a_day(backend) {
        let app = spawn(backend).await;
        let receiver = Receiver::start().await;
        let admin = app.admin_token().await;
        let base = "/api/admin/webhooks";
        let (id, old) = register(&app, base, &admin, &receiver.url(), &["user.created"]).await;
        let rotated = app.post_auth(&format!("{base}/{id}/rotate-secret"), &admin, None).await;
        let rotated = rotated.assert_status(200).clone();
        let new = rotated["secret"].as_str().unwrap().to_string();
        assert_ne!(new, old);
        assert!(rotated["previous_secret_expires_at"].is_string());

        app.new_user().await;
        deliver(&app).await;
        let first = receiver.accepted().last().unwrap().clone();
        assert!(signed_by(&first, &new), "signed with the new secret");
        assert!(signed_by(&first, &old), "and the old one during the overlap");
        assert_eq!(first.signature.split(' ').count(), 2);

        app.clock.advance(24 * 3600 + 1);
        app.new_user().await;
        deliver(&app).await;
        let later = receiver.accepted().last().unwrap().clone();
        assert_ne!(later.id, first.id);
        assert!(signed_by(&later, &new));
        assert!(!signed_by(&later, &old), "the old secret no longer signs");
        let admin = app.admin_token().await;
        let shown = app.get_auth(&format!("{base}/{id}"), &admin).await;
        assert_eq!(shown.assert_status(200)["previous_secret_expires_at"], serde_json::Value::Null);
        assert_eq!(deliveries(&app, base, &admin, &id).await.len(), 2);
    }

    async fn racing_rotations_lose_no_secret_unseen(backend) {
        let app = spawn(backend).await;
        let admin = app.admin_token().await;
        let receiver = Receiver::start().await;
        let base = "/api/admin/webhooks";
        let (id, _) = register(&app, base, &admin, &receiver.url(), &["user.created"]).await;
        let path = format!("{base}/{id}/rotate-secret");
        let answers = futures::future::join_all((0..6).map(|_| app.post_auth(&path, &admin, None))).await;
        let won: Vec<_> = answers.iter().filter(|a| a.status == 200).collect();
        assert!(!won.is_empty());
        for answer in answers.iter().filter(|a| a.status != 200) {
            assert_eq!(answer.status, 409, "{:?}", answer.body);
            assert_eq!(answer.body["error"], "endpoint_changed");
        }
        // The secret that signs now is one a winner was shown.
        let shown: Vec<&str> = won.iter().map(|a| a.body["secret"].as_str().unwrap()).collect();
        app.new_user().await;
        deliver(&app).await;
        let received = receiver.of_type("user.created");
        assert!(!received.is_empty());
        assert!(received.iter().all(|r| shown.iter().any(|s| signed_by(r, s))), "signed by a shown secret");
    }
}
