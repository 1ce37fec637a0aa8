//! Usernames: which names nobody may take, and the marker that claims a name for its user
//! (one item per lower-case name, so a conditional put is the uniqueness check). The marker
//! is also indexed for prefix search (`account::directory`).

use serde::{Deserialize, Serialize};

use crate::domain::input::Username;
use crate::keys;
use crate::store::{self, Item, StoreError};

/// Names nobody may take: staff-sounding names and every path word of the API (so that no
/// username can shadow a route like `/api/users/search`), kept sorted.
const RESERVED: &[&str] = &[
    "account",
    "activity",
    "admin",
    "administrator",
    "ads",
    "anonymous",
    "api",
    "app",
    "approve",
    "apps",
    "assets",
    "auth",
    "authorize",
    "available",
    "avatar",
    "balance",
    "banner",
    "buddo",
    "callback",
    "campaigns",
    "cancel",
    "complete",
    "confirm",
    "connected_apps",
    "connections",
    "deliveries",
    "deny",
    "devices",
    "disable",
    "docs",
    "enable",
    "end",
    "event",
    "export",
    "external",
    "health",
    "help",
    "history",
    "id",
    "images",
    "import",
    "link",
    "login",
    "logout",
    "me",
    "moderator",
    "null",
    "oauth",
    "official",
    "openapi",
    "options",
    "par",
    "passkey",
    "passkeys",
    "pause",
    "plans",
    "points",
    "profile",
    "provider",
    "refresh",
    "register",
    "remove",
    "rename",
    "replay",
    "resume",
    "revoke",
    "root",
    "scope_requests",
    "search",
    "security",
    "serve",
    "session",
    "sessions",
    "settings",
    "setup",
    "signin",
    "signout",
    "signup",
    "spend",
    "staff",
    "status",
    "stream",
    "subscriptions",
    "support",
    "suspend",
    "system",
    "token",
    "totp",
    "transfer",
    "unapprove",
    "undefined",
    "undo",
    "unpause",
    "uploads",
    "user",
    "userinfo",
    "users",
    "verify",
    "webhooks",
    "well_known",
];

/// What a username marker holds.
#[derive(Serialize, Deserialize)]
pub struct UsernameMarker {
    pub user_id: String,
    pub username: String,
}

pub fn is_reserved(lower: &str) -> bool {
    RESERVED.contains(&lower)
}

/// The username marker of a new user, indexed for prefix search.
pub fn username_marker(user_id: &str, username: &Username) -> Result<Item, StoreError> {
    let lower = username.lower();
    let mut item = store::to_item(
        &keys::username_marker(&lower),
        &UsernameMarker {
            user_id: user_id.to_string(),
            username: username.as_str().to_string(),
        },
    )?;
    keys::username_index(&lower).put_on(&mut item);
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::RESERVED;

    #[test]
    fn reserved_names_are_sorted_lower_case_and_once_each() {
        assert!(RESERVED.windows(2).all(|w| w[0] < w[1]));
        assert!(RESERVED.iter().all(|n| *n == n.to_lowercase()));
    }
}
