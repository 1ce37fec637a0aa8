//! The public profile: display name, bio, avatar and banner. Text is trimmed and bounded,
//! control characters refused; images are `https` URLs.

use crate::domain::identity::users::{self, User};
use crate::error::{ApiError, ApiResult, OnCondition};
use crate::keys;
use crate::state::AppState;
use crate::store::{Cond, Update};

/// Changes to a profile; `Some(None)` clears a field, `None` leaves it.
#[derive(Default)]
pub struct ProfileChanges {
    pub display_name: Option<Option<String>>,
    pub bio: Option<Option<String>>,
    pub avatar_url: Option<Option<String>>,
    pub banner_url: Option<Option<String>>,
}

impl ProfileChanges {
    pub fn is_empty(&self) -> bool {
        self.display_name.is_none()
            && self.bio.is_none()
            && self.avatar_url.is_none()
            && self.banner_url.is_none()
    }
}

/// Applies the changes and returns the user as they are now.
pub async fn update(state: &AppState, user: &User, changes: ProfileChanges) -> ApiResult<User> {
    if changes.is_empty() {
        return Ok(user.clone());
    }
    let mut update = Update::new(keys::user(&user.id)).when(Cond::Exists);
    for (name, value) in [
        ("display_name", &changes.display_name),
        ("bio", &changes.bio),
        ("avatar_url", &changes.avatar_url),
        ("banner_url", &changes.banner_url),
    ] {
        update = match value {
            None => update,
            Some(None) => update.remove(name),
            Some(Some(v)) => update.set(name, v.clone()),
        };
    }
    state
        .table
        .write(vec![update.into_op()])
        .await
        .on_condition(&keys::user(&user.id), ApiError::invalid_token)?;
    users::require(state.table.as_ref(), &user.id).await
}
