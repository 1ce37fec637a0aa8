use buddo_shared::AppState;

#[tokio::main]
async fn main() {
    buddo_shared::http::init_tracing(buddo_shared::http::on_lambda());
    let served = async {
        let state = AppState::from_env().await?;
        // This group signs ID tokens: on Lambda its keys must come from the secret.
        if state.id_tokens.is_empty() {
            return Err("no ID-token keys: set ID_TOKEN_KEYS_SECRET_ARN or ID_TOKEN_KEYS".into());
        }
        buddo_shared::http::run(buddo_oauth::router(state)).await
    };
    if let Err(e) = served.await {
        buddo_shared::http::exit_on_start_error(e);
    }
}
