//! A user's settings: time zone (IANA), language (BCP 47), theme and notification channels.
//! Missing values read as defaults; an update changes only what it names.

use serde::{Deserialize, Serialize};

use crate::domain::input::FieldErrors;
use crate::error::{ApiError, ApiResult, OnCondition};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Cond, Update, WriteOp};

/// Every IANA time zone name of the tz database.
const TIME_ZONES: &str = include_str!("timezones.txt");

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    Light,
    Dark,
    System,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notifications {
    pub email: bool,
    pub push: bool,
    pub sms: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub timezone: String,
    pub language: String,
    pub theme: Theme,
    pub notifications: Notifications,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            timezone: "UTC".into(),
            language: "en".into(),
            theme: Theme::System,
            notifications: Notifications {
                email: true,
                push: false,
                sms: false,
            },
        }
    }
}

/// What an update names; the rest stays.
#[derive(Default)]
pub struct SettingsChanges {
    pub timezone: Option<String>,
    pub language: Option<String>,
    pub theme: Option<Theme>,
    pub email: Option<bool>,
    pub push: Option<bool>,
    pub sms: Option<bool>,
}

impl SettingsChanges {
    /// Validates every sent value, reporting all bad ones at once.
    pub fn parse(
        timezone: Option<String>,
        language: Option<String>,
        theme: Option<String>,
        notifications: [Option<bool>; 3],
    ) -> ApiResult<Self> {
        let mut errors = FieldErrors::default();
        let [email, push, sms] = notifications;
        let changes = SettingsChanges {
            timezone: timezone.and_then(|v| errors.take(parse_timezone("timezone", &v))),
            language: language.and_then(|v| errors.take(parse_language("language", &v))),
            theme: theme.and_then(|v| errors.take(parse_theme("theme", &v))),
            email,
            push,
            sms,
        };
        errors.finish()?;
        Ok(changes)
    }
}

/// An IANA time zone name.
pub fn parse_timezone(field: &'static str, raw: &str) -> ApiResult<String> {
    if TIME_ZONES.lines().any(|zone| zone == raw) {
        Ok(raw.to_string())
    } else {
        Err(ApiError::field(
            field,
            "must be an IANA time zone such as Europe/Paris",
        ))
    }
}

/// A well-formed BCP 47 language tag (RFC 5646), in its normal case.
pub fn parse_language(field: &'static str, raw: &str) -> ApiResult<String> {
    let invalid = || ApiError::field(field, "must be a BCP 47 language tag such as en or pt-BR");
    if raw.is_empty() || raw.len() > 35 {
        return Err(invalid());
    }
    language_tags::LanguageTag::parse(raw)
        .map(|tag| tag.to_string())
        .map_err(|_| invalid())
}

pub fn parse_theme(field: &'static str, raw: &str) -> ApiResult<Theme> {
    match raw {
        "light" => Ok(Theme::Light),
        "dark" => Ok(Theme::Dark),
        "system" => Ok(Theme::System),
        _ => Err(ApiError::field(field, "must be light, dark or system")),
    }
}

/// The settings item: one attribute per setting, each written only when changed, so two
/// updates of different settings at once both hold.
#[derive(Default, Deserialize)]
struct Stored {
    timezone: Option<String>,
    language: Option<String>,
    theme: Option<Theme>,
    notify_email: Option<bool>,
    notify_push: Option<bool>,
    notify_sms: Option<bool>,
}

impl From<Stored> for Settings {
    fn from(s: Stored) -> Self {
        let d = Settings::default();
        Settings {
            timezone: s.timezone.unwrap_or(d.timezone),
            language: s.language.unwrap_or(d.language),
            theme: s.theme.unwrap_or(d.theme),
            notifications: Notifications {
                email: s.notify_email.unwrap_or(d.notifications.email),
                push: s.notify_push.unwrap_or(d.notifications.push),
                sms: s.notify_sms.unwrap_or(d.notifications.sms),
            },
        }
    }
}

pub async fn get(state: &AppState, user_id: &str) -> ApiResult<Settings> {
    let stored: Stored = match state.table.get(&keys::settings(user_id)).await? {
        Some(item) => store::from_item(item)?,
        None => Stored::default(),
    };
    Ok(stored.into())
}

/// Changes what is named and returns the settings as they are now.
pub async fn update(
    state: &AppState,
    user_id: &str,
    changes: SettingsChanges,
) -> ApiResult<Settings> {
    let mut update = Update::new(keys::settings(user_id));
    if let Some(v) = changes.timezone {
        update = update.set("timezone", v);
    }
    if let Some(v) = changes.language {
        update = update.set("language", v);
    }
    if let Some(v) = changes.theme {
        update = update.set(
            "theme",
            serde_json::to_value(v).map_err(ApiError::internal)?,
        );
    }
    for (name, value) in [
        ("notify_email", changes.email),
        ("notify_push", changes.push),
        ("notify_sms", changes.sms),
    ] {
        if let Some(v) = value {
            update = update.set(name, v);
        }
    }
    if !update.set.is_empty() {
        // Only while the account exists: a deleted account's settings are not written back.
        let user_key = keys::user(user_id);
        state
            .table
            .write(vec![
                update.into_op(),
                WriteOp::check(user_key.clone(), Cond::Exists),
            ])
            .await
            .on_condition(&user_key, ApiError::invalid_token)?;
    }
    get(state, user_id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zones_and_languages() {
        assert!(parse_timezone("t", "Europe/Paris").is_ok());
        assert!(parse_timezone("t", "America/Argentina/Buenos_Aires").is_ok());
        assert!(parse_timezone("t", "Mars/Olympus").is_err());
        assert!(parse_timezone("t", "europe/paris").is_err());
        assert_eq!(parse_language("l", "pt-BR").unwrap(), "pt-BR");
        assert_eq!(parse_language("l", "zh-Hant-TW").unwrap(), "zh-Hant-TW");
        assert!(parse_language("l", "english!").is_err());
        assert!(parse_language("l", "").is_err());
    }
}
