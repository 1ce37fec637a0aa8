//! The shapes the admin group answers in.

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use buddo_shared::domain::activity::Activity;
use buddo_shared::domain::ads::{Campaign, CampaignStats};
use buddo_shared::domain::identity::transfer::{self, UserLine};
use buddo_shared::domain::oauth::apps::{OAuthApp, Presentation, ScopeRequest};
use buddo_shared::http::openapi::{
    activity_kind, campaign_status, scope_list, scope_request_status, surface,
};
use buddo_shared::http::{Listed, Page};

/// An app as an admin reviews it.
#[derive(Serialize, ToSchema)]
pub struct AdminApp {
    pub id: String,
    pub client_id: String,
    pub app_name: String,
    #[schema(required = true)]
    pub app_description: Option<String>,
    /// The user who registered it.
    pub owner_id: String,
    pub is_approved: bool,
    /// Stopped for abuse: nobody, its owner included, can use it until approved again.
    pub suspended: bool,
    /// `client_secret_basic` or `client_secret_post` (confidential), `none` (public).
    pub token_endpoint_auth_method: &'static str,
    /// Changes of an approved app waiting for approval (`null` when there are none):
    /// approving the app puts them live.
    #[schema(value_type = Option<Object>)]
    pub pending_changes: Option<Presentation>,
    #[schema(schema_with = scope_list)]
    pub allowed_scopes: Vec<&'static str>,
    pub redirect_uris: Vec<String>,
    #[schema(required = true)]
    pub logo_url: Option<String>,
    #[schema(required = true)]
    pub website_url: Option<String>,
    /// When it was registered (RFC 3339).
    pub inserted_at: String,
}

impl AdminApp {
    pub fn new(app: &OAuthApp) -> Self {
        AdminApp {
            id: app.id.clone(),
            client_id: app.client_id.clone(),
            app_name: app.shown.app_name.clone(),
            app_description: app.shown.app_description.clone(),
            owner_id: app.owner_id.clone(),
            is_approved: app.is_approved,
            suspended: app.suspended,
            token_endpoint_auth_method: app.token_endpoint_auth_method.as_str(),
            pending_changes: app.pending_changes.clone(),
            allowed_scopes: app.allowed_scopes.to_strings(),
            redirect_uris: app.shown.redirect_uris.clone(),
            logo_url: app.shown.logo_url.clone(),
            website_url: app.shown.website_url.clone(),
            inserted_at: app.inserted_at.clone(),
        }
    }
}

/// A request of an app's owner for more scopes.
#[derive(Serialize, ToSchema)]
pub struct AdminScopeRequest {
    pub id: String,
    pub app_id: String,
    #[schema(schema_with = scope_list)]
    pub requested_scopes: Vec<&'static str>,
    #[schema(schema_with = scope_request_status)]
    pub status: &'static str,
    /// When it was made (RFC 3339).
    pub inserted_at: String,
    /// When it was decided (RFC 3339); `null` while pending.
    #[schema(required = true)]
    pub decided_at: Option<String>,
}

impl AdminScopeRequest {
    pub fn new(r: &ScopeRequest) -> Self {
        AdminScopeRequest {
            id: r.id.clone(),
            app_id: r.app_id.clone(),
            requested_scopes: r.requested_scopes.to_strings(),
            status: r.status.as_str(),
            inserted_at: r.inserted_at.clone(),
            decided_at: r.decided_at.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdminAppEnvelope)]
pub struct AppEnvelope {
    pub app: AdminApp,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdminScopeRequestEnvelope)]
pub struct RequestEnvelope {
    pub scope_request: AdminScopeRequest,
}

/// A campaign with its counts, as an admin sees it.
#[derive(Serialize, ToSchema)]
#[schema(as = AdminCampaign)]
pub struct CampaignView {
    pub id: String,
    pub name: String,
    #[schema(schema_with = surface)]
    pub surface_type: &'static str,
    /// Points a paid event pays (before the user's multiplier).
    pub payout_rate: i64,
    /// Passed through to apps; its `tiers` list, when present, limits who is served.
    #[schema(value_type = Object)]
    pub targeting_metadata: Value,
    /// Passed through to apps.
    #[schema(value_type = Object)]
    pub bitcoin_tier: Value,
    /// Points the campaign may pay in all.
    pub budget: i64,
    #[schema(schema_with = campaign_status)]
    pub status: &'static str,
    /// When it starts running (RFC 3339); `null`: at once.
    #[schema(required = true)]
    pub starts_at: Option<String>,
    /// When it stops running (RFC 3339); `null`: never.
    #[schema(required = true)]
    pub ends_at: Option<String>,
    pub created_at: String,
    pub impressions: i64,
    pub clicks: i64,
    /// Events that paid.
    pub paid_events: i64,
    /// Points paid to users and apps.
    pub points_paid: i64,
    /// What is left of the budget.
    pub budget_left: i64,
}

impl CampaignView {
    pub fn new(c: &Campaign, stats: &CampaignStats) -> Self {
        CampaignView {
            id: c.id.clone(),
            name: c.name.clone(),
            surface_type: c.surface_type.as_str(),
            payout_rate: c.payout_rate,
            targeting_metadata: c.targeting_metadata.clone(),
            bitcoin_tier: c.bitcoin_tier.clone(),
            budget: c.budget,
            status: c.status.as_str(),
            starts_at: c.starts_at.clone(),
            ends_at: c.ends_at.clone(),
            created_at: c.created_at.clone(),
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
pub struct CampaignEnvelope {
    pub campaign: CampaignView,
}

#[derive(Serialize, ToSchema)]
#[schema(as = AdminCampaignList)]
pub struct CampaignList {
    pub campaigns: Vec<CampaignView>,
}

#[derive(Serialize, ToSchema)]
#[schema(as = PointsAdjusted)]
pub struct Adjusted {
    pub user_id: String,
    pub amount: i64,
    /// The user's balance after it.
    pub points: i64,
}

/// An account's state after an admin changed it.
#[derive(Serialize, ToSchema)]
pub struct AccountStatus {
    pub id: String,
    pub username: String,
    pub disabled: bool,
}

/// One event of some account.
#[derive(Serialize, ToSchema)]
pub struct AdminActivity {
    pub id: String,
    pub user_id: String,
    #[schema(schema_with = activity_kind)]
    pub kind: &'static str,
    pub at: String,
    #[schema(required = true)]
    pub ip_address: Option<String>,
    #[schema(required = true)]
    pub user_agent: Option<String>,
    #[schema(value_type = Object)]
    pub details: Value,
}

impl AdminActivity {
    pub fn new(a: &Activity) -> Self {
        AdminActivity {
            id: a.id.clone(),
            user_id: a.user_id.clone(),
            kind: a.kind.as_str(),
            at: a.at.clone(),
            ip_address: a.ip_address.clone(),
            user_agent: a.user_agent.clone(),
            details: a.details.clone(),
        }
    }
}

impl Listed for AdminApp {
    const FIELD: &'static str = "apps";
    const PAGE: &'static str = "AdminAppList";
    const NOUN: &'static str = "Apps";
}

/// A page of apps.
pub type AppList = Page<AdminApp>;

impl Listed for AdminScopeRequest {
    const FIELD: &'static str = "scope_requests";
    const PAGE: &'static str = "AdminScopeRequestList";
    const NOUN: &'static str = "Requests";
}

/// A page of scope requests.
pub type RequestList = Page<AdminScopeRequest>;

impl Listed for AdminActivity {
    const FIELD: &'static str = "activity";
    const PAGE: &'static str = "AdminActivityPage";
    const NOUN: &'static str = "Entries";
}

/// A page of activity.
pub type AdminActivityPage = Page<AdminActivity>;

/// A user as exported, one line of an import file: the same fields both ways.
#[derive(Serialize, ToSchema)]
pub struct ExportedUser {
    pub email: String,
    pub username: String,
    pub email_verified: bool,
    /// RFC 3339.
    pub created_at: Option<String>,
    /// Base32; present when TOTP is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub totp_secret: Option<String>,
    /// A PHC string (`$argon2id$…`), or the hash as imported until the user's first sign-in;
    /// absent when the account has no password (made through a sign-in provider).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
    pub disabled: bool,
}

impl From<UserLine> for ExportedUser {
    fn from(line: UserLine) -> Self {
        ExportedUser {
            email: line.email,
            username: line.username,
            email_verified: line.email_verified,
            created_at: line.created_at,
            totp_secret: line.totp_secret,
            password_hash: line.password_hash,
            disabled: line.disabled,
        }
    }
}

impl Listed for ExportedUser {
    const FIELD: &'static str = "users";
    const PAGE: &'static str = "UserExport";
    const NOUN: &'static str = "Users";
    const DEFAULT_LIMIT: usize = 100;
}

/// A page of exported users.
pub type UserExport = Page<ExportedUser>;

/// What an import did: counts, the lines skipped (users already there) and every line that
/// failed with why.
#[derive(Serialize, ToSchema)]
pub struct ImportReport {
    pub imported: usize,
    pub skipped: usize,
    pub failed: usize,
    pub skipped_lines: Vec<usize>,
    pub failures: Vec<ImportFailure>,
}

/// A line that was not imported; nothing of it was written.
#[derive(Serialize, ToSchema)]
pub struct ImportFailure {
    /// The line's number, from 1.
    pub line: usize,
    /// `malformed_line`, `validation_failed`, `invalid_password_hash`, `invalid_totp_secret`,
    /// `email_taken`, `username_taken`, or a store error's code.
    pub code: String,
    pub reason: String,
}

impl ImportReport {
    pub fn new(report: transfer::ImportReport) -> Self {
        ImportReport {
            imported: report.imported,
            skipped: report.skipped,
            failed: report.failed,
            skipped_lines: report.skipped_lines,
            failures: report
                .failures
                .into_iter()
                .map(|f| ImportFailure {
                    line: f.line,
                    code: f.code,
                    reason: f.reason,
                })
                .collect(),
        }
    }
}
