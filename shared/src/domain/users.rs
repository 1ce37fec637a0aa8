//! Users: the profile item, its uniqueness markers, and the views the API returns.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::Config;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::store::{self, Table};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    /// Lower-cased; unique through the `EMAIL#` marker.
    pub email: String,
    /// As chosen; unique regardless of case through the `USERNAME#` marker.
    pub username: String,
    pub password_hash: String,
    #[serde(default)]
    pub email_verified: bool,
    #[serde(default)]
    pub is_admin: bool,
    #[serde(default)]
    pub points: i64,
    #[serde(default)]
    pub total_earned: i64,
    #[serde(default)]
    pub total_spent: i64,
    #[serde(default)]
    pub direct_referrals: i64,
    #[serde(default)]
    pub connected_apps: i64,
    pub referral_code: String,
    #[serde(default)]
    pub referred_by: Option<String>,
    pub registration_number: u64,
    pub signup_multiplier: f64,
    #[serde(default)]
    pub totp_enabled: bool,
    #[serde(default)]
    pub totp_secret: Option<String>,
    #[serde(default)]
    pub totp_pending_secret: Option<String>,
    /// The last TOTP time step accepted: a code is never accepted twice.
    #[serde(default)]
    pub totp_last_step: i64,
    /// Bumped to sign out every login session at once (password reset or change).
    #[serde(default)]
    pub session_generation: i64,
    pub created_at: String,
}

/// What a uniqueness marker points at.
#[derive(Serialize, Deserialize)]
pub struct Marker {
    pub user_id: String,
}

pub async fn get(table: &dyn Table, user_id: &str) -> ApiResult<Option<User>> {
    match table.get(&keys::user(user_id)).await? {
        None => Ok(None),
        Some(item) => Ok(Some(store::from_item(item)?)),
    }
}

/// Loads a user that must exist (e.g. the subject of a live session).
pub async fn require(table: &dyn Table, user_id: &str) -> ApiResult<User> {
    get(table, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("user_not_found", "User not found"))
}

async fn by_marker(table: &dyn Table, marker: &store::Key) -> ApiResult<Option<User>> {
    let Some(item) = table.get(marker).await? else {
        return Ok(None);
    };
    let marker: Marker = store::from_item(item)?;
    get(table, &marker.user_id).await
}

pub async fn find_by_email(table: &dyn Table, email_lower: &str) -> ApiResult<Option<User>> {
    by_marker(table, &keys::email_marker(email_lower)).await
}

pub async fn find_by_referral_code(table: &dyn Table, code: &str) -> ApiResult<Option<User>> {
    by_marker(table, &keys::referral_code(code)).await
}

pub async fn email_taken(table: &dyn Table, email_lower: &str) -> ApiResult<bool> {
    Ok(table.get(&keys::email_marker(email_lower)).await?.is_some())
}

pub fn marker_item(key: &store::Key, user_id: &str) -> store::Item {
    store::to_item(
        key,
        &Marker {
            user_id: user_id.to_string(),
        },
    )
    .expect("marker is an object")
}

impl User {
    /// The user object of `POST /api/auth/login`.
    pub fn summary(&self, config: &Config) -> Value {
        json!({
            "email": self.email,
            "email_verified": self.email_verified,
            "id": self.id,
            "is_admin": self.is_admin,
            "tier": config.tier(self.total_earned).name,
            "totp_enabled": self.totp_enabled,
            "username": self.username,
        })
    }

    /// The user object of `POST /api/auth/register`.
    pub fn registered(&self, config: &Config) -> Value {
        json!({
            "email": self.email,
            "email_verified": self.email_verified,
            "id": self.id,
            "points": self.points,
            "referral_code": self.referral_code,
            "registration_number": self.registration_number,
            "signup_multiplier": self.signup_multiplier,
            "tier": config.tier(self.total_earned).name,
            "username": self.username,
        })
    }

    /// The user object of `GET /api/auth/me`.
    pub fn profile(&self, config: &Config) -> Value {
        let tier = config.tier(self.total_earned);
        json!({
            "email": self.email,
            "email_verified": self.email_verified,
            "id": self.id,
            "points": self.points,
            "referral_code": self.referral_code,
            "signup_multiplier": self.signup_multiplier,
            "stats": {
                "connected_apps": self.connected_apps,
                "direct_referrals": self.direct_referrals,
                "total_earned": self.total_earned,
                "total_spent": self.total_spent,
            },
            "tier": tier.name,
            "tier_emoji": tier.emoji,
            "totp_enabled": self.totp_enabled,
            "username": self.username,
        })
    }
}
