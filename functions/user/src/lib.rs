//! `/api/user/*`: the signed-in user's own things. So far their connected apps.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json as Body;
use axum::Router;
use serde::Serialize;

use buddo_shared::domain::oauth::grants::{self, ConnectedApp};
use buddo_shared::http::{AuthUser, Routes};
use buddo_shared::{ApiResult, AppState};

/// The group as a Lambda function serves it.
pub fn router(state: AppState) -> Router {
    buddo_shared::http::finish(routes(), state)
}

/// The group's routes, for the Lambda router, the local server and the route list.
pub fn routes() -> Routes {
    Routes::new()
        .get("/api/user/connected-apps", connected_apps)
        .delete("/api/user/connected-apps/{app_id}", revoke_app)
}

/// A connected app, in the shape of the reference.
#[derive(Serialize)]
struct ConnectedAppView<'a> {
    app_description: Option<&'a str>,
    app_id: &'a str,
    app_name: &'a str,
    connected_at: &'a str,
    last_used: Option<&'a str>,
    logo_url: Option<&'a str>,
    scopes: Vec<&'static str>,
}

impl<'a> ConnectedAppView<'a> {
    fn new(c: &'a ConnectedApp) -> Self {
        ConnectedAppView {
            app_description: c.app.app_description.as_deref(),
            app_id: &c.app.id,
            app_name: &c.app.app_name,
            connected_at: &c.grant.connected_at,
            last_used: c.grant.last_used.as_deref(),
            logo_url: c.app.logo_url.as_deref(),
            scopes: c.grant.scopes.to_strings(),
        }
    }
}

#[derive(Serialize)]
struct ConnectedApps<'a> {
    connected_apps: Vec<ConnectedAppView<'a>>,
}

#[derive(Serialize)]
struct Message {
    message: &'static str,
}

async fn connected_apps(State(state): State<AppState>, auth: AuthUser) -> ApiResult<Response> {
    let apps = grants::connected_apps(&state, &auth.user.id).await?;
    Ok(Body(ConnectedApps {
        connected_apps: apps.iter().map(ConnectedAppView::new).collect(),
    })
    .into_response())
}

async fn revoke_app(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(app_id): Path<String>,
) -> ApiResult<Response> {
    grants::revoke(&state, &auth.user.id, &app_id).await?;
    Ok(Body(Message {
        message: "Access revoked; the app's tokens and session have ended",
    })
    .into_response())
}
