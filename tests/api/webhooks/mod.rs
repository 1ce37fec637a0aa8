//! Signed lifecycle webhooks: endpoints of admins and app owners, events written with the
//! changes they report, signed deliveries checked by a receiver here (and by PyPI
//! `standardwebhooks`), retries on the frozen clock, rotation, replay, the delivery log, and
//! the SSRF rules.

mod delivery;
mod endpoints;
mod listening;
mod receiver;
mod ssrf;
mod standard;

use buddo_shared::clock::Clock;
use buddo_shared::domain::webhooks::delivery::{run_due, Report, Sender};
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp};

/// An app whose endpoints may be on this machine (the receiver), as in local runs.
pub(crate) async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(backend, |config| config.webhooks_allow_private = true).await
}

/// One run of the webhooks function's schedule, at the test's clock.
pub(crate) async fn deliver(app: &TestApp) -> Report {
    let sender = Sender::new(&app.state.config).expect("sender");
    run_due(app.state.table.as_ref(), &sender, app.clock.now())
        .await
        .expect("run")
}

/// An endpoint registered at `base` (`/api/admin/webhooks` or an app's); its id and secret.
/// Events written before it are fanned out first (to the endpoints there were), so that it
/// hears only of what comes after.
pub(crate) async fn register(
    app: &TestApp,
    base: &str,
    token: &str,
    url: &str,
    event_types: &[&str],
) -> (String, String) {
    deliver(app).await;
    let resp = app
        .post_auth(
            base,
            token,
            Some(json!({ "url": url, "event_types": event_types })),
        )
        .await;
    let body = resp.assert_status(201);
    (
        body["id"].as_str().unwrap().to_string(),
        body["secret"].as_str().unwrap().to_string(),
    )
}

pub(crate) async fn deliveries(app: &TestApp, base: &str, token: &str, id: &str) -> Vec<Value> {
    let resp = app
        .get_auth(&format!("{base}/{id}/deliveries"), token)
        .await;
    resp.assert_status(200)["deliveries"]
        .as_array()
        .unwrap()
        .clone()
}
