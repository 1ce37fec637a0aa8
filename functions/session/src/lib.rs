//! `/api/session/*`: app sessions. `POST /api/session/refresh` is a heartbeat that rotates
//! the session token and credits what the session earned.

use axum::extract::State;
use axum::Router;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use buddo_shared::domain::app_sessions;
use buddo_shared::domain::RequestMeta;
use buddo_shared::http::openapi::ErrorBody;
use buddo_shared::http::{Json, Routes};
use buddo_shared::{ApiError, ApiResult, AppState};

/// The group as a Lambda function serves it.
pub fn router(state: AppState) -> Router {
    buddo_shared::http::finish(routes(), state)
}

/// The group's operations, for the API's OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(refresh))]
pub struct Api;

/// The group's routes, for the Lambda router, the local server and the route list.
pub fn routes() -> Routes {
    Routes::new().post("/api/session/refresh", refresh)
}

#[derive(Deserialize, ToSchema)]
struct SessionRefreshBody {
    /// The app session's current token (`bst_…`): from the code exchange or the last
    /// refresh.
    #[schema(min_length = 1, max_length = 128)]
    session_token: String,
}

/// The app session's next token.
#[derive(Serialize, ToSchema)]
struct SessionRefreshed {
    /// When the new token expires unless refreshed (RFC 3339).
    expires_at: String,
    /// The new session token (`bst_…`); the one sent no longer works.
    session_token: String,
    /// `app_not_approved`, only for an app no admin approved yet: its sessions run (so its
    /// owner can test the flow) but earn nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "app_not_approved")]
    unpaid_reason: Option<&'static str>,
}

/// Heartbeat of an app session.
///
/// Credits the points the session earned since the last heartbeat and rotates the session
/// token.
#[utoipa::path(post, path = "/api/session/refresh", tag = "app sessions",
    operation_id = "refresh_app_session",
    request_body = SessionRefreshBody,
    responses(
        (status = 200, description = "The session is alive; use the new token for the next heartbeat", body = SessionRefreshed),
        (status = 401, description = "`invalid_session_token`: unknown, expired or already rotated; `session_ended`: the session ended or was idle too long, authorize the app again", body = ErrorBody),
    ))]
async fn refresh(
    State(state): State<AppState>,
    meta: RequestMeta,
    Json(body): Json<SessionRefreshBody>,
) -> ApiResult<Json<SessionRefreshed>> {
    if body.session_token.is_empty() || body.session_token.len() > 128 {
        return Err(ApiError::field("session_token", "is not a session token"));
    }
    let next = app_sessions::refresh(&state, &body.session_token, &meta).await?;
    Ok(Json(SessionRefreshed {
        expires_at: next.expires_at,
        session_token: next.token,
        unpaid_reason: (!next.earning).then_some("app_not_approved"),
    }))
}
