//! Endpoints must be https and must not resolve to loopback, private, link-local,
//! unique-local, multicast or unspecified addresses: checked at registration, and again when
//! delivering, after resolving (the connection goes to the addresses checked).

use buddo_shared::clock::Clock;
use buddo_shared::domain::webhooks::delivery::{run_due, Sender};
use serde_json::json;

use super::receiver::Receiver;
use super::{deliveries, register, spawn};
use crate::backend_tests;
use crate::helpers::TestApp;

/// A name other than `localhost` that this machine's hosts file maps to a loopback address
/// (`localhost` itself when there is none).
fn loopback_name() -> String {
    std::fs::read_to_string("/etc/hosts")
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let ip: std::net::IpAddr = words.next()?.parse().ok()?;
            ip.is_loopback()
                .then(|| words.map(str::to_string).collect::<Vec<_>>())
        })
        .flatten()
        .find(|name| name != "localhost" && !name.ends_with(".localhost") && !name.contains(':'))
        .unwrap_or_else(|| "localhost".into())
}

backend_tests! {
    async fn endpoints_on_private_addresses_are_refused(backend) {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let client = app.new_client(&["profile:read"], false).await;
        let app_base = format!("/api/oauth/my-apps/{}/webhooks", client.id);
        let refused = [
            "http://hooks.example.com/a".to_string(),
            "https://127.0.0.1/a".into(),
            "https://127.8.9.10:8443/a".into(),
            "https://10.1.2.3/a".into(),
            "https://172.16.0.1/a".into(),
            "https://192.168.1.1/a".into(),
            "https://169.254.169.254/latest/meta-data".into(),
            "https://100.64.0.1/a".into(),
            "https://0.0.0.0/a".into(),
            "https://224.0.0.1/a".into(),
            "https://[::1]/a".into(),
            "https://[::]/a".into(),
            "https://[fd00::1]/a".into(),
            "https://[fe80::1]/a".into(),
            "https://[ff02::1]/a".into(),
            "https://[::ffff:127.0.0.1]/a".into(),
            "https://localhost/a".into(),
            format!("https://{}/a", loopback_name()),
            "https://user:pass@hooks.example.com/a".into(),
            "ftp://hooks.example.com/a".into(),
            "not a url".into(),
        ];
        for url in &refused {
            for (base, token) in [("/api/admin/webhooks", &admin), (app_base.as_str(), &client.owner_token)] {
                let resp = app.post_auth(base, token, Some(json!({ "url": url, "event_types": ["*"] }))).await;
                resp.assert_error(400, "validation_failed");
                assert!(resp.body["fields"]["url"].is_string(), "{url}: {:?}", resp.body);
            }
        }
        // Changing an endpoint's URL is checked the same way.
        let (id, _) = register(&app, "/api/admin/webhooks", &admin, "https://93.184.215.14/hook", &["*"]).await;
        app.patch_auth(&format!("/api/admin/webhooks/{id}"), &admin, json!({ "url": "https://10.0.0.1/x" }))
            .await
            .assert_error(400, "validation_failed");
        let listed = app.get_auth("/api/admin/webhooks", &admin).await;
        assert_eq!(listed.assert_status(200)["endpoints"].as_array().unwrap().len(), 1);
    }

    async fn delivery_checks_the_address_again(backend) {
        // Registered where private addresses are allowed; delivered by a deliverer where they
        // are not (as if the name had moved to a private address since).
        let app = spawn(backend).await;
        let receiver = Receiver::start().await;
        let admin = app.admin_token().await;
        let base = "/api/admin/webhooks";
        let (plain, _) = register(&app, base, &admin, &receiver.url(), &["user.created"]).await;
        let named = format!("https://{}:{}/hook", loopback_name(), receiver.addr.port());
        let (by_name, _) = register(&app, base, &admin, &named, &["user.created"]).await;
        let literal = format!("https://127.0.0.1:{}/hook", receiver.addr.port());
        let (by_ip, _) = register(&app, base, &admin, &literal, &["user.created"]).await;
        app.new_user().await;

        let mut strict = app.state.config.clone();
        strict.webhooks_allow_private = false;
        let sender = Sender::new(&strict).unwrap();
        let report = run_due(app.state.table.as_ref(), &sender, app.clock.now()).await.unwrap();
        assert_eq!(report.delivered, 0, "{report:?}");
        assert!(receiver.all().is_empty(), "nothing reached the private address");
        for id in [&plain, &by_name, &by_ip] {
            let log = deliveries(&app, base, &admin, id).await;
            assert_eq!(log[0]["status"], "pending", "retried later");
            let error = log[0]["history"][0]["error"].as_str().unwrap();
            assert_eq!(log[0]["history"][0]["status_code"], serde_json::Value::Null);
            assert!(!error.is_empty());
        }
    }
}
