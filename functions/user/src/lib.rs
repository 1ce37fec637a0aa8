//! `/api/user/*`: the signed-in user's own things. So far their connected apps.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json as Body;
use axum::Router;
use serde::{Deserialize, Serialize};

use buddo_shared::domain::ledger::{self, LedgerEntry};
use buddo_shared::domain::oauth::grants::{self, ConnectedApp};
use buddo_shared::http::{AuthUser, Query, Routes};
use buddo_shared::{ApiError, ApiResult, AppState};

/// The group as a Lambda function serves it.
pub fn router(state: AppState) -> Router {
    buddo_shared::http::finish(routes(), state)
}

/// The group's routes, for the Lambda router, the local server and the route list.
pub fn routes() -> Routes {
    Routes::new()
        .get("/api/user/connected-apps", connected_apps)
        .delete("/api/user/connected-apps/{app_id}", revoke_app)
        .get("/api/user/points/history", points_history)
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

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    cursor: Option<String>,
}

/// One ledger entry as its owner sees it.
#[derive(Serialize)]
struct EntryView<'a> {
    id: &'a str,
    kind: ledger::EntryKind,
    amount: i64,
    description: Option<&'a str>,
    reference: &'a str,
    counterparty: Option<&'a str>,
    created_at: &'a str,
}

impl<'a> EntryView<'a> {
    fn new(e: &'a LedgerEntry) -> Self {
        EntryView {
            id: &e.id,
            kind: e.kind,
            amount: e.amount,
            description: e.description.as_deref(),
            reference: &e.reference,
            counterparty: e.counterparty.as_deref(),
            created_at: &e.created_at,
        }
    }
}

#[derive(Serialize)]
struct HistoryView<'a> {
    entries: Vec<EntryView<'a>>,
    next_cursor: Option<String>,
}

async fn points_history(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(page): Query<Page>,
) -> ApiResult<Response> {
    let limit = match page.limit {
        None => 50,
        Some(n) if (1..=100).contains(&n) => n,
        Some(_) => return Err(ApiError::field("limit", "must be 1 to 100")),
    };
    let history = ledger::history(&state, &auth.user.id, limit, page.cursor).await?;
    Ok(Body(HistoryView {
        entries: history.entries.iter().map(EntryView::new).collect(),
        next_cursor: history.next_cursor,
    })
    .into_response())
}
