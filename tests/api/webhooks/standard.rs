//! PyPI `standardwebhooks` (the specification's reference library) verifies a real delivery.

use std::process::Command;

use buddo_shared::clock::Clock;

use super::receiver::Receiver;
use super::{deliver, register, spawn};
use crate::backend_tests;
use crate::oauth::real_client::client_python;

const VERIFY: &str = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
secret, msg_id, timestamp, signature, body = sys.argv[1:6]
headers = {"webhook-id": msg_id, "webhook-timestamp": timestamp, "webhook-signature": signature}
payload = Webhook(secret).verify(body, headers)
print(json.dumps(payload))
"#;

backend_tests! {
    async fn the_reference_library_verifies_a_delivery(backend) {
        let app = spawn(backend).await;
        let receiver = Receiver::start().await;
        let admin = app.admin_token().await;
        let (_, secret) = register(&app, "/api/admin/webhooks", &admin, &receiver.url(), &["user.created"]).await;
        // The library checks the timestamp against the real clock: the test's moves to now.
        let behind = time::OffsetDateTime::now_utc().unix_timestamp() - app.clock.now().unix_timestamp();
        app.clock.advance(behind.max(0));
        let user = app.new_user().await;
        deliver(&app).await;
        let got = receiver.accepted().pop().expect("a delivery");
        let args = |body: &str| {
            vec![
                "-c".to_string(),
                VERIFY.to_string(),
                secret.clone(),
                got.id.clone(),
                got.timestamp.to_string(),
                got.signature.clone(),
                body.to_string(),
            ]
        };
        let run = |args: Vec<String>| Command::new(client_python()).args(args).output().expect("python");
        let good = tokio::task::spawn_blocking({ let a = args(&got.body); move || run(a) }).await.unwrap();
        let stdout = String::from_utf8_lossy(&good.stdout);
        assert!(good.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&good.stderr));
        let payload: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
        assert_eq!(payload["type"], "user.created");
        assert_eq!(payload["data"]["user_id"], user.id.as_str());
        let tampered = got.body.replace(&user.id, "someone-else");
        let bad = tokio::task::spawn_blocking({ let a = args(&tampered); move || run(a) }).await.unwrap();
        assert!(!bad.status.success(), "a tampered body must not verify");
    }
}
