//! The response bodies of `/api/auth/*`, in the shapes of the API reference.

use serde::Serialize;
use utoipa::ToSchema;

use buddo_shared::config::Config;
use buddo_shared::domain::identity::sessions::{LoginSession, Tokens};
use buddo_shared::domain::identity::User;
use buddo_shared::http::openapi::Message;

pub fn message(text: &str) -> Message {
    Message {
        message: text.to_string(),
    }
}

/// `{"user": …}` around the user object of `POST /api/auth/register`.
#[derive(Serialize, ToSchema)]
pub struct RegisterResponse<'a> {
    pub user: RegisteredUser<'a>,
}

/// `{"user": …}` around the user object of `GET /api/auth/me`.
#[derive(Serialize, ToSchema)]
pub struct MeResponse<'a> {
    pub user: CurrentUser<'a>,
}

/// The user object of `POST /api/auth/register`.
#[derive(Serialize, ToSchema)]
pub struct RegisteredUser<'a> {
    #[schema(format = "email")]
    pub email: &'a str,
    pub email_verified: bool,
    pub id: &'a str,
    /// The points balance.
    pub points: i64,
    /// The code others give when they register, to credit this user.
    pub referral_code: &'a str,
    /// The account's place in the order of registration (1 for the first).
    pub registration_number: u64,
    /// What the user's app session earnings are multiplied by (early users earn more).
    pub signup_multiplier: f64,
    /// The name of the user's tier, by points earned in total.
    pub tier: &'a str,
    pub username: &'a str,
}

impl<'a> RegisteredUser<'a> {
    pub fn new(user: &'a User, config: &'a Config) -> Self {
        RegisteredUser {
            email: &user.email,
            email_verified: user.email_verified,
            id: &user.id,
            points: user.points,
            referral_code: &user.referral_code,
            registration_number: user.registration_number,
            signup_multiplier: user.signup_multiplier,
            tier: &config.tier(user.total_earned).name,
            username: &user.username,
        }
    }
}

/// The user object of `POST /api/auth/login`.
#[derive(Serialize, ToSchema)]
pub struct LoginUser<'a> {
    #[schema(format = "email")]
    pub email: &'a str,
    pub email_verified: bool,
    pub id: &'a str,
    pub is_admin: bool,
    /// The name of the user's tier, by points earned in total.
    pub tier: &'a str,
    pub totp_enabled: bool,
    pub username: &'a str,
}

impl<'a> LoginUser<'a> {
    pub fn new(user: &'a User, config: &'a Config) -> Self {
        LoginUser {
            email: &user.email,
            email_verified: user.email_verified,
            id: &user.id,
            is_admin: user.is_admin,
            tier: &config.tier(user.total_earned).name,
            totp_enabled: user.totp_enabled,
            username: &user.username,
        }
    }
}

/// Counts of the signed-in user's account.
#[derive(Serialize, ToSchema)]
pub struct CurrentUserStats {
    /// Apps the user has authorized.
    pub connected_apps: i64,
    /// Users who registered with the user's referral code.
    pub direct_referrals: i64,
    /// Points earned in total.
    pub total_earned: i64,
    /// Points spent in total.
    pub total_spent: i64,
}

/// The user object of `GET /api/auth/me`.
#[derive(Serialize, ToSchema)]
pub struct CurrentUser<'a> {
    #[schema(format = "email")]
    pub email: &'a str,
    pub email_verified: bool,
    pub id: &'a str,
    /// The points balance.
    pub points: i64,
    /// The code others give when they register, to credit this user.
    pub referral_code: &'a str,
    /// What the user's app session earnings are multiplied by (early users earn more).
    pub signup_multiplier: f64,
    pub stats: CurrentUserStats,
    /// The name of the user's tier, by points earned in total.
    pub tier: &'a str,
    /// The tier's emoji.
    pub tier_emoji: &'a str,
    pub totp_enabled: bool,
    pub username: &'a str,
}

impl<'a> CurrentUser<'a> {
    pub fn new(user: &'a User, config: &'a Config) -> Self {
        let tier = config.tier(user.total_earned);
        CurrentUser {
            email: &user.email,
            email_verified: user.email_verified,
            id: &user.id,
            points: user.points,
            referral_code: &user.referral_code,
            signup_multiplier: user.signup_multiplier,
            stats: CurrentUserStats {
                connected_apps: user.connected_apps,
                direct_referrals: user.direct_referrals,
                total_earned: user.total_earned,
                total_spent: user.total_spent,
            },
            tier: &tier.name,
            tier_emoji: &tier.emoji,
            totp_enabled: user.totp_enabled,
            username: &user.username,
        }
    }
}

/// The tokens of a login session: `POST /api/auth/refresh`; flattened into the login
/// response.
#[derive(Serialize, ToSchema)]
pub struct TokenPair {
    /// The access token (a JWT): `Authorization: Bearer <token>`.
    pub token: String,
    /// Single use: `POST /api/auth/refresh` gives a new pair for it.
    pub refresh_token: String,
    /// When the access token expires (RFC 3339).
    pub expires_at: String,
}

impl From<Tokens> for TokenPair {
    fn from(t: Tokens) -> Self {
        TokenPair {
            token: t.access_token,
            refresh_token: t.refresh_token,
            expires_at: t.expires_at,
        }
    }
}

/// A new login session's tokens and its user.
#[derive(Serialize, ToSchema)]
pub struct LoginResponse<'a> {
    #[serde(flatten)]
    pub tokens: TokenPair,
    pub user: LoginUser<'a>,
}

/// A login session (one per sign-in).
#[derive(Serialize, ToSchema)]
pub struct LoginSessionView<'a> {
    pub id: &'a str,
    /// RFC 3339.
    pub created_at: &'a str,
    /// When the session last refreshed its tokens (RFC 3339).
    pub last_used_at: &'a str,
    /// When the session ends unless refreshed (RFC 3339).
    pub expires_at: &'a str,
    /// Where the sign-in came from, when known.
    #[schema(required = true)]
    pub ip_address: Option<&'a str>,
    #[schema(required = true)]
    pub user_agent: Option<&'a str>,
    /// Whether this is the session of the request's own token.
    pub current: bool,
}

impl<'a> LoginSessionView<'a> {
    pub fn new(session: &'a LoginSession, current_id: &str) -> Self {
        LoginSessionView {
            id: &session.id,
            created_at: &session.created_at,
            last_used_at: &session.last_used_at,
            expires_at: &session.expires_at,
            ip_address: session.ip_address.as_deref(),
            user_agent: session.user_agent.as_deref(),
            current: session.id == current_id,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LoginSessionList<'a> {
    pub sessions: Vec<LoginSessionView<'a>>,
}

/// A pending TOTP secret, to add to an authenticator app.
#[derive(Serialize, ToSchema)]
pub struct TotpSetupResponse {
    /// The secret in base32, to type in.
    pub secret: String,
    /// The `otpauth://` URI, to scan as a QR code.
    pub uri: String,
}

#[derive(Serialize, ToSchema)]
pub struct TotpEnabled {
    pub message: &'static str,
    /// Single-use codes that stand in for a TOTP code; shown this once.
    pub recovery_codes: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TotpStatus {
    pub enabled: bool,
    /// Unused recovery codes (0 while TOTP is off).
    pub recovery_codes_remaining: usize,
}

#[derive(Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// The new single-use recovery codes (the old ones no longer work); shown this once.
    pub recovery_codes: Vec<String>,
}
