//! Ad campaigns: what apps serve, what an event pays, and the budget it pays from.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use buddo_shared::domain::ads::{self, CampaignChanges, CampaignStatus, NewCampaign, Surface};
use buddo_shared::domain::input;
use buddo_shared::domain::input::Amount;
use buddo_shared::http::openapi::{
    campaign_status_or_null, surface, CampaignStatusName, ErrorBody, SurfaceName,
};
use buddo_shared::http::{nullable, AdminUser, Json, Query};
use buddo_shared::{ApiError, ApiResult, AppState};

use crate::views::{CampaignEnvelope, CampaignList, CampaignView};

/// The 409 of the changes to a campaign.
const CAMPAIGN_CHANGED: &str = "`campaign_changed`: the campaign changed meanwhile; try again";

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CampaignFilter {
    /// Only campaigns of this surface.
    #[serde(default)]
    #[param(value_type = Option<SurfaceName>, inline)]
    surface_type: Option<String>,
    /// Only campaigns of this status.
    #[serde(default)]
    #[param(value_type = Option<CampaignStatusName>, inline)]
    status: Option<String>,
}

/// Every campaign (of a surface, of a status), oldest first, with its counts.
#[utoipa::path(get, path = "/api/admin/campaigns", tag = "admin",
    security(("user_jwt" = [])), params(CampaignFilter),
    responses(
        (status = 200, description = "The campaigns", body = CampaignList),
    ))]
pub(crate) async fn list_campaigns(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(filter): Query<CampaignFilter>,
) -> ApiResult<Json<CampaignList>> {
    let surface = filter
        .surface_type
        .as_deref()
        .map(|s| Surface::parse("surface_type", s))
        .transpose()?;
    let status = filter.status.as_deref().map(parse_status).transpose()?;
    let campaigns = ads::list(&state, surface, status).await?;
    Ok(Json(CampaignList {
        campaigns: campaigns
            .iter()
            .map(|(c, s)| CampaignView::new(c, s))
            .collect(),
    }))
}

fn parse_status(raw: &str) -> ApiResult<CampaignStatus> {
    CampaignStatus::parse("status", raw)
}

/// A JSON object (passed through to apps).
fn object(field: &'static str, v: Option<Value>) -> ApiResult<Value> {
    match v {
        None | Some(Value::Null) => Ok(Value::Object(Default::default())),
        Some(v @ Value::Object(_)) if v.to_string().len() <= 8192 && storable(&v) => Ok(v),
        Some(_) => Err(ApiError::field(
            field,
            "must be a JSON object (at most 8 KiB) without empty keys, its numbers 0 or between 1e-130 and 1e126 in size",
        )),
    }
}

/// Whether DynamoDB stores the value as it is: no empty key at any depth (an empty attribute
/// name is refused) and numbers within its range (magnitudes 1e-130 to below 1e126).
fn storable(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.iter().all(|(k, v)| !k.is_empty() && storable(v)),
        Value::Array(a) => a.iter().all(storable),
        Value::Number(n) => n
            .as_f64()
            .is_some_and(|x| x == 0.0 || (1e-130..1e126).contains(&x.abs())),
        _ => true,
    }
}

/// An RFC 3339 time, stored in the normal form.
fn time_field(field: &'static str, raw: &str) -> ApiResult<String> {
    time::OffsetDateTime::parse(raw, &time::format_description::well_known::Rfc3339)
        .map(buddo_shared::clock::rfc3339)
        .map_err(|_| ApiError::field(field, "must be an RFC 3339 time"))
}

/// A new campaign.
#[derive(Deserialize, ToSchema)]
pub(crate) struct NewCampaignBody {
    /// 1 to 200 characters.
    #[schema(max_length = 200)]
    name: String,
    #[schema(schema_with = surface)]
    surface_type: String,
    /// Points a paid event pays (before the user's multiplier), 1 to 1,000,000,000.
    #[schema(value_type = i64, minimum = 1, maximum = 1_000_000_000)]
    payout_rate: Value,
    /// Points the campaign may pay in all, 0 to 1,000,000,000.
    #[schema(value_type = i64, minimum = 0, maximum = 1_000_000_000)]
    budget: Value,
    /// A JSON object of at most 8 KiB (`{}` when left out or `null`), passed through to apps;
    /// its `tiers` list, when present, limits who is served. No key may be empty.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    targeting_metadata: Option<Value>,
    /// A JSON object of at most 8 KiB (`{}` when left out or `null`), passed through to apps.
    /// No key may be empty.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    bitcoin_tier: Option<Value>,
    /// `active` when left out.
    #[serde(default)]
    #[schema(schema_with = campaign_status_or_null)]
    status: Option<String>,
    /// When it starts running (RFC 3339); at once when left out.
    #[serde(default)]
    #[schema(format = "date-time")]
    starts_at: Option<String>,
    /// When it stops running (RFC 3339), after `starts_at`; never when left out.
    #[serde(default)]
    #[schema(format = "date-time")]
    ends_at: Option<String>,
}

/// Creates an ad campaign.
#[utoipa::path(post, path = "/api/admin/campaigns", tag = "admin",
    security(("user_jwt" = [])), request_body = NewCampaignBody,
    responses(
        (status = 201, description = "The campaign", body = CampaignEnvelope),
    ))]
pub(crate) async fn create_campaign(
    State(state): State<AppState>,
    _admin: AdminUser,
    Json(body): Json<NewCampaignBody>,
) -> ApiResult<(StatusCode, Json<CampaignEnvelope>)> {
    let new = NewCampaign {
        name: input::text("name", &body.name, 1, 200)?,
        surface_type: Surface::parse("surface_type", &body.surface_type)?,
        payout_rate: Amount::at_least("payout_rate", &body.payout_rate, 1).map(Amount::get)?,
        budget: Amount::at_least("budget", &body.budget, 0).map(Amount::get)?,
        targeting_metadata: object("targeting_metadata", body.targeting_metadata)?,
        bitcoin_tier: object("bitcoin_tier", body.bitcoin_tier)?,
        status: body
            .status
            .as_deref()
            .map(parse_status)
            .transpose()?
            .unwrap_or(CampaignStatus::Active),
        starts_at: body
            .starts_at
            .as_deref()
            .map(|t| time_field("starts_at", t))
            .transpose()?,
        ends_at: body
            .ends_at
            .as_deref()
            .map(|t| time_field("ends_at", t))
            .transpose()?,
    };
    if let (Some(start), Some(end)) = (&new.starts_at, &new.ends_at) {
        if end <= start {
            return Err(ApiError::field("ends_at", "must be after starts_at"));
        }
    }
    let campaign = ads::create(&state, new).await?;
    let stats = ads::stats(state.table.as_ref(), &campaign.id).await?;
    Ok((
        StatusCode::CREATED,
        Json(CampaignEnvelope {
            campaign: CampaignView::new(&campaign, &stats),
        }),
    ))
}

/// Changes to a campaign: fields left out (or `null`) stay; `null` clears `starts_at` and
/// `ends_at`. The budget cannot change.
#[derive(Deserialize, ToSchema)]
pub(crate) struct CampaignChangesBody {
    /// 1 to 200 characters.
    #[serde(default)]
    #[schema(max_length = 200)]
    name: Option<String>,
    /// 1 to 1,000,000,000.
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000)]
    payout_rate: Option<Value>,
    /// A JSON object of at most 8 KiB; no key may be empty.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    targeting_metadata: Option<Value>,
    /// A JSON object of at most 8 KiB; no key may be empty.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    bitcoin_tier: Option<Value>,
    #[serde(default)]
    #[schema(schema_with = campaign_status_or_null)]
    status: Option<String>,
    /// RFC 3339; `null`: at once.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = "date-time")]
    starts_at: Option<Option<String>>,
    /// RFC 3339; `null`: never.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = "date-time")]
    ends_at: Option<Option<String>>,
}

async fn change_campaign(
    state: &AppState,
    id: &str,
    changes: CampaignChanges,
) -> ApiResult<Json<CampaignEnvelope>> {
    let campaign = ads::update(state, id, changes).await?;
    let stats = ads::stats(state.table.as_ref(), &campaign.id).await?;
    Ok(Json(CampaignEnvelope {
        campaign: CampaignView::new(&campaign, &stats),
    }))
}

/// Changes a campaign.
#[utoipa::path(patch, path = "/api/admin/campaigns/{id}", tag = "admin",
    security(("user_jwt" = [])), request_body = CampaignChangesBody,
    params(("id" = String, Path, description = "The campaign's id")),
    responses(
        (status = 200, description = "The campaign as it is now", body = CampaignEnvelope),
        (status = 404, description = "`campaign_not_found`", body = ErrorBody),
        (status = 409, description = CAMPAIGN_CHANGED, body = ErrorBody),
    ))]
pub(crate) async fn update_campaign(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
    Json(body): Json<CampaignChangesBody>,
) -> ApiResult<Json<CampaignEnvelope>> {
    let when = |field, v: Option<Option<String>>| {
        v.map(|v| v.map(|t| time_field(field, &t)).transpose())
            .transpose()
    };
    let changes = CampaignChanges {
        name: body
            .name
            .map(|n| input::text("name", &n, 1, 200))
            .transpose()?,
        payout_rate: body
            .payout_rate
            .map(|v| Amount::at_least("payout_rate", &v, 1).map(Amount::get))
            .transpose()?,
        targeting_metadata: body
            .targeting_metadata
            .map(|v| object("targeting_metadata", Some(v)))
            .transpose()?,
        bitcoin_tier: body
            .bitcoin_tier
            .map(|v| object("bitcoin_tier", Some(v)))
            .transpose()?,
        status: body.status.as_deref().map(parse_status).transpose()?,
        starts_at: when("starts_at", body.starts_at)?,
        ends_at: when("ends_at", body.ends_at)?,
    };
    change_campaign(&state, &id, changes).await
}

async fn set_status(
    state: &AppState,
    id: &str,
    status: CampaignStatus,
) -> ApiResult<Json<CampaignEnvelope>> {
    let changes = CampaignChanges {
        status: Some(status),
        ..Default::default()
    };
    change_campaign(state, id, changes).await
}

/// Pauses a campaign: it is not served until resumed.
#[utoipa::path(post, path = "/api/admin/campaigns/{id}/pause", tag = "admin",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The campaign's id")),
    responses(
        (status = 200, description = "The campaign, paused", body = CampaignEnvelope),
        (status = 404, description = "`campaign_not_found`", body = ErrorBody),
        (status = 409, description = CAMPAIGN_CHANGED, body = ErrorBody),
    ))]
pub(crate) async fn pause_campaign(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignEnvelope>> {
    set_status(&state, &id, CampaignStatus::Paused).await
}

/// Resumes a paused campaign.
#[utoipa::path(post, path = "/api/admin/campaigns/{id}/resume", tag = "admin",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The campaign's id")),
    responses(
        (status = 200, description = "The campaign, active", body = CampaignEnvelope),
        (status = 404, description = "`campaign_not_found`", body = ErrorBody),
        (status = 409, description = CAMPAIGN_CHANGED, body = ErrorBody),
    ))]
pub(crate) async fn resume_campaign(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Json<CampaignEnvelope>> {
    set_status(&state, &id, CampaignStatus::Active).await
}
