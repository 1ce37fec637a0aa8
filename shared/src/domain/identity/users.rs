//! Users: the profile item and its uniqueness markers.

use serde::{Deserialize, Serialize};

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
    /// The referrer's bonus is still owed: set at registration with a referral code, cleared
    /// (conditionally) by the write that first marks an address of the account verified, which
    /// pays the bonus. Accounts from before this rule lack it and are never paid again.
    #[serde(default)]
    pub referral_pending: bool,
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
    /// Bumped to sign out every login session at once (password reset or change, TOTP on
    /// or off, email change); a session counts only while it carries the current value.
    #[serde(default)]
    pub session_generation: i64,
    /// Bumped whenever the password changes. Mail tokens carry the value they were issued
    /// under and are refused once it has moved on.
    #[serde(default)]
    pub credential_generation: i64,
    pub created_at: String,
    // ---- the public profile ----
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub bio: Option<String>,
    #[serde(default)]
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub banner_url: Option<String>,
    /// When the public profile last changed (RFC 3339).
    #[serde(default)]
    pub profile_updated_at: Option<String>,
    /// Set by an admin: a disabled user cannot sign in, refresh, or use any token.
    #[serde(default)]
    pub disabled: bool,
    /// Sign-in providers linked (`CONNECTION#` items): with the password, the ways to sign
    /// in, of which the last may not be taken away.
    #[serde(default)]
    pub linked_providers: i64,
    /// Agreed to marketing mail, and when that was last given or withdrawn (RFC 3339).
    #[serde(default)]
    pub marketing_opt_in: bool,
    #[serde(default)]
    pub marketing_opt_in_at: Option<String>,
}

impl User {
    /// Whether the account has a password (accounts made through a provider start without).
    pub fn has_password(&self) -> bool {
        !self.password_hash.is_empty()
    }
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

/// The user whose address this is. An address an account has left stays marked for it while
/// the change can be undone ([`held_marker`]); it names no one meanwhile.
pub async fn find_by_email(table: &dyn Table, email_lower: &str) -> ApiResult<Option<User>> {
    let user = by_marker(table, &keys::email_marker(email_lower)).await?;
    Ok(user.filter(|u| u.email == email_lower))
}

/// Like [`find_by_email`], but an unknown address costs the same reads as a known one, so
/// the time taken does not tell whether an account exists.
pub async fn find_by_email_evenly(table: &dyn Table, email_lower: &str) -> ApiResult<Option<User>> {
    match table.get(&keys::email_marker(email_lower)).await? {
        Some(item) => {
            let marker: Marker = store::from_item(item)?;
            let user = get(table, &marker.user_id).await?;
            Ok(user.filter(|u| u.email == email_lower))
        }
        None => {
            table.get(&keys::user(keys::NO_USER)).await?;
            Ok(None)
        }
    }
}

pub async fn find_by_referral_code(table: &dyn Table, code: &str) -> ApiResult<Option<User>> {
    by_marker(table, &keys::referral_code(code)).await
}

/// Whether the address is marked for an account other than `user_id`'s: in use, or held for
/// the undo of a change away from it. An account may move back to an address it holds.
pub async fn email_taken(table: &dyn Table, email_lower: &str, user_id: &str) -> ApiResult<bool> {
    Ok(match table.get(&keys::email_marker(email_lower)).await? {
        Some(item) => store::from_item::<Marker>(item)?.user_id != user_id,
        None => false,
    })
}

/// The write that keeps the marker of an address the account is leaving, for `user_id` alone,
/// until `until` (epoch seconds): the undo link can then always take the address back.
pub fn held_marker(email_lower: &str, user_id: &str, until: i64) -> store::WriteOp {
    store::Update::new(keys::email_marker(email_lower))
        .set(store::TTL, until)
        .when(store::Cond::eq("user_id", user_id))
        .into_op()
}

/// The write that marks an address as the account's: new, or one it holds since a change.
pub fn claim_marker(email_lower: &str, user_id: &str) -> store::WriteOp {
    store::WriteOp::Put {
        item: marker_item(&keys::email_marker(email_lower), user_id),
        cond: store::Cond::NotExists.or(store::Cond::eq("user_id", user_id)),
    }
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

/// Refuses what needs a verified address: it proves the account's owner holds the mailbox, so
/// an account registered on someone else's address cannot be armed before the owner arrives.
pub fn require_verified_email(user: &User) -> ApiResult<()> {
    if user.email_verified {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "email_not_verified",
            "Verify your email address first",
        ))
    }
}

/// Refuses an admin action whose subject is the acting admin (403 `self_action_forbidden`).
/// Ids are compared as UUIDs, so no spelling of one's own id gets through.
pub fn not_own_account(admin_id: &str, user_id: &str) -> ApiResult<()> {
    let same = match (
        uuid::Uuid::parse_str(admin_id.trim()),
        uuid::Uuid::parse_str(user_id.trim()),
    ) {
        (Ok(a), Ok(u)) => a == u,
        _ => admin_id.trim().eq_ignore_ascii_case(user_id.trim()),
    };
    if same {
        return Err(ApiError::forbidden(
            "self_action_forbidden",
            "Admins cannot do this to their own account; ask another admin",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::not_own_account;

    #[test]
    fn one_s_own_id_in_any_spelling_is_refused() {
        let id = "0b5c2f1e-8f4e-4c6a-9d1e-2a3b4c5d6e7f";
        for same in [
            id.to_string(),
            id.to_uppercase(),
            id.replace('-', ""),
            format!(" {id} "),
        ] {
            assert!(not_own_account(id, &same).is_err(), "{same}");
        }
        assert!(not_own_account(id, "1b5c2f1e-8f4e-4c6a-9d1e-2a3b4c5d6e7f").is_ok());
        assert!(not_own_account(id, "nope").is_ok());
    }
}
