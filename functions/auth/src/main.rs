use buddo_shared::http::RuntimeError;
use buddo_shared::AppState;

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    buddo_shared::http::init_tracing(buddo_shared::http::on_lambda());
    let state = AppState::from_env().await?;
    buddo_shared::http::run(buddo_auth::router(state)).await
}
