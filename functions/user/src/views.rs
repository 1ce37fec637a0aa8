//! The shapes this group answers in.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use buddo_shared::domain::account::devices::{Platform, PushDevice};
use buddo_shared::domain::account::settings::{Settings, Theme};
use buddo_shared::domain::activity::Activity;
use buddo_shared::domain::identity::users::User;
use buddo_shared::domain::ledger::LedgerEntry;
use buddo_shared::domain::oauth::grants::ConnectedApp;
use buddo_shared::http::{Listed, Page};

/// A user as anyone may see them: never the email, settings, points or activity.
#[derive(Serialize, ToSchema)]
pub struct ProfileView {
    pub id: String,
    pub username: String,
    #[schema(required = true)]
    pub display_name: Option<String>,
    #[schema(required = true)]
    pub bio: Option<String>,
    #[schema(required = true)]
    pub avatar_url: Option<String>,
    #[schema(required = true)]
    pub banner_url: Option<String>,
    /// When the account was created (RFC 3339).
    pub created_at: String,
}

impl ProfileView {
    pub fn new(user: &User) -> Self {
        ProfileView {
            id: user.id.clone(),
            username: user.username.clone(),
            display_name: user.display_name.clone(),
            bio: user.bio.clone(),
            avatar_url: user.avatar_url.clone(),
            banner_url: user.banner_url.clone(),
            created_at: user.created_at.clone(),
        }
    }
}

/// Your own profile: the public one and your live subscription (`null`: none).
#[derive(Serialize, ToSchema)]
pub struct OwnProfileView {
    #[serde(flatten)]
    pub profile: ProfileView,
    #[schema(required = true)]
    pub subscription: Option<crate::billing::SubscriptionSummary>,
}

impl Listed for ProfileView {
    const FIELD: &'static str = "users";
    const PAGE: &'static str = "SearchView";
    const NOUN: &'static str = "Users";
    const DEFAULT_LIMIT: usize = 20;
    const MAX_LIMIT: usize = 50;
}

/// A page of the users search.
pub type SearchView = Page<ProfileView>;

#[derive(Serialize, ToSchema)]
pub struct AvailabilityView {
    pub username: String,
    pub available: bool,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ThemeView {
    Light,
    Dark,
    System,
}

#[derive(Serialize, ToSchema)]
pub struct NotificationsView {
    pub email: bool,
    pub push: bool,
    pub sms: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SettingsView {
    /// An IANA time zone name.
    pub timezone: String,
    /// A BCP 47 language tag.
    pub language: String,
    pub theme: ThemeView,
    pub notifications: NotificationsView,
    /// Agreed to marketing mail.
    pub marketing_opt_in: bool,
    /// When consent was last given or withdrawn (RFC 3339); `null` when never given.
    #[schema(required = true)]
    pub marketing_opt_in_at: Option<String>,
    /// The app's own preferences, by key: strings, numbers and booleans.
    #[schema(value_type = Object)]
    pub preferences: BTreeMap<String, Value>,
}

impl From<Settings> for SettingsView {
    fn from(s: Settings) -> Self {
        SettingsView {
            timezone: s.timezone,
            language: s.language,
            theme: match s.theme {
                Theme::Light => ThemeView::Light,
                Theme::Dark => ThemeView::Dark,
                Theme::System => ThemeView::System,
            },
            notifications: NotificationsView {
                email: s.notifications.email,
                push: s.notifications.push,
                sms: s.notifications.sms,
            },
            marketing_opt_in: s.marketing_opt_in,
            marketing_opt_in_at: s.marketing_opt_in_at,
            preferences: s.preferences,
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlatformView {
    Ios,
    Android,
    Web,
}

impl From<Platform> for PlatformView {
    fn from(p: Platform) -> Self {
        match p {
            Platform::Ios => PlatformView::Ios,
            Platform::Android => PlatformView::Android,
            Platform::Web => PlatformView::Web,
        }
    }
}

/// A device that receives your push notifications; its token is never shown again.
#[derive(Serialize, ToSchema)]
pub struct DeviceView {
    pub id: String,
    pub platform: PlatformView,
    /// Off: the device gets no notification at all.
    pub enabled: bool,
    /// The categories the device wants; empty means every category.
    pub categories: Vec<String>,
    /// The last 4 characters of the token, to tell devices apart.
    pub token_hint: String,
    /// When the device was added (RFC 3339).
    pub created_at: String,
    /// When its token was last registered (RFC 3339).
    pub last_registered_at: String,
}

impl DeviceView {
    pub fn new(d: &PushDevice) -> Self {
        DeviceView {
            id: d.id.clone(),
            platform: d.platform.into(),
            enabled: d.enabled,
            categories: d.categories.clone(),
            token_hint: d.token_hint(),
            created_at: d.created_at.clone(),
            last_registered_at: d.last_registered_at.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DevicesView {
    pub devices: Vec<DeviceView>,
}

/// One event of an account.
#[derive(Serialize, ToSchema)]
pub struct ActivityView {
    pub id: String,
    #[schema(schema_with = buddo_shared::http::openapi::activity_kind)]
    pub kind: &'static str,
    /// When it happened (RFC 3339).
    pub at: String,
    /// Where the request came from, when a person made it.
    #[schema(required = true)]
    pub ip_address: Option<String>,
    #[schema(required = true)]
    pub user_agent: Option<String>,
    /// Facts of the event: the app, the session, the amount.
    #[schema(value_type = Object)]
    pub details: Value,
}

impl ActivityView {
    pub fn new(a: &Activity) -> Self {
        ActivityView {
            id: a.id.clone(),
            kind: a.kind.as_str(),
            at: a.at.clone(),
            ip_address: a.ip_address.clone(),
            user_agent: a.user_agent.clone(),
            details: a.details.clone(),
        }
    }
}

impl Listed for ActivityView {
    const FIELD: &'static str = "activity";
    const PAGE: &'static str = "ActivityPageView";
    const NOUN: &'static str = "Entries";
}

/// A page of an account's activity.
pub type ActivityPageView = Page<ActivityView>;

/// A connected app, in the shape of the reference.
#[derive(Serialize, ToSchema)]
pub struct ConnectedAppView {
    #[schema(required = true)]
    pub app_description: Option<String>,
    pub app_id: String,
    pub app_name: String,
    pub connected_at: String,
    #[schema(required = true)]
    pub last_used: Option<String>,
    #[schema(required = true)]
    pub logo_url: Option<String>,
    #[schema(schema_with = buddo_shared::http::openapi::scope_list)]
    pub scopes: Vec<&'static str>,
}

impl ConnectedAppView {
    pub fn new(c: &ConnectedApp) -> Self {
        ConnectedAppView {
            app_description: c.app.shown.app_description.clone(),
            app_id: c.app.id.clone(),
            app_name: c.app.shown.app_name.clone(),
            connected_at: c.grant.connected_at.clone(),
            last_used: c.grant.last_used.clone(),
            logo_url: c.app.shown.logo_url.clone(),
            scopes: c.grant.scopes.to_strings(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ConnectedApps {
    pub connected_apps: Vec<ConnectedAppView>,
}

/// One ledger entry as its owner sees it.
#[derive(Serialize, ToSchema)]
pub struct EntryView {
    pub id: String,
    #[schema(schema_with = buddo_shared::http::openapi::entry_kind)]
    pub kind: &'static str,
    /// Positive for credits, negative for debits.
    pub amount: i64,
    #[schema(required = true)]
    pub description: Option<String>,
    /// What caused it: the referred user, the app, the campaign, the admin.
    pub reference: String,
    /// The other user of a transfer.
    #[schema(required = true)]
    pub counterparty: Option<String>,
    pub created_at: String,
}

impl EntryView {
    pub fn new(e: &LedgerEntry) -> Self {
        EntryView {
            id: e.id.clone(),
            kind: e.kind.as_str(),
            amount: e.amount,
            description: e.description.clone(),
            reference: e.reference.clone(),
            counterparty: e.counterparty.clone(),
            created_at: e.created_at.clone(),
        }
    }
}

impl Listed for EntryView {
    const FIELD: &'static str = "entries";
    const PAGE: &'static str = "HistoryView";
    const NOUN: &'static str = "Entries";
}

/// A page of a points history.
pub type HistoryView = Page<EntryView>;

#[derive(Serialize, ToSchema)]
pub struct HealthView {
    /// `ok`.
    pub status: &'static str,
    /// The release that answered.
    pub version: &'static str,
}
