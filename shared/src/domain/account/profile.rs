//! The public profile: display name, bio, avatar and banner. Text is trimmed and bounded,
//! control and invisible format characters (bidi controls, zero-width characters) refused;
//! images are `https` URLs off this machine and private networks, kept in their parsed,
//! percent-encoded form (`input::text`, `input::https_url`).

use crate::domain::identity::users::User;
use crate::domain::input::{self, FieldErrors};
use crate::error::{ApiError, ApiResult, OnCondition};
use crate::keys;
use crate::state::AppState;
use crate::store::{Cond, Update};

pub const DISPLAY_NAME_MAX: usize = 50;
pub const BIO_MAX: usize = 500;

/// Changes to a profile, by field: `Some(None)` clears it, `None` leaves it.
#[derive(Default, Debug, PartialEq)]
pub struct ProfileChanges {
    pub display_name: Option<Option<String>>,
    pub bio: Option<Option<String>>,
    pub avatar_url: Option<Option<String>>,
    pub banner_url: Option<Option<String>>,
}

/// One field of a change as sent: absent (`None`), cleared (`Some(None)` or an empty string),
/// or set.
type Sent = Option<Option<String>>;

fn clearing(sent: &Sent) -> bool {
    matches!(sent, Some(None)) || matches!(sent, Some(Some(s)) if s.trim().is_empty())
}

fn parse_field(
    errors: &mut FieldErrors,
    sent: Sent,
    parse: impl FnOnce(&str) -> ApiResult<String>,
) -> Sent {
    if clearing(&sent) {
        return Some(None);
    }
    let raw = sent??;
    errors.take(parse(&raw)).map(Some)
}

impl ProfileChanges {
    /// The changes as sent, each field validated (trimmed; an empty string clears it),
    /// reporting all bad ones at once.
    pub fn parse(self) -> ApiResult<Self> {
        let mut errors = FieldErrors::default();
        let changes = ProfileChanges {
            display_name: parse_field(&mut errors, self.display_name, |raw| {
                if raw.contains('\n') {
                    return Err(ApiError::field("display_name", "must be one line"));
                }
                input::text("display_name", raw, 1, DISPLAY_NAME_MAX)
            }),
            bio: parse_field(&mut errors, self.bio, |raw| {
                input::text("bio", raw, 1, BIO_MAX)
            }),
            avatar_url: parse_field(&mut errors, self.avatar_url, |raw| {
                input::https_url("avatar_url", raw)
            }),
            banner_url: parse_field(&mut errors, self.banner_url, |raw| {
                input::https_url("banner_url", raw)
            }),
        };
        errors.finish()?;
        Ok(changes)
    }

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
    // OpenID Connect's `updated_at` reads when the profile last changed.
    let mut update = Update::new(keys::user(&user.id))
        .when(Cond::Exists)
        .set("profile_updated_at", crate::clock::rfc3339(state.now()));
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
    // The user as the change left it, from the write itself: no second read.
    let item = state
        .table
        .update_returning(update)
        .await
        .on_condition(&keys::user(&user.id), ApiError::invalid_token)?;
    Ok(crate::store::from_item(item)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(s: &str) -> Sent {
        Some(Some(s.to_string()))
    }

    fn parse(
        display_name: Sent,
        bio: Sent,
        avatar_url: Sent,
        banner_url: Sent,
    ) -> ApiResult<ProfileChanges> {
        ProfileChanges {
            display_name,
            bio,
            avatar_url,
            banner_url,
        }
        .parse()
    }

    #[test]
    fn fields_are_trimmed_cleared_and_checked_together() {
        let c = parse(set("  Ann  "), set(""), Some(None), None).unwrap();
        assert_eq!(c.display_name, Some(Some("Ann".into())));
        assert_eq!(c.bio, Some(None));
        assert_eq!(c.avatar_url, Some(None));
        assert_eq!(c.banner_url, None);

        let err = parse(
            set("a\u{7}b"),
            set(&"x".repeat(BIO_MAX + 1)),
            set("http://example.com/a.png"),
            set("javascript:alert(1)"),
        )
        .unwrap_err();
        let ApiError::Validation(fields) = err else {
            panic!("{err:?}")
        };
        let names: Vec<&str> = fields.keys().map(|k| k.as_ref()).collect();
        assert_eq!(names, ["avatar_url", "banner_url", "bio", "display_name"]);
        assert!(parse(set("two\nlines"), None, None, None).is_err());
        assert!(parse(None, set("two\nlines"), None, None).is_ok());
    }
}
