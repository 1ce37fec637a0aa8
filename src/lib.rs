//! The local server: every function group's routes on one axum server, the same handlers
//! and layers as on Lambda.

use axum::Router;
use buddo_shared::AppState;

/// Every group's routes with the common layers.
pub fn app(state: AppState) -> Router {
    let config = state.config.clone();
    let routes = Router::new().merge(buddo_auth::routes(state));
    buddo_shared::http::finish(routes, &config)
}
