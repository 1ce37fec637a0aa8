//! `/api/external/*`: what an operator app does for a user with an OAuth access token — read
//! the profile and points, spend and transfer points, read the app's balance, watch and end
//! the app session, serve ads and record their events. Each endpoint needs its scope.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json as Body;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use buddo_shared::clock::rfc3339;
use buddo_shared::domain::ads::{self, Campaign, EventType, Surface};
use buddo_shared::domain::app_sessions;
use buddo_shared::domain::input;
use buddo_shared::domain::ledger::idempotency::IdempotencyKey;
use buddo_shared::domain::ledger::{self, app_balance, operator};
use buddo_shared::domain::oauth::Scope;
use buddo_shared::http::{AppCaller, Json, Query, Routes};
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
    Routes::new()
        .get("/api/external/user", user)
        .get("/api/external/points", points)
        .post("/api/external/points/spend", spend)
        .post("/api/external/points/transfer", transfer)
        .get("/api/external/app/balance", app_balance_of)
        .get("/api/external/session/status", session_status)
        .post("/api/external/session/end", session_end)
        .get("/api/external/ads/serve", serve_ad)
        .post("/api/external/ads/event", ad_event)
}

fn ok<T: Serialize>(body: T) -> ApiResult<Response> {
    Ok(Body(body).into_response())
}

#[derive(Serialize)]
struct UserProfile<'a> {
    id: &'a str,
    username: &'a str,
    email: &'a str,
    email_verified: bool,
    tier: &'a str,
    tier_emoji: &'a str,
    created_at: &'a str,
}

#[derive(Serialize)]
struct UserEnvelope<'a> {
    user: UserProfile<'a>,
}

async fn user(State(state): State<AppState>, caller: AppCaller) -> ApiResult<Response> {
    caller.require(Scope::ProfileRead)?;
    let u = &caller.user;
    let tier = state.config.tier(u.total_earned);
    ok(UserEnvelope {
        user: UserProfile {
            id: &u.id,
            username: &u.username,
            email: &u.email,
            email_verified: u.email_verified,
            tier: &tier.name,
            tier_emoji: &tier.emoji,
            created_at: &u.created_at,
        },
    })
}

#[derive(Serialize)]
struct Points {
    points: i64,
}

async fn points(caller: AppCaller) -> ApiResult<Response> {
    caller.require(Scope::PointsRead)?;
    ok(Points {
        points: caller.user.points,
    })
}

/// The `Idempotency-Key` header, when sent.
fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<IdempotencyKey>> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        // Not visible ASCII: refused like an empty key.
        Some(v) => IdempotencyKey::parse(v.to_str().unwrap_or_default()).map(Some),
    }
}

fn description(raw: Option<String>) -> ApiResult<Option<String>> {
    raw.map(|d| input::text("description", &d, 0, 500))
        .transpose()
}

#[derive(Deserialize)]
struct SpendBody {
    amount: Value,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Serialize)]
struct SpendView {
    amount_spent: i64,
    points: i64,
    success: bool,
}

async fn spend(
    State(state): State<AppState>,
    caller: AppCaller,
    headers: HeaderMap,
    Json(body): Json<SpendBody>,
) -> ApiResult<Response> {
    caller.require(Scope::PointsSpend)?;
    let amount = ledger::parse_amount("amount", &body.amount)?;
    let spent = operator::spend(
        &state,
        &caller,
        amount,
        description(body.description)?,
        idempotency_key(&headers)?,
    )
    .await?;
    ok(SpendView {
        amount_spent: spent.amount_spent,
        points: spent.points,
        success: true,
    })
}

#[derive(Deserialize)]
struct TransferBody {
    amount: Value,
    to_user_id: String,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Serialize)]
struct TransferView {
    amount_transferred: i64,
    points: i64,
    success: bool,
}

async fn transfer(
    State(state): State<AppState>,
    caller: AppCaller,
    headers: HeaderMap,
    Json(body): Json<TransferBody>,
) -> ApiResult<Response> {
    caller.require(Scope::PointsTransfer)?;
    let amount = ledger::parse_amount("amount", &body.amount)?;
    let done = operator::transfer(
        &state,
        &caller,
        &body.to_user_id,
        amount,
        description(body.description)?,
        idempotency_key(&headers)?,
    )
    .await?;
    ok(TransferView {
        amount_transferred: done.amount_transferred,
        points: done.points,
        success: true,
    })
}

async fn app_balance_of(State(state): State<AppState>, caller: AppCaller) -> ApiResult<Response> {
    caller.require(Scope::AppBalanceRead)?;
    ok(Points {
        points: app_balance::balance(state.table.as_ref(), &caller.token.app_id).await?,
    })
}

#[derive(Serialize)]
struct SessionStatus {
    is_alive: bool,
    last_heartbeat: Option<String>,
    points_earned: Option<i64>,
    session_active: bool,
    session_id: Option<String>,
}

fn at(unix: i64) -> String {
    rfc3339(
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    )
}

async fn session_status(State(state): State<AppState>, caller: AppCaller) -> ApiResult<Response> {
    caller.require(Scope::ProfileRead)?;
    let session = app_sessions::get(&state, &caller.user.id, &caller.token.app_id).await?;
    ok(match session {
        None => SessionStatus {
            is_alive: false,
            last_heartbeat: None,
            points_earned: None,
            session_active: false,
            session_id: None,
        },
        Some(s) => SessionStatus {
            is_alive: s.is_alive(&state),
            last_heartbeat: Some(at(s.last_heartbeat)),
            points_earned: Some(s.points_earned),
            session_active: s.is_active(&state),
            session_id: Some(s.id),
        },
    })
}

#[derive(Serialize)]
struct Ended {
    message: &'static str,
    session_id: String,
}

async fn session_end(State(state): State<AppState>, caller: AppCaller) -> ApiResult<Response> {
    caller.require(Scope::ProfileRead)?;
    let session_id = app_sessions::end(&state, &caller.user.id, &caller.token.app_id).await?;
    ok(Ended {
        message: "Session ended",
        session_id,
    })
}

#[derive(Deserialize)]
struct ServeQuery {
    #[serde(default)]
    surface_type: Option<String>,
}

#[derive(Serialize)]
struct CampaignView<'a> {
    bitcoin_tier: &'a Value,
    id: &'a str,
    name: &'a str,
    payout_rate: i64,
    surface_type: &'static str,
    targeting_metadata: &'a Value,
}

impl<'a> CampaignView<'a> {
    fn new(c: &'a Campaign) -> Self {
        CampaignView {
            bitcoin_tier: &c.bitcoin_tier,
            id: &c.id,
            name: &c.name,
            payout_rate: c.payout_rate,
            surface_type: c.surface_type.as_str(),
            targeting_metadata: &c.targeting_metadata,
        }
    }
}

#[derive(Serialize)]
struct CampaignEnvelope<'a> {
    campaign: CampaignView<'a>,
}

async fn serve_ad(
    State(state): State<AppState>,
    caller: AppCaller,
    Query(query): Query<ServeQuery>,
) -> ApiResult<Response> {
    caller.require(Scope::ProfileRead)?;
    let surface = query
        .surface_type
        .as_deref()
        .ok_or_else(|| ApiError::field("surface_type", "is required"))?;
    let campaign = ads::serve(
        &state,
        &caller.user,
        Surface::parse("surface_type", surface)?,
    )
    .await?;
    ok(CampaignEnvelope {
        campaign: CampaignView::new(&campaign),
    })
}

#[derive(Deserialize)]
struct EventBody {
    campaign_id: String,
    event_type: String,
    #[serde(default)]
    surface_type: Option<String>,
}

#[derive(Serialize)]
struct EventView {
    campaign_id: String,
    event_type: &'static str,
    id: String,
    inserted_at: String,
    payout_rate_snapshot: i64,
    surface_type: String,
}

#[derive(Serialize)]
struct EventEnvelope {
    event: EventView,
}

async fn ad_event(
    State(state): State<AppState>,
    caller: AppCaller,
    Json(body): Json<EventBody>,
) -> ApiResult<Response> {
    caller.require(Scope::ProfileRead)?;
    let event_type = match body.event_type.as_str() {
        "impression" => EventType::Impression,
        "click" => EventType::Click,
        _ => return Err(ApiError::field("event_type", "must be impression or click")),
    };
    let surface = body
        .surface_type
        .as_deref()
        .map(|s| Surface::parse("surface_type", s))
        .transpose()?;
    let event = ads::record_event(
        &state,
        &caller.user,
        &caller.token.app_id,
        &body.campaign_id,
        event_type,
        surface,
    )
    .await?;
    ok(EventEnvelope {
        event: EventView {
            campaign_id: event.campaign_id,
            event_type: event.event_type.as_str(),
            id: event.id,
            inserted_at: event.inserted_at,
            payout_rate_snapshot: event.payout_rate_snapshot,
            surface_type: event.surface_type,
        },
    })
}
