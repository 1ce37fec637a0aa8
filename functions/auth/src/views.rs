//! The response bodies of `/api/auth/*`, in the shapes of the API reference.

use std::borrow::Cow;

use serde::Serialize;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use buddo_shared::config::Config;
use buddo_shared::domain::identity::sessions::{LoginSession, Tokens};
use buddo_shared::domain::identity::trusted_devices::{DeviceGrant, TrustedDevice};
use buddo_shared::domain::identity::User;

/// `{"user": …}` around the user object of `POST /api/auth/register`.
#[derive(Serialize, ToSchema)]
pub struct RegisterResponse {
    pub user: RegisteredUser,
}

/// `{"user": …}` around the user object of `GET /api/auth/me`.
#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    pub user: CurrentUser,
}

/// What the user objects of registration and of `GET /api/auth/me` both hold.
#[derive(Serialize, ToSchema)]
pub struct Account {
    #[schema(format = "email")]
    pub email: String,
    pub email_verified: bool,
    pub id: String,
    /// The points balance.
    pub points: i64,
    /// The code others give when they register, to credit this user.
    pub referral_code: String,
    /// What the user's app session earnings are multiplied by (early users earn more).
    pub signup_multiplier: f64,
    /// The name of the user's tier, by points earned in total.
    pub tier: String,
    pub username: String,
}

impl Account {
    pub fn new(user: &User, config: &Config) -> Self {
        Account {
            email: user.email.clone(),
            email_verified: user.email_verified,
            id: user.id.clone(),
            points: user.points,
            referral_code: user.referral_code.clone(),
            signup_multiplier: user.signup_multiplier,
            tier: config.tier(user.total_earned).name.clone(),
            username: user.username.clone(),
        }
    }
}

/// A user object: the [`Account`] fields and those of one endpoint (`X`), in one JSON object
/// and one schema, named and described as `X` is.
#[derive(Serialize)]
pub struct UserObject<X> {
    #[serde(flatten)]
    pub account: Account,
    #[serde(flatten)]
    pub more: X,
}

impl<X: ToSchema> PartialSchema for UserObject<X> {
    fn schema() -> RefOr<Schema> {
        let (RefOr::T(Schema::Object(mut object)), RefOr::T(Schema::Object(account))) =
            (X::schema(), Account::schema())
        else {
            unreachable!("both derive an object schema");
        };
        object.properties.extend(account.properties);
        object.required.extend(account.required);
        // The order the fields were declared in when they were one struct.
        object.required.sort();
        object.into()
    }
}

impl<X: ToSchema> ToSchema for UserObject<X> {
    fn name() -> Cow<'static, str> {
        X::name()
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        X::schemas(schemas);
    }
}

/// The user object of `POST /api/auth/register`.
pub type RegisteredUser = UserObject<Registered>;

/// The user object of `POST /api/auth/register`.
#[derive(Serialize, ToSchema)]
#[schema(as = RegisteredUser)]
pub struct Registered {
    /// The account's place in the order of registration (1 for the first).
    pub registration_number: u64,
}

impl RegisteredUser {
    pub fn new(user: &User, config: &Config) -> Self {
        UserObject {
            account: Account::new(user, config),
            more: Registered {
                registration_number: user.registration_number,
            },
        }
    }
}

/// The user object of `POST /api/auth/login`.
#[derive(Serialize, ToSchema)]
pub struct LoginUser {
    #[schema(format = "email")]
    pub email: String,
    pub email_verified: bool,
    pub id: String,
    pub is_admin: bool,
    /// The name of the user's tier, by points earned in total.
    pub tier: String,
    pub totp_enabled: bool,
    pub username: String,
}

impl LoginUser {
    pub fn new(user: &User, config: &Config) -> Self {
        LoginUser {
            email: user.email.clone(),
            email_verified: user.email_verified,
            id: user.id.clone(),
            is_admin: user.is_admin,
            tier: config.tier(user.total_earned).name.clone(),
            totp_enabled: user.totp_enabled,
            username: user.username.clone(),
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
pub type CurrentUser = UserObject<Current>;

/// The user object of `GET /api/auth/me`.
#[derive(Serialize, ToSchema)]
#[schema(as = CurrentUser)]
pub struct Current {
    pub stats: CurrentUserStats,
    /// The tier's emoji.
    pub tier_emoji: String,
    pub totp_enabled: bool,
}

impl CurrentUser {
    pub fn new(user: &User, config: &Config) -> Self {
        UserObject {
            account: Account::new(user, config),
            more: Current {
                stats: CurrentUserStats {
                    connected_apps: user.connected_apps,
                    direct_referrals: user.direct_referrals,
                    total_earned: user.total_earned,
                    total_spent: user.total_spent,
                },
                tier_emoji: config.tier(user.total_earned).emoji.clone(),
                totp_enabled: user.totp_enabled,
            },
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
pub struct LoginResponse {
    #[serde(flatten)]
    pub tokens: TokenPair,
    pub user: LoginUser,
    /// Only when `remember_device` was asked with a right code: send it as `device_token` at
    /// the logins that follow instead of a code. Shown this once.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub device_token: Option<String>,
    /// With `device_token`: when the device stops being trusted (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub device_expires_at: Option<String>,
}

impl LoginResponse {
    pub fn new(user: &User, tokens: Tokens, device: Option<DeviceGrant>, config: &Config) -> Self {
        LoginResponse {
            tokens: tokens.into(),
            user: LoginUser::new(user, config),
            device_token: device.as_ref().map(|d| d.token.clone()),
            device_expires_at: device.map(|d| d.expires_at),
        }
    }
}

/// A login session (one per sign-in).
#[derive(Serialize, ToSchema)]
pub struct LoginSessionView {
    pub id: String,
    /// RFC 3339.
    pub created_at: String,
    /// When the session last refreshed its tokens (RFC 3339).
    pub last_used_at: String,
    /// When the session ends unless refreshed (RFC 3339).
    pub expires_at: String,
    /// Where the sign-in came from, when known.
    #[schema(required = true)]
    pub ip_address: Option<String>,
    #[schema(required = true)]
    pub user_agent: Option<String>,
    /// Whether this is the session of the request's own token.
    pub current: bool,
}

impl LoginSessionView {
    pub fn new(session: &LoginSession, current_id: &str) -> Self {
        LoginSessionView {
            id: session.id.clone(),
            created_at: session.created_at.clone(),
            last_used_at: session.last_used_at.clone(),
            expires_at: session.expires_at.clone(),
            ip_address: session.ip_address.clone(),
            user_agent: session.user_agent.clone(),
            current: session.id == current_id,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct LoginSessionList {
    pub sessions: Vec<LoginSessionView>,
}

/// A device trusted to stand in for the TOTP code at login.
#[derive(Serialize, ToSchema)]
pub struct TrustedDeviceView {
    pub id: String,
    /// What the device is, from its user agent ("Firefox on Windows").
    pub label: String,
    /// When it was trusted (RFC 3339).
    pub created_at: String,
    /// When its token last stood in for the code (RFC 3339).
    pub last_used_at: String,
    /// When it stops being trusted (RFC 3339).
    pub expires_at: String,
    /// Where it was trusted from, when known.
    #[schema(required = true)]
    pub ip_address: Option<String>,
    #[schema(required = true)]
    pub user_agent: Option<String>,
}

impl TrustedDeviceView {
    pub fn new(device: &TrustedDevice) -> Self {
        TrustedDeviceView {
            id: device.id.clone(),
            label: device.label.clone(),
            created_at: device.created_at.clone(),
            last_used_at: device.last_used_at.clone(),
            expires_at: device.expires_at.clone(),
            ip_address: device.ip_address.clone(),
            user_agent: device.user_agent.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TrustedDeviceList {
    pub trusted_devices: Vec<TrustedDeviceView>,
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
