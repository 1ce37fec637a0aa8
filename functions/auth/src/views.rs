//! The response bodies of `/api/auth/*`, in the shapes of the API reference.

use serde::Serialize;

use buddo_shared::config::Config;
use buddo_shared::domain::identity::sessions::{LoginSession, Tokens};
use buddo_shared::domain::identity::User;

#[derive(Serialize)]
pub struct Message {
    pub message: &'static str,
}

/// `{"user": …}` around any of the user objects below.
#[derive(Serialize)]
pub struct UserEnvelope<T> {
    pub user: T,
}

/// The user object of `POST /api/auth/register`.
#[derive(Serialize)]
pub struct RegisteredUser<'a> {
    pub email: &'a str,
    pub email_verified: bool,
    pub id: &'a str,
    pub points: i64,
    pub referral_code: &'a str,
    pub registration_number: u64,
    pub signup_multiplier: f64,
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
#[derive(Serialize)]
pub struct LoginUser<'a> {
    pub email: &'a str,
    pub email_verified: bool,
    pub id: &'a str,
    pub is_admin: bool,
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

#[derive(Serialize)]
pub struct Stats {
    pub connected_apps: i64,
    pub direct_referrals: i64,
    pub total_earned: i64,
    pub total_spent: i64,
}

/// The user object of `GET /api/auth/me`.
#[derive(Serialize)]
pub struct Profile<'a> {
    pub email: &'a str,
    pub email_verified: bool,
    pub id: &'a str,
    pub points: i64,
    pub referral_code: &'a str,
    pub signup_multiplier: f64,
    pub stats: Stats,
    pub tier: &'a str,
    pub tier_emoji: &'a str,
    pub totp_enabled: bool,
    pub username: &'a str,
}

impl<'a> Profile<'a> {
    pub fn new(user: &'a User, config: &'a Config) -> Self {
        let tier = config.tier(user.total_earned);
        Profile {
            email: &user.email,
            email_verified: user.email_verified,
            id: &user.id,
            points: user.points,
            referral_code: &user.referral_code,
            signup_multiplier: user.signup_multiplier,
            stats: Stats {
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

/// `POST /api/auth/refresh`; flattened into the login response.
#[derive(Serialize)]
pub struct TokenPair {
    pub token: String,
    pub refresh_token: String,
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

#[derive(Serialize)]
pub struct LoginResponse<'a> {
    #[serde(flatten)]
    pub tokens: TokenPair,
    pub user: LoginUser<'a>,
}

#[derive(Serialize)]
pub struct SessionView<'a> {
    pub id: &'a str,
    pub created_at: &'a str,
    pub last_used_at: &'a str,
    pub expires_at: &'a str,
    pub ip_address: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub current: bool,
}

impl<'a> SessionView<'a> {
    pub fn new(session: &'a LoginSession, current_id: &str) -> Self {
        SessionView {
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

#[derive(Serialize)]
pub struct SessionList<'a> {
    pub sessions: Vec<SessionView<'a>>,
}

#[derive(Serialize)]
pub struct TotpSetupResponse {
    pub secret: String,
    pub uri: String,
}

#[derive(Serialize)]
pub struct TotpEnabled {
    pub message: &'static str,
    pub recovery_codes: Vec<String>,
}

#[derive(Serialize)]
pub struct TotpStatus {
    pub enabled: bool,
    pub recovery_codes_remaining: usize,
}

#[derive(Serialize)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}
