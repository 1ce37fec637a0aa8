//! `/api/external/*`: what an operator app does for a user with an OAuth access token — read
//! the profile and points, spend and transfer points, read the app's balance, watch and end
//! the app session, serve ads and record their events. Each endpoint needs its scope.

use axum::extract::State;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::schema::Object;
use utoipa::{IntoParams, ToSchema};

use buddo_shared::clock::rfc3339;
use buddo_shared::domain::ads::{self, Campaign, EventType, Surface};
use buddo_shared::domain::app_sessions;
use buddo_shared::domain::input::{self, Amount};
use buddo_shared::domain::ledger::idempotency::IdempotencyKey;
use buddo_shared::domain::ledger::{app_balance, operator};
use buddo_shared::domain::oauth::Scope;
use buddo_shared::http::openapi::{
    always_true, one_of, surface, surface_or_null, ErrorBody, SurfaceName,
};
use buddo_shared::http::{AppCaller, Json, Query, Routes};
use buddo_shared::{ApiError, ApiResult, AppState};

/// The group as a Lambda function serves it.
pub fn router(state: AppState) -> Router {
    buddo_shared::http::finish(routes(), state)
}

/// The group's operations, for the API's OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    user,
    points,
    spend,
    transfer,
    app_balance_of,
    session_status,
    session_end,
    serve_ad,
    ad_event,
))]
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

/// `#[schema(schema_with = …)]`: a kind of ad event.
fn event_type() -> Object {
    one_of([EventType::Impression, EventType::Click].map(EventType::as_str))
}

/// The 422 of the movements that take an `Idempotency-Key`.
const KEY_REUSED: &str = "`idempotency_key_reused`: this Idempotency-Key came with another body";

/// The user the access token acts for.
#[derive(Serialize, ToSchema)]
#[schema(as = OperatorUser)]
struct UserProfile {
    id: String,
    username: String,
    email: String,
    email_verified: bool,
    /// The user's tier, by the points they ever earned.
    tier: String,
    tier_emoji: String,
    /// When the account was created (RFC 3339).
    created_at: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = OperatorUserEnvelope)]
struct UserEnvelope {
    user: UserProfile,
}

/// The user the access token acts for.
#[utoipa::path(get, path = "/api/external/user", tag = "operator",
    security(("oauth2" = ["profile:read"])),
    responses((status = 200, description = "The user's profile, with their email and tier", body = UserEnvelope)))]
async fn user(State(state): State<AppState>, caller: AppCaller) -> ApiResult<Json<UserEnvelope>> {
    caller.require(Scope::ProfileRead)?;
    let u = &caller.user;
    let tier = state.config.tier(u.total_earned);
    Ok(Json(UserEnvelope {
        user: UserProfile {
            id: u.id.clone(),
            username: u.username.clone(),
            email: u.email.clone(),
            email_verified: u.email_verified,
            tier: tier.name.clone(),
            tier_emoji: tier.emoji.clone(),
            created_at: u.created_at.clone(),
        },
    }))
}

/// A balance of points.
#[derive(Serialize, ToSchema)]
#[schema(as = PointsBalance)]
struct Points {
    points: i64,
}

/// The user's points balance.
#[utoipa::path(get, path = "/api/external/points", tag = "operator",
    security(("oauth2" = ["points:read"])),
    responses((status = 200, description = "The user's balance", body = Points)))]
async fn points(caller: AppCaller) -> ApiResult<Json<Points>> {
    caller.require(Scope::PointsRead)?;
    Ok(Json(Points {
        points: caller.user.points,
    }))
}

/// The caller as the ledger sees it: the user, the app, the token's scopes.
fn points_caller(caller: &AppCaller) -> operator::PointsCaller<'_> {
    operator::PointsCaller {
        user: &caller.user,
        app_id: &caller.token.app_id,
        scopes: &caller.token.scopes,
    }
}

fn description(raw: Option<String>) -> ApiResult<Option<String>> {
    raw.map(|d| input::text("description", &d, 0, 500))
        .transpose()
}

/// Points a user spends at the app.
#[derive(Deserialize, ToSchema)]
struct SpendBody {
    /// A whole number of points, 1 to 1,000,000,000.
    #[schema(value_type = i64, minimum = 1, maximum = 1_000_000_000)]
    amount: Value,
    /// Up to 500 characters, shown in the user's history.
    #[serde(default)]
    #[schema(max_length = 500)]
    description: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Spent)]
struct SpendView {
    amount_spent: i64,
    /// The user's balance after it.
    points: i64,
    /// `true`.
    #[schema(schema_with = always_true)]
    success: bool,
}

/// Spends the user's points at the app (they go to the app's balance).
#[utoipa::path(post, path = "/api/external/points/spend", tag = "operator",
    security(("oauth2" = ["points:spend"])), request_body = SpendBody,
    params(IdempotencyKey),
    responses(
        (status = 200, description = "Spent (or the first answer to this Idempotency-Key)", body = SpendView),
        (status = 400, description = "`insufficient_points`: the user has fewer points; `invalid_idempotency_key`; bad input: `validation_failed` (`amount`, `description`), `malformed_json`, `invalid_request`", body = ErrorBody),
        (status = 422, description = KEY_REUSED, body = ErrorBody),
    ))]
async fn spend(
    State(state): State<AppState>,
    caller: AppCaller,
    key: Option<IdempotencyKey>,
    Json(body): Json<SpendBody>,
) -> ApiResult<Json<SpendView>> {
    let amount = Amount::parse("amount", &body.amount)?;
    let spent = operator::spend(
        &state,
        points_caller(&caller),
        amount,
        description(body.description)?,
        key,
    )
    .await?;
    Ok(Json(SpendView {
        amount_spent: spent.amount_spent,
        points: spent.points,
        success: true,
    }))
}

/// Points a user sends to another user.
#[derive(Deserialize, ToSchema)]
struct TransferBody {
    /// A whole number of points, 1 to 1,000,000,000.
    #[schema(value_type = i64, minimum = 1, maximum = 1_000_000_000)]
    amount: Value,
    /// The id of the user who receives them (not the sender).
    #[schema(format = "uuid")]
    to_user_id: String,
    /// Up to 500 characters, shown in both users' histories.
    #[serde(default)]
    #[schema(max_length = 500)]
    description: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = Transferred)]
struct TransferView {
    amount_transferred: i64,
    /// The sender's balance after it.
    points: i64,
    /// `true`.
    #[schema(schema_with = always_true)]
    success: bool,
}

/// Transfers the user's points to another user.
#[utoipa::path(post, path = "/api/external/points/transfer", tag = "operator",
    security(("oauth2" = ["points:transfer"])), request_body = TransferBody,
    params(IdempotencyKey),
    responses(
        (status = 200, description = "Transferred (or the first answer to this Idempotency-Key)", body = TransferView),
        (status = 400, description = "`insufficient_points`: the user has fewer points; `invalid_idempotency_key`; bad input: `validation_failed` (`amount`, `description`, `to_user_id`: not a user id, or the sender's own), `malformed_json`, `invalid_request`", body = ErrorBody),
        (status = 404, description = "`recipient_not_found`: no user has that id", body = ErrorBody),
        (status = 422, description = KEY_REUSED, body = ErrorBody),
    ))]
async fn transfer(
    State(state): State<AppState>,
    caller: AppCaller,
    key: Option<IdempotencyKey>,
    Json(body): Json<TransferBody>,
) -> ApiResult<Json<TransferView>> {
    let amount = Amount::parse("amount", &body.amount)?;
    let done = operator::transfer(
        &state,
        points_caller(&caller),
        &body.to_user_id,
        amount,
        description(body.description)?,
        key,
    )
    .await?;
    Ok(Json(TransferView {
        amount_transferred: done.amount_transferred,
        points: done.points,
        success: true,
    }))
}

/// The app's own balance: points spent at it and its share of ad payouts.
#[utoipa::path(get, path = "/api/external/app/balance", tag = "operator",
    security(("oauth2" = ["app:balance:read"])),
    responses((status = 200, description = "The app's balance", body = Points)))]
async fn app_balance_of(
    State(state): State<AppState>,
    caller: AppCaller,
) -> ApiResult<Json<Points>> {
    caller.require(Scope::AppBalanceRead)?;
    Ok(Json(Points {
        points: app_balance::balance(state.table.as_ref(), &caller.token.app_id).await?,
    }))
}

/// The user's session in the app; the fields are `null` when there never was one.
#[derive(Serialize, ToSchema)]
#[schema(as = AppSessionStatus)]
struct SessionStatus {
    /// Heard from within the alive window (it earns points).
    is_alive: bool,
    /// The last heartbeat (RFC 3339).
    #[schema(required = true)]
    last_heartbeat: Option<String>,
    /// Points the session earned so far.
    #[schema(required = true)]
    points_earned: Option<i64>,
    /// Not ended, and heard from within the idle timeout.
    session_active: bool,
    #[schema(required = true)]
    session_id: Option<String>,
}

fn at(unix: i64) -> String {
    rfc3339(
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    )
}

/// Whether the user's session in the app is alive, and what it earned.
#[utoipa::path(get, path = "/api/external/session/status", tag = "app sessions",
    security(("oauth2" = ["profile:read"])),
    responses((status = 200, description = "The session's state", body = SessionStatus)))]
async fn session_status(
    State(state): State<AppState>,
    caller: AppCaller,
) -> ApiResult<Json<SessionStatus>> {
    caller.require(Scope::ProfileRead)?;
    let session = app_sessions::get(&state, &caller.user.id, &caller.token.app_id).await?;
    Ok(Json(match session {
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
    }))
}

#[derive(Serialize, ToSchema)]
#[schema(as = AppSessionEnded)]
struct Ended {
    /// `Session ended`.
    message: &'static str,
    session_id: String,
}

/// Ends the user's session in the app: no more heartbeats or earnings.
#[utoipa::path(post, path = "/api/external/session/end", tag = "app sessions",
    security(("oauth2" = ["profile:read"])),
    responses(
        (status = 200, description = "The session ended", body = Ended),
        (status = 404, description = "`no_active_session`: the user has no session with this app that has not ended", body = ErrorBody),
    ))]
async fn session_end(State(state): State<AppState>, caller: AppCaller) -> ApiResult<Json<Ended>> {
    caller.require(Scope::ProfileRead)?;
    let session_id = app_sessions::end(&state, &caller.user.id, &caller.token.app_id).await?;
    Ok(Json(Ended {
        message: "Session ended",
        session_id,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ServeQuery {
    /// The surface the ad is for.
    #[serde(default)]
    #[param(value_type = SurfaceName, inline, required = true)]
    surface_type: Option<String>,
}

/// An ad campaign to show.
#[derive(Serialize, ToSchema)]
#[schema(as = AdCampaign)]
struct CampaignView {
    /// Passed through as the admin set it.
    #[schema(value_type = Object)]
    bitcoin_tier: Value,
    id: String,
    name: String,
    /// Points a paid event pays (before the user's multiplier).
    payout_rate: i64,
    #[schema(schema_with = surface)]
    surface_type: &'static str,
    /// Passed through as the admin set it.
    #[schema(value_type = Object)]
    targeting_metadata: Value,
}

impl CampaignView {
    fn new(c: &Campaign) -> Self {
        CampaignView {
            bitcoin_tier: c.bitcoin_tier.clone(),
            id: c.id.clone(),
            name: c.name.clone(),
            payout_rate: c.payout_rate,
            surface_type: c.surface_type.as_str(),
            targeting_metadata: c.targeting_metadata.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdCampaignEnvelope)]
struct CampaignEnvelope {
    campaign: CampaignView,
}

/// An ad for the user: a running campaign of the surface that targets them and has budget.
#[utoipa::path(get, path = "/api/external/ads/serve", tag = "operator",
    security(("oauth2" = ["profile:read"])), params(ServeQuery),
    responses(
        (status = 200, description = "A campaign to show (one at random among several)", body = CampaignEnvelope),
        (status = 404, description = "`no_campaign`: none to serve on this surface right now", body = ErrorBody),
    ))]
async fn serve_ad(
    State(state): State<AppState>,
    caller: AppCaller,
    Query(query): Query<ServeQuery>,
) -> ApiResult<Json<CampaignEnvelope>> {
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
    Ok(Json(CampaignEnvelope {
        campaign: CampaignView::new(&campaign),
    }))
}

/// An impression or a click of an ad.
#[derive(Deserialize, ToSchema)]
#[schema(as = AdEventBody)]
struct EventBody {
    campaign_id: String,
    #[schema(schema_with = event_type)]
    event_type: String,
    /// Where the ad was shown: the surface of the campaign when left out (it must be the
    /// campaign's surface).
    #[serde(default)]
    #[schema(schema_with = surface_or_null)]
    surface_type: Option<String>,
}

/// A recorded ad event.
#[derive(Serialize, ToSchema)]
#[schema(as = AdEvent)]
struct EventView {
    campaign_id: String,
    #[schema(schema_with = event_type)]
    event_type: &'static str,
    id: String,
    /// When it was recorded (RFC 3339).
    inserted_at: String,
    /// The campaign's payout rate when it happened.
    payout_rate_snapshot: i64,
    #[schema(schema_with = surface)]
    surface_type: String,
    /// `app_not_approved`, only for an app no admin approved yet: its events are recorded
    /// but pay nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false, example = "app_not_approved")]
    unpaid_reason: Option<&'static str>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdEventEnvelope)]
struct EventEnvelope {
    event: EventView,
}

/// Records an impression or a click, paying the user (and the app) when the rules allow.
///
/// A click pays after an impression of the campaign by the user within 30 minutes (by
/// default); an impression pays only on a rewarded surface; a user is paid at most once per
/// campaign and event type a day, while the budget lasts, and only at an approved app.
/// Unpaid events are recorded too. An event must be for a campaign serving would pick for
/// this user and surface (`surface_type`, when left out, is the campaign's own); events are
/// limited per app.
#[utoipa::path(post, path = "/api/external/ads/event", tag = "operator",
    security(("oauth2" = ["profile:read"])), request_body = EventBody,
    responses(
        (status = 200, description = "The event as recorded", body = EventEnvelope),
        (status = 403, description = "`campaign_not_served`: the campaign is not running, not for this user's tier, or not for this surface", body = ErrorBody),
        (status = 404, description = "`campaign_not_found`", body = ErrorBody),
        (status = 429, description = "`rate_limited`: the app sent too many events", body = ErrorBody),
    ))]
async fn ad_event(
    State(state): State<AppState>,
    caller: AppCaller,
    Json(body): Json<EventBody>,
) -> ApiResult<Json<EventEnvelope>> {
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
        &caller.app,
        &body.campaign_id,
        event_type,
        surface,
    )
    .await?;
    Ok(Json(EventEnvelope {
        event: EventView {
            campaign_id: event.campaign_id,
            event_type: event.event_type.as_str(),
            id: event.id,
            inserted_at: event.inserted_at,
            payout_rate_snapshot: event.payout_rate_snapshot,
            surface_type: event.surface_type,
            unpaid_reason: (!caller.app.mints_points()).then_some("app_not_approved"),
        },
    }))
}
