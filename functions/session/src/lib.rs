//! `/api/session/*`: app sessions. `POST /api/session/refresh` is a heartbeat that rotates
//! the session token and credits what the session earned.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json as Body;
use axum::Router;
use serde::{Deserialize, Serialize};

use buddo_shared::domain::app_sessions;
use buddo_shared::domain::RequestMeta;
use buddo_shared::http::{Json, Routes};
use buddo_shared::{ApiError, ApiResult, AppState};

/// The group as a Lambda function serves it.
pub fn router(state: AppState) -> Router {
    buddo_shared::http::finish(routes(), state)
}

/// The group's operations, for the API's OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths())]
pub struct Api;

/// The group's routes, for the Lambda router, the local server and the route list.
pub fn routes() -> Routes {
    Routes::new().post("/api/session/refresh", refresh)
}

#[derive(Deserialize)]
struct RefreshBody {
    session_token: String,
}

#[derive(Serialize)]
struct Refreshed {
    expires_at: String,
    session_token: String,
}

async fn refresh(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<RefreshBody>,
) -> ApiResult<Response> {
    if body.session_token.is_empty() || body.session_token.len() > 128 {
        return Err(ApiError::field("session_token", "is not a session token"));
    }
    let next = app_sessions::refresh(&state, &body.session_token, &meta).await?;
    Ok(Body(Refreshed {
        expires_at: next.expires_at,
        session_token: next.token,
    })
    .into_response())
}
