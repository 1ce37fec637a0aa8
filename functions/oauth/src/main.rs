use buddo_shared::AppState;

#[tokio::main]
async fn main() {
    buddo_shared::http::init_tracing(buddo_shared::http::on_lambda());
    let router = async {
        let state = AppState::from_env().await?;
        // This group signs ID tokens: on Lambda its keys must come from the secret.
        if state.id_tokens.is_empty() {
            anyhow::bail!("no ID-token keys: set ID_TOKEN_KEYS_SECRET_ARN or ID_TOKEN_KEYS");
        }
        Ok(buddo_oauth::router(state))
    };
    if let Err(e) = buddo_shared::http::run(router).await {
        buddo_shared::http::exit_on_start_error(e);
    }
}
