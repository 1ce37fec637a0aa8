use std::sync::Arc;

use aws_lambda_events::event::dynamodb::Event;
use buddo_shared::clock::{Clock, SystemClock};
use buddo_shared::config::{Config, Features};
use buddo_shared::domain::webhooks::delivery::Sender;
use buddo_shared::store;
use buddo_webhooks::Deliverer;
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() {
    buddo_shared::http::init_tracing(true);
    if let Err(e) = run().await {
        buddo_shared::http::exit_on_start_error(e);
    }
}

async fn run() -> Result<(), Error> {
    let config = Config::from_env()?;
    config.check_features(Features::BUILT, false)?;
    tracing::info!(stage = %config.stage, "starting the webhooks deliverer");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let table = store::open(&config.store, &config.deadlines, clock.clone()).await?;
    let deliverer = Arc::new(Deliverer {
        table: Arc::new(store::Deadline::new(table, config.deadlines.store_call)),
        sender: Sender::new(&config)?,
        clock,
    });
    // Two sources: the table's stream (`Records`) and the schedule (EventBridge).
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let deliverer = deliverer.clone();
        async move {
            if event.payload.get("Records").is_some() {
                let stream: Event = serde_json::from_value(event.payload)?;
                Ok::<_, Error>(serde_json::to_value(deliverer.handle(&stream).await)?)
            } else {
                let report = deliverer.run_due().await?;
                Ok(serde_json::json!({
                    "fanned_out": report.fanned_out,
                    "delivered": report.delivered,
                    "retrying": report.retrying,
                    "failed": report.failed,
                }))
            }
        }
    }))
    .await
}
