use buddo_shared::AppState;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let state = AppState::from_env().await?;
    buddo_shared::http::run(buddo_auth::router(state)).await
}
