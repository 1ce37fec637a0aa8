//! Mail delivery: the outbox, the local deliverer, and the mailer function against SES
//! (moto_server) reading the sent message back.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::event::streams::DynamoDbEventResponse;
use buddo_mailer::Mailer;
use buddo_shared::clock::Clock;
use buddo_shared::mail::{self, LocalMailer, Mail, MailSender, SesMailer};
use buddo_shared::store::Query;
use serde_json::{json, Value};

use crate::backend_tests;
use crate::helpers::{Backend, TestApp};

/// Records what it sends; fails the first `fail_first` sends.
#[derive(Default)]
struct RecordingSender {
    sent: Mutex<Vec<Mail>>,
    fail_first: Mutex<usize>,
}

#[async_trait]
impl MailSender for RecordingSender {
    async fn send(&self, _from: &str, mail: &Mail) -> anyhow::Result<String> {
        let mut fail = self.fail_first.lock().unwrap();
        if *fail > 0 {
            *fail -= 1;
            anyhow::bail!("provider unavailable");
        }
        self.sent.lock().unwrap().push(mail.clone());
        Ok(format!("id-{}", self.sent.lock().unwrap().len()))
    }
}

fn stream_event_of(kind: &str, pk: &str) -> Event {
    serde_json::from_value(json!({ "Records": [{
        "eventID": "1", "eventName": kind, "eventSource": "aws:dynamodb", "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": { "PK": { "S": pk }, "SK": { "S": "OUTBOX" } },
            "SequenceNumber": "111", "SizeBytes": 120, "StreamViewType": "NEW_IMAGE"
        }
    }]}))
    .expect("a DynamoDB stream event")
}

fn stream_event(pk: &str) -> Event {
    stream_event_of("INSERT", pk)
}

/// The `ReportBatchItemFailures` answer as Lambda reads it.
fn answer(response: DynamoDbEventResponse) -> Value {
    serde_json::to_value(response).unwrap()
}

async fn outbox_pk(app: &TestApp, to: &str) -> String {
    let page = app
        .state
        .table
        .query(&Query::gsi1(buddo_shared::keys::OUTBOX_PENDING))
        .await
        .unwrap();
    page.items
        .iter()
        .find(|i| i["to"] == to)
        .map(|i| i["PK"].as_str().unwrap().to_string())
        .expect("a pending message")
}

backend_tests! {
    async fn the_mailer_sends_once_retries_failures_and_strips_the_body(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let pk = outbox_pk(&app, &user.email).await;
        let sender = Arc::new(RecordingSender { fail_first: Mutex::new(1), ..Default::default() });
        let mailer = Mailer { table: app.state.table.clone(), sender: sender.clone(), from: "no-reply@buddo.test".into(), clock: app.clock.clone(), send_deadline: std::time::Duration::from_secs(5) };

        // First delivery fails: the record is reported for retry and the message stays pending.
        let out = answer(mailer.handle(&stream_event(&pk)).await);
        assert_eq!(out, json!({ "batchItemFailures": [{ "itemIdentifier": "111" }] }));
        assert_eq!(app.mails_to(&user.email).await.len(), 1);

        let out = answer(mailer.handle(&stream_event(&pk)).await);
        assert_eq!(out, json!({ "batchItemFailures": [] }));
        // A redelivered stream record does not send twice.
        mailer.handle(&stream_event(&pk)).await;
        let sent = sender.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].to, user.email);
        assert!(sent[0].text.contains("/verify-email?token="));

        assert!(app.mails_to(&user.email).await.is_empty());
        let item = app.state.table.get(&buddo_shared::store::Key::new(pk.clone(), "OUTBOX")).await.unwrap().unwrap();
        assert_eq!(item["status"], "sent");
        assert!(item.get("text").is_none(), "the single-use link is not kept after sending");
        // Other event kinds and tables' items are ignored.
        let modify = stream_event_of("MODIFY", &pk);
        assert_eq!(answer(mailer.handle(&modify).await), json!({ "batchItemFailures": [] }));
    }

    async fn local_delivery_prints_and_saves_the_mail(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let sender = LocalMailer::new(&app.state.config.data_dir);
        let sent = mail::deliver_pending(app.state.table.as_ref(), &sender, "no-reply@buddo.test", app.clock.now(), std::time::Duration::from_secs(5)).await.unwrap();
        assert_eq!(sent, 1);
        let dir = app.state.config.data_dir.join("mail");
        let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
        assert_eq!(files.len(), 1);
        let text = std::fs::read_to_string(&files[0]).unwrap();
        assert!(text.contains(&format!("To: {}", user.email)));
        assert!(text.contains("https://app.buddo.test/verify-email?token="));
        assert_eq!(mail::deliver_pending(app.state.table.as_ref(), &sender, "no-reply@buddo.test", app.clock.now(), std::time::Duration::from_secs(5)).await.unwrap(), 0);
        let _ = std::fs::remove_dir_all(&app.state.config.data_dir);
    }

    async fn a_message_that_keeps_failing_is_given_up(backend) {
        let app = TestApp::spawn(backend).await;
        let user = app.new_user().await;
        let pk = outbox_pk(&app, &user.email).await;
        let sender = Arc::new(RecordingSender { fail_first: Mutex::new(100), ..Default::default() });
        let mailer = Mailer { table: app.state.table.clone(), sender: sender.clone(), from: "no-reply@buddo.test".into(), clock: app.clock.clone(), send_deadline: std::time::Duration::from_secs(5) };
        for attempt in 1..=mail::MAX_ATTEMPTS {
            let out = mailer.handle(&stream_event(&pk)).await;
            assert_eq!(out.batch_item_failures.len(), 1, "attempt {attempt}");
        }
        let key = buddo_shared::store::Key::new(pk.clone(), "OUTBOX");
        let item = app.state.table.get(&key).await.unwrap().unwrap();
        assert_eq!(item["status"], "failed");
        assert_eq!(item["attempts"], mail::MAX_ATTEMPTS);
        assert!(item.get("text").is_some(), "kept, to be sent once the fault is fixed");
        assert!(app.mails_to(&user.email).await.is_empty(), "no longer queued");
        // Later deliveries leave it alone.
        assert_eq!(answer(mailer.handle(&stream_event(&pk)).await), json!({ "batchItemFailures": [] }));
        assert!(sender.sent.lock().unwrap().is_empty());

        // The operator's replay: requeued with fresh attempts, then sent once.
        assert_eq!(mail::requeue_failed(app.state.table.as_ref()).await.unwrap(), 1);
        assert_eq!(app.mails_to(&user.email).await.len(), 1);
        *sender.fail_first.lock().unwrap() = 0;
        let sent = mail::deliver_pending(app.state.table.as_ref(), sender.as_ref(), "no-reply@buddo.test", app.clock.now(), std::time::Duration::from_secs(5)).await.unwrap();
        assert_eq!(sent, 1);
        assert_eq!(sender.sent.lock().unwrap().len(), 1);
        let item = app.state.table.get(&key).await.unwrap().unwrap();
        assert_eq!(item["status"], "sent");
        assert!(item.get("text").is_none());
        assert_eq!(mail::requeue_failed(app.state.table.as_ref()).await.unwrap(), 0);
    }

}

fn ses_client() -> aws_sdk_ses::Client {
    use aws_sdk_ses::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_ses::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "tests"))
        .endpoint_url(crate::helpers::ses_endpoint())
        .build();
    aws_sdk_ses::Client::from_conf(config)
}

/// The whole path on the real emulators: registration writes the outbox on DynamoDB Local,
/// the mailer function handles the stream record and sends through SES (moto_server), and
/// the message is read back from the emulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_mailer_sends_through_ses() {
    let app = TestApp::spawn(Backend::Dynamo).await;
    let user = app.new_user().await;
    let pk = outbox_pk(&app, &user.email).await;
    let from = format!("no-reply-{}@buddo.test", uuid::Uuid::new_v4().simple());
    let client = ses_client();
    client
        .verify_email_identity()
        .email_address(&from)
        .send()
        .await
        .expect("verify sender on moto");
    let mailer = Mailer {
        table: app.state.table.clone(),
        sender: Arc::new(SesMailer::new(client)),
        from: from.clone(),
        clock: app.clock.clone(),
        send_deadline: std::time::Duration::from_secs(5),
    };
    assert_eq!(
        answer(mailer.handle(&stream_event(&pk)).await),
        json!({ "batchItemFailures": [] })
    );

    let data: Value = reqwest::get(format!(
        "{}/moto-api/data.json",
        crate::helpers::ses_endpoint()
    ))
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let messages = &data["ses"]["Message"];
    let item = app
        .state
        .table
        .get(&buddo_shared::store::Key::new(pk.clone(), "OUTBOX"))
        .await
        .unwrap()
        .unwrap();
    let provider_id = item["provider_id"]
        .as_str()
        .expect("provider id recorded")
        .to_string();
    let mut found = Vec::new();
    collect_messages(messages, &mut found);
    let sent = found
        .iter()
        .find(|m| m["id"] == provider_id.as_str())
        .unwrap_or_else(|| panic!("message {provider_id} not in moto's data: {messages}"));
    assert_eq!(sent["source"], from.as_str());
    assert_eq!(sent["destinations"]["ToAddresses"], json!([user.email]));
    assert_eq!(sent["subject"], "Verify your Buddo email address");
    assert!(sent["body"]
        .as_str()
        .unwrap()
        .contains("https://app.buddo.test/verify-email?token="));
    assert_eq!(item["status"], "sent");
}

/// moto keeps messages in a list, keyed by account and region in some versions.
fn collect_messages(value: &Value, out: &mut Vec<Value>) {
    match value {
        Value::Object(map) if map.contains_key("destinations") => out.push(value.clone()),
        Value::Object(map) => map.values().for_each(|v| collect_messages(v, out)),
        Value::Array(list) => list.iter().for_each(|v| collect_messages(v, out)),
        _ => {}
    }
}
