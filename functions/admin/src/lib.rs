//! `/api/admin/*`: app review, scope requests, ad campaigns, points and accounts. Admins only
//! (403 `forbidden` for others).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json as Body;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, SchemaType, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoParams, PartialSchema, ToSchema};

use buddo_shared::domain::account::deletion;
use buddo_shared::domain::activity::{self, ActivityKind};
use buddo_shared::domain::ads::{
    self, Campaign, CampaignChanges, CampaignStats, CampaignStatus, NewCampaign, Surface,
};
use buddo_shared::domain::input;
use buddo_shared::domain::ledger::{self, MAX_AMOUNT};
use buddo_shared::domain::oauth::apps::{self, OAuthApp, RequestStatus, ScopeRequest};
use buddo_shared::http::openapi::ErrorBody;
use buddo_shared::http::{nullable, AdminUser, Json, Query, Routes};
use buddo_shared::{ApiError, ApiResult, AppState};

/// The group as a Lambda function serves it.
pub fn router(state: AppState) -> Router {
    buddo_shared::http::finish(routes(), state)
}

/// The group's operations, for the API's OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    list_apps,
    suspend_app,
    approve_app,
    unapprove_app,
    list_scope_requests,
    approve_scopes,
    deny_scopes,
    list_campaigns,
    create_campaign,
    update_campaign,
    pause_campaign,
    resume_campaign,
    adjust_points,
    disable_user,
    enable_user,
    everyones_activity,
))]
pub struct Api;

/// The group's routes, for the Lambda router, the local server and the route list.
pub fn routes() -> Routes {
    Routes::new()
        .get("/api/admin/apps", list_apps)
        .post("/api/admin/apps/{id}/approve", approve_app)
        .post("/api/admin/apps/{id}/unapprove", unapprove_app)
        .post("/api/admin/apps/{id}/suspend", suspend_app)
        .get("/api/admin/scope-requests", list_scope_requests)
        .post("/api/admin/scope-requests/{id}/approve", approve_scopes)
        .post("/api/admin/scope-requests/{id}/deny", deny_scopes)
        .get("/api/admin/campaigns", list_campaigns)
        .post("/api/admin/campaigns", create_campaign)
        .patch("/api/admin/campaigns/{id}", update_campaign)
        .post("/api/admin/campaigns/{id}/pause", pause_campaign)
        .post("/api/admin/campaigns/{id}/resume", resume_campaign)
        .post("/api/admin/users/{id}/points", adjust_points)
        .post("/api/admin/users/{id}/disable", disable_user)
        .post("/api/admin/users/{id}/enable", enable_user)
        .get("/api/admin/activity", everyones_activity)
}

const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 100;

/// A string schema of these values only.
fn one_of(values: impl IntoIterator<Item = &'static str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
}

/// A string schema of these values only, or `null`.
fn one_of_or_null(values: impl IntoIterator<Item = &'static str>) -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .enum_values(Some(
            values.into_iter().map(Value::from).chain([Value::Null]),
        ))
        .build()
}

const REQUEST_STATUSES: [&str; 3] = ["pending", "approved", "denied"];
const CAMPAIGN_STATUSES: [&str; 2] = ["active", "paused"];

/// `#[schema(schema_with = …)]`: the status of a scope request.
fn request_status() -> Object {
    one_of(REQUEST_STATUSES).build()
}

/// `#[schema(schema_with = …)]`: a kind of ad surface.
fn surface() -> Object {
    one_of(Surface::ALL.map(Surface::as_str)).build()
}

/// `#[schema(schema_with = …)]`: the status of a campaign.
fn campaign_status() -> Object {
    one_of(CAMPAIGN_STATUSES).build()
}

/// `#[schema(schema_with = …)]`: the status of a campaign, or `null`.
fn campaign_status_or_null() -> Object {
    one_of_or_null(CAMPAIGN_STATUSES)
}

/// Schemas of query parameters (`#[param(value_type = …, inline)]`): `#[param(schema_with)]`
/// would drop the parameter's description.
macro_rules! param_schema {
    ($($name:ident => $schema:expr;)*) => {$(
        struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                $schema.into()
            }
        }

        impl ToSchema for $name {}
    )*};
}

param_schema! {
    RequestStatusName => request_status();
    SurfaceName => surface();
    CampaignStatusName => campaign_status();
    ActivityKindName => buddo_shared::http::openapi::activity_kind();
}

/// An app as an admin reviews it.
#[derive(Serialize, ToSchema)]
struct AdminApp<'a> {
    id: &'a str,
    client_id: &'a str,
    app_name: &'a str,
    #[schema(required = true)]
    app_description: Option<&'a str>,
    /// The user who registered it.
    owner_id: &'a str,
    is_approved: bool,
    /// Stopped for abuse: nobody, its owner included, can use it until approved again.
    suspended: bool,
    /// `client_secret_basic` or `client_secret_post` (confidential), `none` (public).
    token_endpoint_auth_method: &'static str,
    /// Changes of an approved app waiting for approval (`null` when there are none):
    /// approving the app puts them live.
    #[schema(value_type = Option<Object>)]
    pending_changes: Option<&'a apps::Presentation>,
    #[schema(schema_with = buddo_shared::http::openapi::scope_list)]
    allowed_scopes: Vec<&'static str>,
    redirect_uris: &'a [String],
    #[schema(required = true)]
    logo_url: Option<&'a str>,
    #[schema(required = true)]
    website_url: Option<&'a str>,
    /// When it was registered (RFC 3339).
    inserted_at: &'a str,
}

impl<'a> AdminApp<'a> {
    fn new(app: &'a OAuthApp) -> Self {
        AdminApp {
            id: &app.id,
            client_id: &app.client_id,
            app_name: &app.shown.app_name,
            app_description: app.shown.app_description.as_deref(),
            owner_id: &app.owner_id,
            is_approved: app.is_approved,
            suspended: app.suspended,
            token_endpoint_auth_method: app.token_endpoint_auth_method.as_str(),
            pending_changes: app.pending_changes.as_ref(),
            allowed_scopes: app.allowed_scopes.to_strings(),
            redirect_uris: &app.shown.redirect_uris,
            logo_url: app.shown.logo_url.as_deref(),
            website_url: app.shown.website_url.as_deref(),
            inserted_at: &app.inserted_at,
        }
    }
}

/// A request of an app's owner for more scopes.
#[derive(Serialize, ToSchema)]
struct AdminScopeRequest<'a> {
    id: &'a str,
    app_id: &'a str,
    #[schema(schema_with = buddo_shared::http::openapi::scope_list)]
    requested_scopes: Vec<&'static str>,
    #[schema(schema_with = request_status)]
    status: &'static str,
    /// When it was made (RFC 3339).
    inserted_at: &'a str,
    /// When it was decided (RFC 3339); `null` while pending.
    #[schema(required = true)]
    decided_at: Option<&'a str>,
}

impl<'a> AdminScopeRequest<'a> {
    fn new(r: &'a ScopeRequest) -> Self {
        AdminScopeRequest {
            id: &r.id,
            app_id: &r.app_id,
            requested_scopes: r.requested_scopes.to_strings(),
            status: r.status.as_str(),
            inserted_at: &r.inserted_at,
            decided_at: r.decided_at.as_deref(),
        }
    }
}

fn page_limit(limit: Option<usize>) -> ApiResult<usize> {
    match limit {
        None => Ok(DEFAULT_PAGE),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::field("limit", format!("must be 1 to {MAX_PAGE}"))),
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AppFilter {
    /// Only approved apps (`true`) or only pending ones (`false`).
    #[serde(default)]
    approved: Option<bool>,
    /// Apps per page, 1 to 100 (50 when left out).
    #[serde(default)]
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
    /// The `next_cursor` of the page before.
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdminAppList)]
struct AppList<'a> {
    apps: Vec<AdminApp<'a>>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// Every app, oldest first (pending and approved ones each in order).
#[utoipa::path(get, path = "/api/admin/apps", tag = "admin",
    security(("user_jwt" = [])), params(AppFilter),
    responses(
        (status = 200, description = "A page of apps", body = AppList),
    ))]
async fn list_apps(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(filter): Query<AppFilter>,
) -> ApiResult<Response> {
    let limit = page_limit(filter.limit)?;
    let listing = apps::list_all(&state, filter.approved, limit, filter.cursor).await?;
    Ok(Body(AppList {
        apps: listing.items.iter().map(AdminApp::new).collect(),
        next_cursor: listing.next_cursor,
    })
    .into_response())
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdminAppEnvelope)]
struct AppEnvelope<'a> {
    app: AdminApp<'a>,
}

async fn review(state: &AppState, id: &str, decision: apps::Review) -> ApiResult<Response> {
    let app = apps::review(state, id, decision).await?;
    Ok(Body(AppEnvelope {
        app: AdminApp::new(&app),
    })
    .into_response())
}

/// Approves an app: any user may then authorize it; its pending changes go live; a
/// suspension ends.
#[utoipa::path(post, path = "/api/admin/apps/{id}/approve", tag = "admin",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The app's id")),
    responses(
        (status = 200, description = "The app, approved", body = AppEnvelope),
        (status = 404, description = "`app_not_found`", body = ErrorBody),
        (status = 409, description = "`app_changed`: the app changed meanwhile; try again", body = ErrorBody),
    ))]
async fn approve_app(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    review(&state, &id, apps::Review::Approve).await
}

/// Withdraws an app's approval: only its owner may authorize it again, and everything it
/// holds for anyone else — codes, access and refresh tokens, app sessions — ends at once
/// (approving it again does not bring them back).
#[utoipa::path(post, path = "/api/admin/apps/{id}/unapprove", tag = "admin",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The app's id")),
    responses(
        (status = 200, description = "The app, not approved", body = AppEnvelope),
        (status = 404, description = "`app_not_found`", body = ErrorBody),
        (status = 409, description = "`app_changed`: the app changed meanwhile; try again", body = ErrorBody),
    ))]
async fn unapprove_app(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    review(&state, &id, apps::Review::Unapprove).await
}

/// Suspends an app for abuse: nobody, its owner included, can authorize or use it, and
/// everything it holds for anyone ends at once. Approving it again ends the suspension.
#[utoipa::path(post, path = "/api/admin/apps/{id}/suspend", tag = "admin",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The app's id")),
    responses(
        (status = 200, description = "The app, suspended", body = AppEnvelope),
        (status = 404, description = "`app_not_found`", body = ErrorBody),
        (status = 409, description = "`app_changed`: the app changed meanwhile; try again", body = ErrorBody),
    ))]
async fn suspend_app(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    review(&state, &id, apps::Review::Suspend).await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct RequestFilter {
    /// Only requests of this status.
    #[serde(default)]
    #[param(value_type = Option<RequestStatusName>, inline)]
    status: Option<String>,
    /// Requests per page, 1 to 100 (50 when left out).
    #[serde(default)]
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
    /// The `next_cursor` of the page before.
    #[serde(default)]
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdminScopeRequestList)]
struct RequestList<'a> {
    scope_requests: Vec<AdminScopeRequest<'a>>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// Every scope request, oldest first (those of each status in order).
#[utoipa::path(get, path = "/api/admin/scope-requests", tag = "admin",
    security(("user_jwt" = [])), params(RequestFilter),
    responses(
        (status = 200, description = "A page of scope requests", body = RequestList),
    ))]
async fn list_scope_requests(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(filter): Query<RequestFilter>,
) -> ApiResult<Response> {
    let status = filter
        .status
        .as_deref()
        .map(|s| {
            RequestStatus::parse(s)
                .ok_or_else(|| ApiError::field("status", "must be pending, approved or denied"))
        })
        .transpose()?;
    let limit = page_limit(filter.limit)?;
    let listing = apps::list_scope_requests(&state, status, limit, filter.cursor).await?;
    Ok(Body(RequestList {
        scope_requests: listing.items.iter().map(AdminScopeRequest::new).collect(),
        next_cursor: listing.next_cursor,
    })
    .into_response())
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdminScopeRequestEnvelope)]
struct RequestEnvelope<'a> {
    scope_request: AdminScopeRequest<'a>,
}

async fn decide(
    state: &AppState,
    admin: &AdminUser,
    id: &str,
    approve: bool,
) -> ApiResult<Response> {
    let request = apps::decide_scope_request(state, &admin.user, id, approve).await?;
    Ok(Body(RequestEnvelope {
        scope_request: AdminScopeRequest::new(&request),
    })
    .into_response())
}

/// Approves a pending scope request: its scopes join the app's allowed scopes.
#[utoipa::path(post, path = "/api/admin/scope-requests/{id}/approve", tag = "admin",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The scope request's id")),
    responses(
        (status = 200, description = "The request, approved", body = RequestEnvelope),
        (status = 404, description = "`scope_request_not_found`, `app_not_found` (the app is gone)", body = ErrorBody),
        (status = 409, description = "`scope_request_decided`: it was decided already; `app_changed`: the app changed meanwhile", body = ErrorBody),
    ))]
async fn approve_scopes(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    decide(&state, &admin, &id, true).await
}

/// Denies a pending scope request.
#[utoipa::path(post, path = "/api/admin/scope-requests/{id}/deny", tag = "admin",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The scope request's id")),
    responses(
        (status = 200, description = "The request, denied", body = RequestEnvelope),
        (status = 404, description = "`scope_request_not_found`", body = ErrorBody),
        (status = 409, description = "`scope_request_decided`: it was decided already", body = ErrorBody),
    ))]
async fn deny_scopes(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    decide(&state, &admin, &id, false).await
}

/// A campaign with its counts, as an admin sees it.
#[derive(Serialize, ToSchema)]
#[schema(as = AdminCampaign)]
struct CampaignView<'a> {
    id: &'a str,
    name: &'a str,
    #[schema(schema_with = surface)]
    surface_type: &'static str,
    /// Points a paid event pays (before the user's multiplier).
    payout_rate: i64,
    /// Passed through to apps; its `tiers` list, when present, limits who is served.
    #[schema(value_type = Object)]
    targeting_metadata: &'a Value,
    /// Passed through to apps.
    #[schema(value_type = Object)]
    bitcoin_tier: &'a Value,
    /// Points the campaign may pay in all.
    budget: i64,
    #[schema(schema_with = campaign_status)]
    status: &'static str,
    /// When it starts running (RFC 3339); `null`: at once.
    #[schema(required = true)]
    starts_at: Option<&'a str>,
    /// When it stops running (RFC 3339); `null`: never.
    #[schema(required = true)]
    ends_at: Option<&'a str>,
    created_at: &'a str,
    impressions: i64,
    clicks: i64,
    /// Events that paid.
    paid_events: i64,
    /// Points paid to users and apps.
    points_paid: i64,
    /// What is left of the budget.
    budget_left: i64,
}

impl<'a> CampaignView<'a> {
    fn new(c: &'a Campaign, stats: &'a CampaignStats) -> Self {
        CampaignView {
            id: &c.id,
            name: &c.name,
            surface_type: c.surface_type.as_str(),
            payout_rate: c.payout_rate,
            targeting_metadata: &c.targeting_metadata,
            bitcoin_tier: &c.bitcoin_tier,
            budget: c.budget,
            status: c.status.as_str(),
            starts_at: c.starts_at.as_deref(),
            ends_at: c.ends_at.as_deref(),
            created_at: &c.created_at,
            impressions: stats.impressions,
            clicks: stats.clicks,
            paid_events: stats.paid_events,
            points_paid: stats.points_paid,
            budget_left: stats.budget_left,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdminCampaignEnvelope)]
struct CampaignEnvelope<'a> {
    campaign: CampaignView<'a>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdminCampaignList)]
struct CampaignList<'a> {
    campaigns: Vec<CampaignView<'a>>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct CampaignFilter {
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
async fn list_campaigns(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(filter): Query<CampaignFilter>,
) -> ApiResult<Response> {
    let surface = filter
        .surface_type
        .as_deref()
        .map(|s| Surface::parse("surface_type", s))
        .transpose()?;
    let status = filter
        .status
        .as_deref()
        .map(|s| CampaignStatus::parse("status", s))
        .transpose()?;
    let campaigns = ads::list(&state, surface, status).await?;
    Ok(Body(CampaignList {
        campaigns: campaigns
            .iter()
            .map(|(c, s)| CampaignView::new(c, s))
            .collect(),
    })
    .into_response())
}

/// A whole number of points in `min..=MAX_AMOUNT`.
fn points_field(field: &'static str, v: &Value, min: i64) -> ApiResult<i64> {
    match v.as_i64() {
        Some(n) if (min..=MAX_AMOUNT).contains(&n) => Ok(n),
        _ => Err(ApiError::field(
            field,
            format!("must be a whole number from {min} to {MAX_AMOUNT}"),
        )),
    }
}

/// A JSON object (passed through to apps).
fn object(field: &'static str, v: Option<Value>) -> ApiResult<Value> {
    match v {
        None | Some(Value::Null) => Ok(Value::Object(Default::default())),
        Some(v @ Value::Object(_)) if v.to_string().len() <= 8192 => Ok(v),
        Some(_) => Err(ApiError::field(
            field,
            "must be a JSON object (at most 8 KiB)",
        )),
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
struct NewCampaignBody {
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
    /// its `tiers` list, when present, limits who is served.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    targeting_metadata: Option<Value>,
    /// A JSON object of at most 8 KiB (`{}` when left out or `null`), passed through to apps.
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
async fn create_campaign(
    State(state): State<AppState>,
    _admin: AdminUser,
    Json(body): Json<NewCampaignBody>,
) -> ApiResult<Response> {
    let new = NewCampaign {
        name: input::text("name", &body.name, 1, 200)?,
        surface_type: Surface::parse("surface_type", &body.surface_type)?,
        payout_rate: points_field("payout_rate", &body.payout_rate, 1)?,
        budget: points_field("budget", &body.budget, 0)?,
        targeting_metadata: object("targeting_metadata", body.targeting_metadata)?,
        bitcoin_tier: object("bitcoin_tier", body.bitcoin_tier)?,
        status: body
            .status
            .as_deref()
            .map(|s| CampaignStatus::parse("status", s))
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
        Body(CampaignEnvelope {
            campaign: CampaignView::new(&campaign, &stats),
        }),
    )
        .into_response())
}

/// Changes to a campaign: fields left out (or `null`) stay; `null` clears `starts_at` and
/// `ends_at`. The budget cannot change.
#[derive(Deserialize, ToSchema)]
struct CampaignChangesBody {
    /// 1 to 200 characters.
    #[serde(default)]
    #[schema(max_length = 200)]
    name: Option<String>,
    /// 1 to 1,000,000,000.
    #[serde(default)]
    #[schema(value_type = Option<i64>, minimum = 1, maximum = 1_000_000_000)]
    payout_rate: Option<Value>,
    /// A JSON object of at most 8 KiB.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    targeting_metadata: Option<Value>,
    /// A JSON object of at most 8 KiB.
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
) -> ApiResult<Response> {
    let campaign = ads::update(state, id, changes).await?;
    let stats = ads::stats(state.table.as_ref(), &campaign.id).await?;
    Ok(Body(CampaignEnvelope {
        campaign: CampaignView::new(&campaign, &stats),
    })
    .into_response())
}

/// Changes a campaign.
#[utoipa::path(patch, path = "/api/admin/campaigns/{id}", tag = "admin",
    security(("user_jwt" = [])), request_body = CampaignChangesBody,
    params(("id" = String, Path, description = "The campaign's id")),
    responses(
        (status = 200, description = "The campaign as it is now", body = CampaignEnvelope),
        (status = 404, description = "`campaign_not_found`", body = ErrorBody),
        (status = 409, description = "`campaign_changed`: the campaign changed meanwhile; try again", body = ErrorBody),
    ))]
async fn update_campaign(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
    Json(body): Json<CampaignChangesBody>,
) -> ApiResult<Response> {
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
            .map(|v| points_field("payout_rate", &v, 1))
            .transpose()?,
        targeting_metadata: body
            .targeting_metadata
            .map(|v| object("targeting_metadata", Some(v)))
            .transpose()?,
        bitcoin_tier: body
            .bitcoin_tier
            .map(|v| object("bitcoin_tier", Some(v)))
            .transpose()?,
        status: body
            .status
            .as_deref()
            .map(|s| CampaignStatus::parse("status", s))
            .transpose()?,
        starts_at: when("starts_at", body.starts_at)?,
        ends_at: when("ends_at", body.ends_at)?,
    };
    change_campaign(&state, &id, changes).await
}

/// Pauses a campaign: it is not served until resumed.
#[utoipa::path(post, path = "/api/admin/campaigns/{id}/pause", tag = "admin",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The campaign's id")),
    responses(
        (status = 200, description = "The campaign, paused", body = CampaignEnvelope),
        (status = 404, description = "`campaign_not_found`", body = ErrorBody),
        (status = 409, description = "`campaign_changed`: the campaign changed meanwhile; try again", body = ErrorBody),
    ))]
async fn pause_campaign(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let changes = CampaignChanges {
        status: Some(CampaignStatus::Paused),
        ..Default::default()
    };
    change_campaign(&state, &id, changes).await
}

/// Resumes a paused campaign.
#[utoipa::path(post, path = "/api/admin/campaigns/{id}/resume", tag = "admin",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The campaign's id")),
    responses(
        (status = 200, description = "The campaign, active", body = CampaignEnvelope),
        (status = 404, description = "`campaign_not_found`", body = ErrorBody),
        (status = 409, description = "`campaign_changed`: the campaign changed meanwhile; try again", body = ErrorBody),
    ))]
async fn resume_campaign(
    State(state): State<AppState>,
    _admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let changes = CampaignChanges {
        status: Some(CampaignStatus::Active),
        ..Default::default()
    };
    change_campaign(&state, &id, changes).await
}

/// Points an admin grants or deducts.
#[derive(Deserialize, ToSchema)]
#[schema(as = PointsAdjustmentBody)]
struct AdjustBody {
    /// A non-zero whole number from -1,000,000,000 to 1,000,000,000: positive grants,
    /// negative deducts (never below a balance of zero).
    #[schema(value_type = i64, minimum = -1_000_000_000, maximum = 1_000_000_000)]
    amount: Value,
    /// 1 to 500 characters, in the user's history.
    #[schema(max_length = 500)]
    reason: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PointsAdjusted)]
struct Adjusted {
    user_id: String,
    amount: i64,
    /// The user's balance after it.
    points: i64,
}

/// Grants (`amount > 0`) or deducts (`amount < 0`) points, with a reason.
#[utoipa::path(post, path = "/api/admin/users/{id}/points", tag = "admin",
    security(("user_jwt" = [])), request_body = AdjustBody,
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Adjusted", body = Adjusted),
        (status = 400, description = "`insufficient_points`: a deduction larger than the balance; bad input: `validation_failed` (`amount`, `reason`), `malformed_json`, `invalid_request`", body = ErrorBody),
        (status = 403, description = "`forbidden`: admins only; `self_action_forbidden`: never on your own account (another admin can, or the operator with `buddo admin enable`)", body = ErrorBody),
        (status = 404, description = "`user_not_found`", body = ErrorBody),
    ))]
async fn adjust_points(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
    Json(body): Json<AdjustBody>,
) -> ApiResult<Response> {
    let amount = match body.amount.as_i64() {
        Some(n) if n != 0 && n.abs() <= MAX_AMOUNT => n,
        _ => {
            return Err(ApiError::field(
                "amount",
                format!("must be a non-zero whole number from -{MAX_AMOUNT} to {MAX_AMOUNT}"),
            ))
        }
    };
    let reason = input::text("reason", &body.reason, 1, 500)?;
    let points = ledger::adjust_by_admin(&state, &admin.user.id, &id, amount, &reason).await?;
    Ok(Body(Adjusted {
        user_id: id,
        amount,
        points,
    })
    .into_response())
}

// ---- accounts ----

/// An account's state after an admin changed it.
#[derive(Serialize, ToSchema)]
struct AccountStatus<'a> {
    id: &'a str,
    username: &'a str,
    disabled: bool,
}

/// Disables an account: its owner can no longer sign in, refresh, or use any token, and
/// every login session ends at once.
#[utoipa::path(post, path = "/api/admin/users/{id}/disable", tag = "admin",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Disabled", body = AccountStatus),
        (status = 403, description = "`forbidden`: admins only; `self_action_forbidden`: never on your own account (another admin can, or the operator with `buddo admin enable`)", body = ErrorBody),
        (status = 404, description = "`user_not_found`", body = ErrorBody),
    ))]
async fn disable_user(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let user = deletion::set_disabled(&state, &admin.user.id, &id, true).await?;
    Ok(Body(AccountStatus {
        id: &user.id,
        username: &user.username,
        disabled: user.disabled,
    })
    .into_response())
}

/// Enables a disabled account again; its owner signs in anew.
#[utoipa::path(post, path = "/api/admin/users/{id}/enable", tag = "admin",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The user's id")),
    responses(
        (status = 200, description = "Enabled", body = AccountStatus),
        (status = 403, description = "`forbidden`: admins only; `self_action_forbidden`: never on your own account (another admin can, or the operator with `buddo admin enable`)", body = ErrorBody),
        (status = 404, description = "`user_not_found`", body = ErrorBody),
    ))]
async fn enable_user(
    State(state): State<AppState>,
    admin: AdminUser,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let user = deletion::set_disabled(&state, &admin.user.id, &id, false).await?;
    Ok(Body(AccountStatus {
        id: &user.id,
        username: &user.username,
        disabled: user.disabled,
    })
    .into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ActivityFilter {
    /// Only this user's entries.
    #[serde(default)]
    user_id: Option<String>,
    /// Only entries of this kind.
    #[serde(default)]
    #[param(value_type = Option<ActivityKindName>, inline)]
    kind: Option<String>,
    /// Entries per page, 1 to 100 (50 when left out).
    #[serde(default)]
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
    /// The `next_cursor` of the page before.
    #[serde(default)]
    cursor: Option<String>,
}

/// One event of some account.
#[derive(Serialize, ToSchema)]
struct AdminActivity<'a> {
    id: &'a str,
    user_id: &'a str,
    #[schema(schema_with = buddo_shared::http::openapi::activity_kind)]
    kind: &'static str,
    at: &'a str,
    #[schema(required = true)]
    ip_address: Option<&'a str>,
    #[schema(required = true)]
    user_agent: Option<&'a str>,
    #[schema(value_type = Object)]
    details: &'a Value,
}

#[derive(Serialize, ToSchema)]
struct AdminActivityPage<'a> {
    activity: Vec<AdminActivity<'a>>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[schema(required = true)]
    next_cursor: Option<String>,
}

/// Everyone's activity (or one user's), newest first.
#[utoipa::path(get, path = "/api/admin/activity", tag = "admin",
    security(("user_jwt" = [])), params(ActivityFilter),
    responses(
        (status = 200, description = "A page of activity", body = AdminActivityPage),
    ))]
async fn everyones_activity(
    State(state): State<AppState>,
    _admin: AdminUser,
    Query(filter): Query<ActivityFilter>,
) -> ApiResult<Response> {
    let kind = ActivityKind::filter(filter.kind.as_deref())?;
    let limit = input::page_limit(filter.limit, DEFAULT_PAGE, MAX_PAGE)?;
    let table = state.table.as_ref();
    let page = match filter.user_id.as_deref() {
        Some(user_id) => {
            let user_id = input::id("user_id", user_id)?;
            activity::of_user(table, &user_id, kind, limit, filter.cursor).await?
        }
        None => activity::of_everyone(table, kind, limit, filter.cursor).await?,
    };
    Ok(Body(AdminActivityPage {
        activity: page
            .entries
            .iter()
            .map(|a| AdminActivity {
                id: &a.id,
                user_id: &a.user_id,
                kind: a.kind.as_str(),
                at: &a.at,
                ip_address: a.ip_address.as_deref(),
                user_agent: a.user_agent.as_deref(),
                details: &a.details,
            })
            .collect(),
        next_cursor: page.next_cursor,
    })
    .into_response())
}
