//! A user's settings: time zone (IANA), language (BCP 47), theme and notification channels.
//! Missing values read as defaults; an update changes only what it names.

use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, WriteOp};

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

/// An IANA time zone name.
pub fn parse_timezone(field: &'static str, raw: &str) -> ApiResult<String> {
    if TIME_ZONES.lines().any(|zone| zone == raw) {
        Ok(raw.to_string())
    } else {
        Err(ApiError::field(field, "must be an IANA time zone such as Europe/Paris"))
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

pub async fn get(state: &AppState, user_id: &str) -> ApiResult<Settings> {
    match state.table.get(&keys::settings(user_id)).await? {
        Some(item) => Ok(store::from_item(item)?),
        None => Ok(Settings::default()),
    }
}

/// Applies the changes to the current settings and returns them.
pub async fn update(state: &AppState, user_id: &str, changes: SettingsChanges) -> ApiResult<Settings> {
    let mut settings = get(state, user_id).await?;
    if let Some(v) = changes.timezone {
        settings.timezone = v;
    }
    if let Some(v) = changes.language {
        settings.language = v;
    }
    if let Some(v) = changes.theme {
        settings.theme = v;
    }
    if let Some(v) = changes.email {
        settings.notifications.email = v;
    }
    if let Some(v) = changes.push {
        settings.notifications.push = v;
    }
    if let Some(v) = changes.sms {
        settings.notifications.sms = v;
    }
    state
        .table
        .write(vec![WriteOp::put(store::to_item(&keys::settings(user_id), &settings)?)])
        .await?;
    Ok(settings)
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
