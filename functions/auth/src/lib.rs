pub fn router(_s: buddo_shared::AppState) -> axum::Router { axum::Router::new() }
