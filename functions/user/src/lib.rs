//! `/api/user/*`: the signed-in user's own things (profile and its images, settings, push
//! devices, activity, connected apps, points history, subscriptions, deleting the account);
//! `/api/users/*`: other users' public profiles
//! and search; `/api/health`; and the API's description (`/api/openapi.json`, `/api/docs`).

mod billing;
mod images;
mod views;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Router;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use buddo_shared::domain::account::devices::{self, DeviceChanges};
use buddo_shared::domain::account::profile::{self, ProfileChanges};
use buddo_shared::domain::account::settings::{self, SentSettings, SettingsChanges};
use buddo_shared::domain::account::{deletion, directory, health};
use buddo_shared::domain::activity::{self, ActivityKind};
use buddo_shared::domain::billing::subscriptions;
use buddo_shared::domain::input::{self, OtpCode};
use buddo_shared::domain::ledger;
use buddo_shared::domain::oauth::grants;
use buddo_shared::domain::RequestMeta;
use buddo_shared::http::openapi::{ErrorBody, Message};
use buddo_shared::http::{message, nullable, AuthUser, Json, PageQuery, Query, Routes};
use buddo_shared::{ApiResult, AppState};

use views::*;

/// The group as a Lambda function serves it.
pub fn router(state: AppState) -> Router {
    let routes = buddo_shared::images::mount_local(routes(), &state);
    buddo_shared::http::finish(routes, state)
}

/// The group's routes, for the Lambda router, the local server and the route list.
pub fn routes() -> Routes {
    Routes::new()
        .get("/api/user/profile", get_profile)
        .patch("/api/user/profile", update_profile)
        .post("/api/user/profile/avatar", images::start_avatar)
        .post("/api/user/profile/avatar/complete", images::complete_avatar)
        .delete("/api/user/profile/avatar", images::remove_avatar)
        .post("/api/user/profile/banner", images::start_banner)
        .post("/api/user/profile/banner/complete", images::complete_banner)
        .delete("/api/user/profile/banner", images::remove_banner)
        .get("/api/user/settings", get_settings)
        .patch("/api/user/settings", update_settings)
        .get("/api/user/devices", list_devices)
        .post("/api/user/devices", register_device)
        .patch("/api/user/devices/{id}", update_device)
        .delete("/api/user/devices/{id}", remove_device)
        .get("/api/user/activity", my_activity)
        .delete("/api/user/me", delete_account)
        .get("/api/user/connected-apps", connected_apps)
        .delete("/api/user/connected-apps/{app_id}", revoke_app)
        .get("/api/user/points/history", points_history)
        .get("/api/plans", billing::list_plans)
        .get("/api/user/subscriptions", billing::my_subscriptions)
        .post("/api/user/subscriptions", billing::subscribe)
        .put("/api/user/subscriptions/{id}", billing::change_plan)
        .put("/api/user/subscriptions/{id}/cancel", billing::cancel)
        .put("/api/user/subscriptions/{id}/pause", billing::pause)
        .put("/api/user/subscriptions/{id}/unpause", billing::unpause)
        .get("/api/users/search", search_users)
        .get("/api/users/id/{id}", user_by_id)
        .get("/api/users/{username}", user_by_name)
        .get("/api/users/{username}/available", username_available)
        .get("/api/health", health_check)
        .get("/api/openapi.json", openapi_document)
        .get("/api/docs", docs_page)
}

/// The group's operations, for the API's OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    get_profile,
    update_profile,
    images::start_avatar,
    images::complete_avatar,
    images::remove_avatar,
    images::start_banner,
    images::complete_banner,
    images::remove_banner,
    get_settings,
    update_settings,
    list_devices,
    register_device,
    update_device,
    remove_device,
    my_activity,
    delete_account,
    connected_apps,
    revoke_app,
    points_history,
    billing::list_plans,
    billing::my_subscriptions,
    billing::subscribe,
    billing::change_plan,
    billing::cancel,
    billing::pause,
    billing::unpause,
    search_users,
    user_by_id,
    user_by_name,
    username_available,
    health_check,
    openapi_document,
    docs_page,
))]
pub struct Api;

/// The API's OpenAPI document as committed in `docs/openapi.json` (a test checks it against
/// the code), without indentation (`build.rs`).
const OPENAPI_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/openapi.json"));

// ---- profile ----

/// Your profile: what others see of you, and your live subscription.
#[utoipa::path(get, path = "/api/user/profile", tag = "account",
    security(("user_jwt" = [])),
    responses((status = 200, description = "Your profile", body = OwnProfileView)))]
async fn get_profile(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<OwnProfileView>> {
    let live = subscriptions::live(&state, &auth.user.id).await?;
    Ok(Json(OwnProfileView {
        profile: ProfileView::new(&auth.user),
        subscription: live.as_ref().map(billing::SubscriptionSummary::new),
    }))
}

/// Changes to a profile: fields left out stay, `null` or `""` clears one.
#[derive(Deserialize, ToSchema)]
struct ProfileBody {
    /// One line, 1 to 50 characters.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 50)]
    display_name: Option<Option<String>>,
    /// Up to 500 characters.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, max_length = 500)]
    bio: Option<Option<String>>,
    /// An `https://` URL of an image.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = "uri")]
    avatar_url: Option<Option<String>>,
    /// An `https://` URL of an image.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<String>, format = "uri")]
    banner_url: Option<Option<String>>,
}

/// Changes your public profile.
#[utoipa::path(patch, path = "/api/user/profile", tag = "account",
    security(("user_jwt" = [])), request_body = ProfileBody,
    responses((status = 200, description = "Your profile as it is now", body = OwnProfileView)))]
async fn update_profile(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<ProfileBody>,
) -> ApiResult<Json<OwnProfileView>> {
    let changes = ProfileChanges {
        display_name: body.display_name,
        bio: body.bio,
        avatar_url: body.avatar_url,
        banner_url: body.banner_url,
    }
    .parse()?;
    let (user, live) = tokio::join!(
        profile::update(&state, &auth.user, changes),
        subscriptions::live(&state, &auth.user.id)
    );
    Ok(Json(OwnProfileView {
        profile: ProfileView::new(&user?),
        subscription: live?.as_ref().map(billing::SubscriptionSummary::new),
    }))
}

// ---- settings ----

/// Your settings (defaults for what you never set).
#[utoipa::path(get, path = "/api/user/settings", tag = "account",
    security(("user_jwt" = [])),
    responses((status = 200, description = "Your settings", body = SettingsView)))]
async fn get_settings(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<SettingsView>> {
    Ok(Json(SettingsView::from(
        settings::get(&state, &auth.user).await?,
    )))
}

#[derive(Deserialize, ToSchema)]
struct NotificationsBody {
    #[serde(default)]
    email: Option<bool>,
    #[serde(default)]
    push: Option<bool>,
    #[serde(default)]
    sms: Option<bool>,
}

/// Changes to settings: what is left out stays.
#[derive(Deserialize, ToSchema)]
struct SettingsBody {
    /// An IANA time zone name (`Europe/Paris`).
    #[serde(default)]
    timezone: Option<String>,
    /// A BCP 47 language tag (`en`, `pt-BR`).
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<ThemeView>)]
    theme: Option<String>,
    #[serde(default)]
    notifications: Option<NotificationsBody>,
    /// Gives (`true`) or withdraws (`false`) consent to marketing mail; the time of the change
    /// is kept, and the change is in your activity.
    #[serde(default)]
    marketing_opt_in: Option<bool>,
    /// The app's own preferences to set, merged into those set before; `null` removes one.
    /// Keys are 1 to 64 of `A-Z a-z 0-9 _ . -`, at most 32 in all; values a string of at
    /// most 256 characters, a number (at most 1e15 either way) or a boolean.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    preferences: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Changes your settings.
#[utoipa::path(patch, path = "/api/user/settings", tag = "account",
    security(("user_jwt" = [])), request_body = SettingsBody,
    responses(
        (status = 200, description = "The settings as they are now", body = SettingsView),
        (status = 409, description = "`settings_changed`: the preferences kept changing meanwhile; try again", body = ErrorBody),
    ))]
async fn update_settings(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Json(body): Json<SettingsBody>,
) -> ApiResult<Json<SettingsView>> {
    let n = body.notifications.unwrap_or(NotificationsBody {
        email: None,
        push: None,
        sms: None,
    });
    let changes = SettingsChanges::parse(SentSettings {
        timezone: body.timezone,
        language: body.language,
        theme: body.theme,
        notifications: [n.email, n.push, n.sms],
        marketing_opt_in: body.marketing_opt_in,
        preferences: body.preferences,
    })?;
    Ok(Json(SettingsView::from(
        settings::update(&state, &auth.user, changes, &meta).await?,
    )))
}

// ---- push devices ----

/// The devices that receive your push notifications, oldest first.
#[utoipa::path(get, path = "/api/user/devices", tag = "account",
    security(("user_jwt" = [])),
    responses((status = 200, description = "Your devices (never their tokens)", body = DevicesView)))]
async fn list_devices(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<DevicesView>> {
    let devices = devices::list(&state, &auth.user.id).await?;
    Ok(Json(DevicesView {
        devices: devices.iter().map(DeviceView::new).collect(),
    }))
}

/// A push token to register.
#[derive(Deserialize, ToSchema)]
struct DeviceBody {
    /// The token the platform's push service gave the app: 1 to 4096 printable ASCII
    /// characters, no whitespace.
    #[schema(min_length = 1, max_length = 4096)]
    token: String,
    #[schema(value_type = PlatformView)]
    platform: String,
}

/// Registers a push token for you. The same token again returns the same device (200); a
/// token another user registered moves to you. At most 20 devices: a new token beyond them
/// replaces the one registered least recently.
#[utoipa::path(post, path = "/api/user/devices", tag = "account",
    security(("user_jwt" = [])), request_body = DeviceBody,
    responses(
        (status = 201, description = "A new device", body = DeviceView),
        (status = 200, description = "You had registered this token already: that device", body = DeviceView),
        (status = 400, description = "`validation_failed` (a reason per field in `fields`), `malformed_json`, `invalid_request`", body = ErrorBody),
        (status = 409, description = "`device_busy`: the token kept changing hands meanwhile; try again", body = ErrorBody),
    ))]
async fn register_device(
    State(state): State<AppState>,
    auth: AuthUser,
    Json(body): Json<DeviceBody>,
) -> ApiResult<(StatusCode, Json<DeviceView>)> {
    let registration = devices::Registration::parse(&body.token, &body.platform)?;
    let (device, created) = devices::register(&state, &auth.user.id, registration).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(DeviceView::new(&device))))
}

/// Changes to a device: what is left out stays.
#[derive(Deserialize, ToSchema)]
struct DeviceChangesBody {
    /// Off: the device gets no notification at all.
    #[serde(default)]
    enabled: Option<bool>,
    /// The categories the device wants (empty: every category): at most 16, each 1 to 32 of
    /// `a-z 0-9 _ . -`; repeats count once.
    #[serde(default)]
    #[schema(max_items = 16)]
    categories: Option<Vec<String>>,
}

/// Changes one of your devices.
#[utoipa::path(patch, path = "/api/user/devices/{id}", tag = "account",
    security(("user_jwt" = [])), request_body = DeviceChangesBody,
    params(("id" = String, Path, description = "The device's id")),
    responses(
        (status = 200, description = "The device as it is now", body = DeviceView),
        (status = 400, description = "`validation_failed` (a reason per field in `fields`), `malformed_json`, `invalid_request`", body = ErrorBody),
        (status = 404, description = "`device_not_found`", body = ErrorBody),
    ))]
async fn update_device(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
    Json(body): Json<DeviceChangesBody>,
) -> ApiResult<Json<DeviceView>> {
    let changes = DeviceChanges::parse(body.enabled, body.categories)?;
    let device = devices::update(&state, &auth.user.id, &id, changes).await?;
    Ok(Json(DeviceView::new(&device)))
}

/// Removes one of your devices: it gets no more notifications, and its token is free.
#[utoipa::path(delete, path = "/api/user/devices/{id}", tag = "account",
    security(("user_jwt" = [])),
    params(("id" = String, Path, description = "The device's id")),
    responses(
        (status = 200, description = "The device is removed", body = Message),
        (status = 404, description = "`device_not_found`", body = ErrorBody),
    ))]
async fn remove_device(
    State(state): State<AppState>,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Message>> {
    devices::remove(&state, &auth.user.id, &id).await?;
    Ok(message("The device is removed"))
}

// ---- activity ----

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ActivityFilter {
    /// Only entries of this kind.
    #[serde(default)]
    #[param(schema_with = buddo_shared::http::openapi::activity_kind)]
    kind: Option<String>,
}

/// Your account's security and account events, newest first.
#[utoipa::path(get, path = "/api/user/activity", tag = "account",
    security(("user_jwt" = [])), params(ActivityFilter, PageQuery<ActivityView>),
    responses((status = 200, description = "A page of your activity", body = ActivityPageView)))]
async fn my_activity(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(filter): Query<ActivityFilter>,
    Query(page): Query<PageQuery<ActivityView>>,
) -> ApiResult<Json<ActivityPageView>> {
    let kind = ActivityKind::filter(filter.kind.as_deref())?;
    let (limit, cursor) = page.read()?;
    let table = state.table.as_ref();
    let page = activity::of_user(table, &auth.user.id, kind, limit, cursor).await?;
    Ok(Json(ActivityPageView {
        items: page.entries.iter().map(ActivityView::new).collect(),
        next_cursor: page.next_cursor,
    }))
}

// ---- deleting the account ----

#[derive(Deserialize, ToSchema)]
struct DeleteAccountBody {
    password: String,
    /// A TOTP or recovery code; required when two-factor authentication is on.
    #[serde(default)]
    totp_code: Option<String>,
}

/// Deletes your account: your personal data, sessions and app grants go, your email and
/// username are free again; points you sent or received stay in others' ledgers, anonymised.
#[utoipa::path(delete, path = "/api/user/me", tag = "account",
    security(("user_jwt" = [])), request_body = DeleteAccountBody,
    responses(
        (status = 200, description = "The account is gone", body = Message),
        (status = 400, description = "`invalid_password`, `invalid_code` (TOTP or recovery code), `validation_failed`", body = ErrorBody),
        (status = 409, description = "`account_changed`: the account changed meanwhile", body = ErrorBody),
    ))]
async fn delete_account(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Json(body): Json<DeleteAccountBody>,
) -> ApiResult<Json<Message>> {
    let password = input::login_password(&body.password)?;
    let code = body
        .totp_code
        .as_deref()
        .map(|c| OtpCode::parse("totp_code", c))
        .transpose()?;
    deletion::delete_account(&state, &auth, password, code, &meta).await?;
    Ok(message("Your account has been deleted"))
}

// ---- connected apps ----

/// The apps you have authorized.
#[utoipa::path(get, path = "/api/user/connected-apps", tag = "connected apps",
    security(("user_jwt" = [])),
    responses((status = 200, description = "Your connected apps, oldest first", body = ConnectedApps)))]
async fn connected_apps(
    State(state): State<AppState>,
    auth: AuthUser,
) -> ApiResult<Json<ConnectedApps>> {
    let apps = grants::connected_apps(&state, &auth.user.id).await?;
    Ok(Json(ConnectedApps {
        connected_apps: apps.iter().map(ConnectedAppView::new).collect(),
    }))
}

/// Revokes an app's access: its tokens and its session end at once.
#[utoipa::path(delete, path = "/api/user/connected-apps/{app_id}", tag = "connected apps",
    security(("user_jwt" = [])),
    params(("app_id" = String, Path, description = "The app's id")),
    responses(
        (status = 200, description = "Access revoked", body = Message),
        (status = 404, description = "`app_not_connected`", body = ErrorBody),
        (status = 409, description = "`app_busy`: the app is being authorized right now", body = ErrorBody),
    ))]
async fn revoke_app(
    State(state): State<AppState>,
    auth: AuthUser,
    meta: RequestMeta,
    Path(app_id): Path<String>,
) -> ApiResult<Json<Message>> {
    grants::revoke(&state, &auth.user.id, &app_id, &meta).await?;
    Ok(message(
        "Access revoked; the app's tokens and session have ended",
    ))
}

// ---- points ----

/// Your points history, newest first.
#[utoipa::path(get, path = "/api/user/points/history", tag = "points",
    security(("user_jwt" = [])), params(PageQuery<EntryView>),
    responses((status = 200, description = "A page of your ledger", body = HistoryView)))]
async fn points_history(
    State(state): State<AppState>,
    auth: AuthUser,
    Query(page): Query<PageQuery<EntryView>>,
) -> ApiResult<Json<HistoryView>> {
    let (limit, cursor) = page.read()?;
    let history = ledger::history(&state, &auth.user.id, limit, cursor).await?;
    Ok(Json(HistoryView {
        items: history.items.iter().map(EntryView::new).collect(),
        next_cursor: history.next_cursor,
    }))
}

// ---- other users ----

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct SearchQuery {
    /// The start of a username, any case (1 to 30 letters, digits or underscores).
    q: String,
}

/// Finds users whose username starts with `q`, in username order.
#[utoipa::path(get, path = "/api/users/search", tag = "users", params(SearchQuery, PageQuery<ProfileView>),
    responses((status = 200, description = "A page of users", body = SearchView)))]
async fn search_users(
    State(state): State<AppState>,
    meta: RequestMeta,
    Query(query): Query<SearchQuery>,
    Query(page): Query<PageQuery<ProfileView>>,
) -> ApiResult<Json<SearchView>> {
    let (limit, cursor) = page.read()?;
    let page = directory::search(&state, &query.q, limit, cursor, &meta).await?;
    Ok(Json(SearchView {
        items: page.users.iter().map(ProfileView::new).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// A user's public profile, by username (any case).
#[utoipa::path(get, path = "/api/users/{username}", tag = "users",
    params(("username" = String, Path)),
    responses(
        (status = 200, description = "The user's public profile", body = ProfileView),
        (status = 404, description = "`user_not_found`", body = ErrorBody),
    ))]
async fn user_by_name(
    State(state): State<AppState>,
    Path(username): Path<String>,
) -> ApiResult<Json<ProfileView>> {
    Ok(Json(ProfileView::new(
        &directory::by_username(&state, &username).await?,
    )))
}

/// A user's public profile, by id.
#[utoipa::path(get, path = "/api/users/id/{id}", tag = "users",
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The user's public profile", body = ProfileView),
        (status = 404, description = "`user_not_found`", body = ErrorBody),
    ))]
async fn user_by_id(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ProfileView>> {
    Ok(Json(ProfileView::new(
        &directory::by_id(&state, &id).await?,
    )))
}

/// Whether a username could be registered now: valid, not reserved, not taken in any case.
#[utoipa::path(get, path = "/api/users/{username}/available", tag = "users",
    params(("username" = String, Path)),
    responses((status = 200, description = "Whether the name is free", body = AvailabilityView)))]
async fn username_available(
    State(state): State<AppState>,
    Path(username): Path<String>,
) -> ApiResult<Json<AvailabilityView>> {
    let available = directory::available(&state, &username).await?;
    Ok(Json(AvailabilityView {
        username,
        available,
    }))
}

// ---- the service ----

/// Whether the service can answer: 200 when its store answers, 503 when not.
#[utoipa::path(get, path = "/api/health", tag = "service",
    responses(
        (status = 200, description = "Up", body = HealthView),
        (status = 503, description = "`service_unavailable`: the store does not answer", body = ErrorBody),
    ))]
async fn health_check(State(state): State<AppState>) -> ApiResult<Json<HealthView>> {
    health::check(state.table.as_ref()).await?;
    Ok(Json(HealthView {
        status: "ok",
        version: health::VERSION,
    }))
}

/// This document (OpenAPI 3.1).
#[utoipa::path(get, path = "/api/openapi.json", tag = "service",
    responses((status = 200, description = "The OpenAPI document of the whole API", content_type = "application/json", body = Object)))]
async fn openapi_document() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        OPENAPI_JSON,
    )
}

/// The API reference for people (rendered from this document).
#[utoipa::path(get, path = "/api/docs", tag = "service",
    responses((status = 200, description = "An HTML page", content_type = "text/html", body = String)))]
async fn docs_page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        DOCS_HTML,
    )
}

/// Scalar's API reference, reading the document next to it (relative, so it works under any
/// stage path).
const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Buddo API</title>
</head>
<body>
<script id="api-reference" data-url="openapi.json"></script>
<script src="https://cdn.jsdelivr.net/npm/@scalar/api-reference@1"></script>
</body>
</html>
"#;
