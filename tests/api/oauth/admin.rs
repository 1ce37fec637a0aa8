//! `/api/admin/*`: app approval and scope requests, admins only.

use serde_json::json;

use crate::backend_tests;
use crate::helpers::{pkce, TestApp};

backend_tests! {
    async fn only_admins_review(backend) {
        let app = TestApp::spawn(backend).await;
        let client = app.new_client(&["profile:read"], false).await;
        let user = app.login_ok(&app.new_user().await).await.token;
        for (path, post) in [
            ("/api/admin/apps".to_string(), false),
            (format!("/api/admin/apps/{}/approve", client.id), true),
            (format!("/api/admin/apps/{}/unapprove", client.id), true),
            ("/api/admin/scope-requests?status=pending".to_string(), false),
        ] {
            let resp = if post { app.post_auth(&path, &user, None).await } else { app.get_auth(&path, &user).await };
            resp.assert_error(403, "forbidden");
            let anonymous = TestApp::read(app.client.get(app.url(&path)).send().await.unwrap()).await;
            assert!(anonymous.status == 401 || anonymous.status == 405, "{path}: {}", anonymous.status);
        }
    }

    async fn approving_an_app_opens_it_to_everyone(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let pending = app.new_client(&["profile:read"], false).await;
        let approved = app.new_client(&["profile:read"], true).await;
        let list = app.get_auth("/api/admin/apps?approved=false", &admin).await;
        let ids: Vec<&str> = list.assert_status(200)["apps"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap()).collect();
        assert!(ids.contains(&pending.id.as_str()));
        assert!(!ids.contains(&approved.id.as_str()));
        let all = app.get_auth("/api/admin/apps", &admin).await;
        assert_eq!(all.body["apps"].as_array().unwrap().len(), 2);
        assert!(all.body["apps"][0]["owner_id"].as_str().is_some());

        let user = app.login_ok(&app.new_user().await).await.token;
        let (_, challenge) = pkce();
        let query = [("client_id", pending.client_id.as_str()), ("response_type", "code"), ("code_challenge", challenge.as_str()), ("code_challenge_method", "S256")];
        app.authorize(&user, &query).await.assert_error(403, "app_not_approved");
        let resp = app.post_auth(&format!("/api/admin/apps/{}/approve", pending.id), &admin, None).await;
        assert_eq!(resp.assert_status(200)["app"]["is_approved"], true);
        app.authorize(&user, &query).await.assert_status(200);
        app.post_auth(&format!("/api/admin/apps/{}/unapprove", pending.id), &admin, None).await.assert_status(200);
        app.authorize(&user, &query).await.assert_error(403, "app_not_approved");
        app.post_auth(&format!("/api/admin/apps/{}/approve", uuid::Uuid::new_v4()), &admin, None).await.assert_error(404, "app_not_found");
    }

    async fn admin_lists_page_with_a_cursor(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        for _ in 0..3 {
            app.new_client(&["profile:read"], false).await;
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/admin/apps?limit=2&cursor={c}"),
                None => "/api/admin/apps?limit=2".to_string(),
            };
            let page = app.get_auth(&path, &admin).await;
            let body = page.assert_status(200);
            assert!(body["apps"].as_array().unwrap().len() <= 2);
            seen.extend(body["apps"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_string()));
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 3);
        app.get_auth("/api/admin/apps?limit=0", &admin).await.assert_error(400, "validation_failed");
        app.get_auth("/api/admin/apps?cursor=garbage", &admin).await.assert_error(400, "validation_failed");
        app.get_auth("/api/admin/scope-requests?status=maybe", &admin).await.assert_error(400, "validation_failed");
        app.get_auth("/api/admin/apps?approved=perhaps", &admin).await.assert_error(400, "validation_failed");
    }

    async fn scope_requests_are_decided_one_by_one(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let owner = app.new_verified_user().await;
        let token = app.login_ok(&owner).await.token;
        let created = app.post_auth("/api/oauth/apps", &token, Some(json!({
            "app_name": "Deployer", "redirect_uris": ["https://deploy.example/cb"],
            "allowed_scopes": ["profile:read", "points:spend", "deploy:manage"],
        }))).await;
        let app_id = created.assert_status(201)["app"]["id"].as_str().unwrap().to_string();
        let pending = app.get_auth("/api/admin/scope-requests?status=pending", &admin).await;
        let requests = pending.assert_status(200)["scope_requests"].as_array().unwrap().clone();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0]["app_id"], app_id.as_str());
        let id = requests[0]["id"].as_str().unwrap();

        let deny = app.post_auth(&format!("/api/admin/scope-requests/{id}/deny"), &admin, None).await;
        assert_eq!(deny.assert_status(200)["scope_request"]["status"], "denied");
        app.post_auth(&format!("/api/admin/scope-requests/{id}/approve"), &admin, None).await.assert_error(409, "scope_request_decided");
        let mine = app.get_auth("/api/oauth/my-apps", &token).await;
        assert_eq!(mine.body[0]["allowed_scopes"], json!(["profile:read"]));
        let polled = app.get_auth(&format!("/api/oauth/my-apps/{app_id}/scope-requests"), &token).await;
        assert_eq!(polled.body[0]["status"], "denied");

        // deploy:manage, asked again, is approved only by deciding that request.
        let again = app.post_auth(&format!("/api/oauth/my-apps/{app_id}/scope-request"), &token, Some(json!({ "requested_scopes": ["deploy:manage"] }))).await;
        let again_id = again.assert_status(201)["id"].as_str().unwrap().to_string();
        assert_eq!(again.body["status"], "pending");
        let approved = app.post_auth(&format!("/api/admin/scope-requests/{again_id}/approve"), &admin, None).await;
        assert_eq!(approved.assert_status(200)["scope_request"]["status"], "approved");
        let mine = app.get_auth("/api/oauth/my-apps", &token).await;
        assert_eq!(mine.body[0]["allowed_scopes"], json!(["profile:read", "deploy:manage"]));
        let none_left = app.get_auth("/api/admin/scope-requests?status=pending", &admin).await;
        assert!(none_left.body["scope_requests"].as_array().unwrap().is_empty());
        app.post_auth(&format!("/api/admin/scope-requests/{}/approve", uuid::Uuid::new_v4()), &admin, None).await.assert_error(404, "scope_request_not_found");
    }

    async fn parallel_decisions_decide_once(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let owner = app.new_verified_user().await;
        let token = app.login_ok(&owner).await.token;
        let created = app.post_auth("/api/oauth/apps", &token, Some(json!({
            "app_name": "Racer", "redirect_uris": ["https://race.example/cb"], "allowed_scopes": ["points:transfer"],
        }))).await;
        let app_id = created.assert_status(201)["app"]["id"].as_str().unwrap().to_string();
        let polled = app.get_auth(&format!("/api/oauth/my-apps/{app_id}/scope-requests"), &token).await;
        let id = polled.body[0]["id"].as_str().unwrap().to_string();
        let approve = format!("/api/admin/scope-requests/{id}/approve");
        let deny = format!("/api/admin/scope-requests/{id}/deny");
        let results = futures::future::join_all([
            app.post_auth(&approve, &admin, None),
            app.post_auth(&deny, &admin, None),
            app.post_auth(&approve, &admin, None),
        ]).await;
        assert_eq!(results.iter().filter(|r| r.status == 200).count(), 1, "{:?}", results.iter().map(|r| &r.body).collect::<Vec<_>>());
        assert!(results.iter().all(|r| r.status == 200 || r.status == 409));
    }
}
