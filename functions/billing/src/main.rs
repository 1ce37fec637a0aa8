use buddo_shared::AppState;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() {
    buddo_shared::http::init_tracing(true);
    if let Err(e) = run().await {
        buddo_shared::http::exit_on_start_error(e);
    }
}

async fn run() -> Result<(), Error> {
    let state = AppState::from_env().await?;
    tracing::info!(stage = %state.config.stage, "starting billing");
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<serde_json::Value>| {
        let state = state.clone();
        async move {
            let report = buddo_billing::handle(&state).await?;
            Ok::<_, Error>(serde_json::json!(report))
        }
    }))
    .await
}
