use buddo_shared::AppState;

#[tokio::main]
async fn main() {
    buddo_shared::http::init_tracing(buddo_shared::http::on_lambda());
    let served = async {
        buddo_shared::http::run(buddo_external::router(AppState::from_env().await?)).await
    };
    if let Err(e) = served.await {
        buddo_shared::http::exit_on_start_error(e);
    }
}
