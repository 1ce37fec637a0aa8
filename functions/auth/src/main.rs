use buddo_shared::http::RuntimeError;
use buddo_shared::AppState;

#[tokio::main]
async fn main() -> Result<(), RuntimeError> {
    let state = AppState::from_env().await?;
    buddo_shared::http::run(buddo_auth::router(state)).await
}
