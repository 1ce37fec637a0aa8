//! The shapes this group answers in.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use buddo_shared::domain::account::settings::{Settings, Theme};
use buddo_shared::domain::activity::Activity;
use buddo_shared::domain::identity::users::User;
use buddo_shared::domain::ledger::LedgerEntry;
use buddo_shared::domain::oauth::grants::ConnectedApp;
use buddo_shared::http::openapi::Message;

pub fn message(text: &str) -> Message {
    Message {
        message: text.to_string(),
    }
}

/// A user as anyone may see them: never the email, settings, points or activity.
#[derive(Serialize, ToSchema)]
pub struct ProfileView<'a> {
    pub id: &'a str,
    pub username: &'a str,
    #[schema(required = true)]
    pub display_name: Option<&'a str>,
    #[schema(required = true)]
    pub bio: Option<&'a str>,
    #[schema(required = true)]
    pub avatar_url: Option<&'a str>,
    #[schema(required = true)]
    pub banner_url: Option<&'a str>,
    /// When the account was created (RFC 3339).
    pub created_at: &'a str,
}

impl<'a> ProfileView<'a> {
    pub fn new(user: &'a User) -> Self {
        ProfileView {
            id: &user.id,
            username: &user.username,
            display_name: user.display_name.as_deref(),
            bio: user.bio.as_deref(),
            avatar_url: user.avatar_url.as_deref(),
            banner_url: user.banner_url.as_deref(),
            created_at: &user.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SearchView<'a> {
    pub users: Vec<ProfileView<'a>>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AvailabilityView<'a> {
    pub username: &'a str,
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
        }
    }
}

/// One event of an account.
#[derive(Serialize, ToSchema)]
pub struct ActivityView<'a> {
    pub id: &'a str,
    #[schema(schema_with = buddo_shared::http::openapi::activity_kind)]
    pub kind: &'static str,
    /// When it happened (RFC 3339).
    pub at: &'a str,
    /// Where the request came from, when a person made it.
    #[schema(required = true)]
    pub ip_address: Option<&'a str>,
    #[schema(required = true)]
    pub user_agent: Option<&'a str>,
    /// Facts of the event: the app, the session, the amount.
    #[schema(value_type = Object)]
    pub details: &'a Value,
}

impl<'a> ActivityView<'a> {
    pub fn new(a: &'a Activity) -> Self {
        ActivityView {
            id: &a.id,
            kind: a.kind.as_str(),
            at: &a.at,
            ip_address: a.ip_address.as_deref(),
            user_agent: a.user_agent.as_deref(),
            details: &a.details,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ActivityPageView<'a> {
    pub activity: Vec<ActivityView<'a>>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A connected app, in the shape of the reference.
#[derive(Serialize, ToSchema)]
pub struct ConnectedAppView<'a> {
    #[schema(required = true)]
    pub app_description: Option<&'a str>,
    pub app_id: &'a str,
    pub app_name: &'a str,
    pub connected_at: &'a str,
    #[schema(required = true)]
    pub last_used: Option<&'a str>,
    #[schema(required = true)]
    pub logo_url: Option<&'a str>,
    #[schema(schema_with = buddo_shared::http::openapi::scope_list)]
    pub scopes: Vec<&'static str>,
}

impl<'a> ConnectedAppView<'a> {
    pub fn new(c: &'a ConnectedApp) -> Self {
        ConnectedAppView {
            app_description: c.app.shown.app_description.as_deref(),
            app_id: &c.app.id,
            app_name: &c.app.shown.app_name,
            connected_at: &c.grant.connected_at,
            last_used: c.grant.last_used.as_deref(),
            logo_url: c.app.shown.logo_url.as_deref(),
            scopes: c.grant.scopes.to_strings(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ConnectedApps<'a> {
    pub connected_apps: Vec<ConnectedAppView<'a>>,
}

/// One ledger entry as its owner sees it.
#[derive(Serialize, ToSchema)]
pub struct EntryView<'a> {
    pub id: &'a str,
    #[schema(schema_with = buddo_shared::http::openapi::entry_kind)]
    pub kind: &'static str,
    /// Positive for credits, negative for debits.
    pub amount: i64,
    #[schema(required = true)]
    pub description: Option<&'a str>,
    /// What caused it: the referred user, the app, the campaign, the admin.
    pub reference: &'a str,
    /// The other user of a transfer.
    #[schema(required = true)]
    pub counterparty: Option<&'a str>,
    pub created_at: &'a str,
}

impl<'a> EntryView<'a> {
    pub fn new(e: &'a LedgerEntry) -> Self {
        EntryView {
            id: &e.id,
            kind: e.kind.as_str(),
            amount: e.amount,
            description: e.description.as_deref(),
            reference: &e.reference,
            counterparty: e.counterparty.as_deref(),
            created_at: &e.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct HistoryView<'a> {
    pub entries: Vec<EntryView<'a>>,
    /// Pass as `cursor` for the next page; `null` on the last.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct HealthView {
    /// `ok`.
    pub status: &'static str,
    /// The release that answered.
    pub version: &'static str,
}
