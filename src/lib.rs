//! The local server: every function group's routes on one axum server, the same handlers
//! and layers as on Lambda.

use axum::Router;
use buddo_shared::http::Routes;
use buddo_shared::AppState;

/// Every group's routes.
pub fn routes() -> Routes {
    buddo_auth::routes()
        .merge(buddo_oauth::routes())
        .merge(buddo_session::routes())
        .merge(buddo_user::routes())
        .merge(buddo_admin::routes())
        .merge(buddo_external::routes())
}

/// Every group's routes with the common layers.
pub fn app(state: AppState) -> Router {
    buddo_shared::http::finish(routes(), state)
}
