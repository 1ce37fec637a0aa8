use buddo_shared::AppState;

#[tokio::main]
async fn main() {
    buddo_shared::http::init_tracing(buddo_shared::http::on_lambda());
    let router = async { Ok(buddo_stream::router(AppState::from_env().await?)) };
    if let Err(e) = buddo_shared::http::run_streaming(router).await {
        buddo_shared::http::exit_on_start_error(e);
    }
}
