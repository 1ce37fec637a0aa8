//! A user's settings: time zone (IANA), language (BCP 47), theme, notification channels,
//! consent to marketing mail and the app's own preferences. Missing values read as defaults; an
//! update changes only what it names.
//!
//! Marketing consent lives on the user item (`marketing_opt_in`, with the time of its last
//! change), where sign-up records it; giving or withdrawing it writes an activity entry in the
//! same transaction. Preferences are app-defined keys (`oddsFormat`) with string, number or
//! boolean values, one attribute each on the settings item, so two updates of different keys at
//! once both hold; a count beside them, kept in the same writes, holds the limit on keys even
//! against concurrent updates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::clock::rfc3339;
use crate::domain::activity::{self, ActivityKind};
use crate::domain::identity::users::{self, User};
use crate::domain::input::FieldErrors;
use crate::domain::RequestMeta;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Cond, Item, StoreError, Update, WriteOp};

/// Preference keys one user holds at most.
pub const MAX_PREFERENCES: usize = 32;
const MAX_PREFERENCE_KEY_LEN: usize = 64;
const MAX_PREFERENCE_STRING_LEN: usize = 256;
/// Numbers a preference holds: well inside both what DynamoDB stores and what a JSON client
/// reads back exactly.
const MAX_PREFERENCE_NUMBER: f64 = 1e15;
const MIN_PREFERENCE_FRACTION: f64 = 1e-6;
/// The attribute of a preference on the settings item.
const PREFERENCE_PREFIX: &str = "pref:";
/// How many preference attributes the settings item holds.
const PREFERENCE_COUNT: &str = "pref_count";
/// Attempts at an update whose read went stale before its write.
const TRIES: usize = 5;

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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub timezone: String,
    pub language: String,
    pub theme: Theme,
    pub notifications: Notifications,
    /// Agreed to marketing mail.
    pub marketing_opt_in: bool,
    /// When consent was last given or withdrawn (RFC 3339); `None` when never given.
    pub marketing_opt_in_at: Option<String>,
    /// The app's own preferences, by key.
    pub preferences: BTreeMap<String, Value>,
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
            marketing_opt_in: false,
            marketing_opt_in_at: None,
            preferences: BTreeMap::new(),
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
    pub marketing_opt_in: Option<bool>,
    /// Preferences to set (`Some`) or remove (`None`), by key.
    pub preferences: BTreeMap<String, Option<Value>>,
}

/// What an update of the settings may name, as sent.
#[derive(Default)]
pub struct SentSettings {
    pub timezone: Option<String>,
    pub language: Option<String>,
    pub theme: Option<String>,
    /// Email, push, SMS.
    pub notifications: [Option<bool>; 3],
    pub marketing_opt_in: Option<bool>,
    pub preferences: Option<serde_json::Map<String, Value>>,
}

impl SettingsChanges {
    /// Validates every sent value, reporting all bad ones at once.
    pub fn parse(sent: SentSettings) -> ApiResult<Self> {
        let mut errors = FieldErrors::default();
        let [email, push, sms] = sent.notifications;
        let mut preferences = BTreeMap::new();
        for (key, value) in sent.preferences.unwrap_or_default() {
            if let Some(value) = errors.take(parse_preference(&key, value)) {
                preferences.insert(key, value);
            }
        }
        let changes = SettingsChanges {
            timezone: sent
                .timezone
                .and_then(|v| errors.take(parse_timezone("timezone", &v))),
            language: sent
                .language
                .and_then(|v| errors.take(parse_language("language", &v))),
            theme: sent
                .theme
                .and_then(|v| errors.take(parse_theme("theme", &v))),
            email,
            push,
            sms,
            marketing_opt_in: sent.marketing_opt_in,
            preferences,
        };
        errors.finish()?;
        Ok(changes)
    }
}

/// One sent preference: a key of 1 to 64 of `A-Z a-z 0-9 _ . -`, and a string of at most 256
/// characters, a number, a boolean, or `null` to remove it (`None`). A fault is named as
/// `preferences.<key>`.
pub fn parse_preference(key: &str, value: Value) -> ApiResult<Option<Value>> {
    let well_formed = !key.is_empty()
        && key.len() <= MAX_PREFERENCE_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !well_formed {
        let shown: String = key.chars().take(MAX_PREFERENCE_KEY_LEN).collect();
        return Err(ApiError::field(
            format!("preferences.{shown}"),
            "a key is 1 to 64 of the characters A-Z, a-z, 0-9, _, . and -",
        ));
    }
    let invalid = |reason: &'static str| ApiError::field(format!("preferences.{key}"), reason);
    match value {
        Value::Null => Ok(None),
        Value::Bool(_) => Ok(Some(value)),
        Value::String(ref text) if text.chars().count() <= MAX_PREFERENCE_STRING_LEN => {
            Ok(Some(value))
        }
        Value::String(_) => Err(invalid("a text is at most 256 characters")),
        Value::Number(ref n) => {
            if let Some(i) = n.as_i64() {
                if i.unsigned_abs() as f64 <= MAX_PREFERENCE_NUMBER {
                    return Ok(Some(value));
                }
            }
            let x = n.as_f64().unwrap_or(f64::INFINITY);
            if x.abs() > MAX_PREFERENCE_NUMBER {
                return Err(invalid("a number is between -1e15 and 1e15"));
            }
            // A whole number is kept as one, so it reads back the same from either store.
            if x.fract() == 0.0 {
                return Ok(Some(Value::from(x as i64)));
            }
            if x.abs() < MIN_PREFERENCE_FRACTION {
                return Err(invalid("a fraction is at least 0.000001 away from 0"));
            }
            Ok(Some(value))
        }
        Value::Array(_) | Value::Object(_) => Err(invalid(
            "must be a string, a number, a boolean, or null to remove it",
        )),
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
/// updates of different settings at once both hold (preferences are `pref:<key>`, read apart).
#[derive(Default, Deserialize)]
struct Stored {
    timezone: Option<String>,
    language: Option<String>,
    theme: Option<Theme>,
    notify_email: Option<bool>,
    notify_push: Option<bool>,
    notify_sms: Option<bool>,
}

impl Stored {
    /// The settings as stored, with `user`'s marketing consent; missing values read as defaults.
    fn settings(self, preferences: BTreeMap<String, Value>, user: &User) -> Settings {
        let d = Settings::default();
        Settings {
            timezone: self.timezone.unwrap_or(d.timezone),
            language: self.language.unwrap_or(d.language),
            theme: self.theme.unwrap_or(d.theme),
            notifications: Notifications {
                email: self.notify_email.unwrap_or(d.notifications.email),
                push: self.notify_push.unwrap_or(d.notifications.push),
                sms: self.notify_sms.unwrap_or(d.notifications.sms),
            },
            marketing_opt_in: user.marketing_opt_in,
            marketing_opt_in_at: user.marketing_opt_in_at.clone(),
            preferences,
        }
    }
}

/// The preferences on a settings item.
fn stored_preferences(item: &Item) -> BTreeMap<String, Value> {
    item.iter()
        .filter_map(|(name, value)| {
            let key = name.strip_prefix(PREFERENCE_PREFIX)?;
            Some((key.to_string(), value.clone()))
        })
        .collect()
}

async fn read(state: &AppState, user_id: &str) -> ApiResult<Option<Item>> {
    Ok(state.table.get(&keys::settings(user_id)).await?)
}

fn from_stored(item: Option<Item>, user: &User) -> ApiResult<Settings> {
    let Some(item) = item else {
        return Ok(Stored::default().settings(BTreeMap::new(), user));
    };
    let preferences = stored_preferences(&item);
    let stored: Stored = store::from_item(item)?;
    Ok(stored.settings(preferences, user))
}

pub async fn get(state: &AppState, user: &User) -> ApiResult<Settings> {
    from_stored(read(state, &user.id).await?, user)
}

/// The preference part of an update, against the preferences as read: each key it sets or
/// removes is conditioned on being there (or not) as read, and the count moves with them, so
/// a concurrent change of the same keys, or one that would take the total past the limit,
/// fails the write instead of being overwritten. Removing a key that is not there is nothing.
fn preference_update(
    mut update: Update,
    current: &BTreeMap<String, Value>,
    changes: &BTreeMap<String, Option<Value>>,
) -> ApiResult<Update> {
    let mut net: i64 = 0;
    let mut cond = update.cond.clone();
    for (key, value) in changes {
        let name = format!("{PREFERENCE_PREFIX}{key}");
        let present = current.contains_key(key);
        match (value, present) {
            (None, false) => continue,
            (None, true) => {
                update = update.remove(&name);
                net -= 1;
            }
            (Some(v), _) => {
                update = update.set(&name, v.clone());
                if !present {
                    net += 1;
                }
            }
        }
        cond = cond.and(if present {
            Cond::attr_exists(&name)
        } else {
            Cond::attr_not_exists(&name)
        });
    }
    let total = current.len() as i64 + net;
    if total > MAX_PREFERENCES as i64 {
        return Err(ApiError::field(
            "preferences",
            "at most 32 keys in all, with those already set",
        ));
    }
    if net != 0 {
        update = update.add(PREFERENCE_COUNT, net);
    }
    if net > 0 {
        let room = MAX_PREFERENCES as i64 - net;
        cond =
            cond.and(Cond::attr_not_exists(PREFERENCE_COUNT).or(Cond::le(PREFERENCE_COUNT, room)));
    }
    Ok(update.when(cond))
}

/// Changes what is named and returns the settings as they are now. Giving or withdrawing
/// marketing consent records the change and its time on the user, with an activity entry, in
/// the same write; sending the consent the user already has writes nothing.
pub async fn update(
    state: &AppState,
    user: &User,
    changes: SettingsChanges,
    meta: &RequestMeta,
) -> ApiResult<Settings> {
    let settings_key = keys::settings(&user.id);
    let user_key = keys::user(&user.id);
    let mut user = user.clone();
    let mut update = Update::new(settings_key.clone());
    if let Some(v) = &changes.timezone {
        update = update.set("timezone", v.clone());
    }
    if let Some(v) = &changes.language {
        update = update.set("language", v.clone());
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
    for _ in 0..TRIES {
        // Preferences are written against the keys as read; the rest needs no read.
        let mut ops = Vec::new();
        let settings = if changes.preferences.is_empty() {
            update.clone()
        } else {
            let current = read(state, &user.id).await?;
            let current = current.as_ref().map(stored_preferences).unwrap_or_default();
            preference_update(update.clone(), &current, &changes.preferences)?
        };
        if !(settings.set.is_empty() && settings.remove.is_empty()) {
            ops.push(settings.into_op());
        }
        let consent = changes
            .marketing_opt_in
            .filter(|wanted| *wanted != user.marketing_opt_in);
        let now = rfc3339(state.now());
        if let Some(wanted) = consent {
            ops.push(
                Update::new(user_key.clone())
                    .set("marketing_opt_in", wanted)
                    .set("marketing_opt_in_at", now.clone())
                    .when(Cond::Exists.and(Cond::ne("marketing_opt_in", wanted)))
                    .into_op(),
            );
            let kind = if wanted {
                ActivityKind::MarketingConsentGiven
            } else {
                ActivityKind::MarketingConsentWithdrawn
            };
            ops.push(activity::record(
                state,
                &user.id,
                kind,
                Some(meta),
                json!({}),
            )?);
        } else if !ops.is_empty() {
            // Only while the account exists: a deleted account's settings are not written back.
            ops.push(WriteOp::check(user_key.clone(), Cond::Exists));
        }
        if ops.is_empty() {
            return get(state, &user).await;
        }
        match state.table.write(ops).await {
            Ok(()) => {
                if let Some(wanted) = consent {
                    user.marketing_opt_in = wanted;
                    user.marketing_opt_in_at = Some(now);
                }
                return get(state, &user).await;
            }
            Err(e) if e.failed_key() == Some(&user_key) => {
                // Gone, or its consent changed meanwhile: read it again.
                user = users::get(state.table.as_ref(), &user.id)
                    .await?
                    .ok_or_else(ApiError::invalid_token)?;
            }
            // The preferences changed meanwhile: read them again.
            Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::conflict(
        "settings_changed",
        "The settings changed meanwhile; try again",
    ))
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

    #[test]
    fn preferences_take_scalars_and_null() {
        assert_eq!(
            parse_preference("oddsFormat", json!("decimal")).unwrap(),
            Some(json!("decimal"))
        );
        assert_eq!(
            parse_preference("a.b-c_d", json!(true)).unwrap(),
            Some(json!(true))
        );
        assert_eq!(parse_preference("n", json!(-12)).unwrap(), Some(json!(-12)));
        assert_eq!(parse_preference("n", json!(2.0)).unwrap(), Some(json!(2)));
        assert_eq!(
            parse_preference("n", json!(0.25)).unwrap(),
            Some(json!(0.25))
        );
        assert_eq!(parse_preference("gone", Value::Null).unwrap(), None);
        for (key, value) in [
            ("", json!(1)),
            ("has space", json!(1)),
            (&"k".repeat(65) as &str, json!(1)),
            ("k", json!([1])),
            ("k", json!({ "a": 1 })),
            ("k", json!("x".repeat(257))),
            ("k", json!(1e16)),
            ("k", json!(-1e300)),
            ("k", json!(1e-9)),
        ] {
            assert!(
                parse_preference(key, value.clone()).is_err(),
                "{key} {value}"
            );
        }
        assert!(parse_preference("k", json!("é".repeat(256))).is_ok());
    }
}
