//! Devices that receive a user's push notifications: each holds one push token (from APNs, FCM
//! or a browser's push service) with the categories of notification it wants.
//!
//! A token belongs to one device of one user at a time. Its marker (`keys::push_token`, by the
//! token's SHA-256) names that device; the device item (`USER#<id>` / `PUSHDEV#<device id>`)
//! holds the token itself, since sending a push needs it. Registering a token the user already
//! holds returns that device; registering one another user holds moves it: one atomic write
//! puts the marker (on the condition that it still names the device that was read), deletes the
//! old owner's device and puts the new one, so two users racing for one token leave exactly one
//! owner. The token is never part of a key, an error, a log line or the activity log; lists show
//! only its last characters.
//!
//! A user holds at most [`MAX_DEVICES`]: a new token beyond them replaces the device registered
//! least recently (platforms rotate tokens; stale ones would otherwise pile up), which also
//! keeps an account's deletion, which removes every device and marker, in one write.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::clock::rfc3339;
use crate::crypto::hash_secret;
use crate::domain::input::FieldErrors;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Cond, Key, Query, SortKey, StoreError, Update, WriteOp};

/// Devices one user holds at most.
pub const MAX_DEVICES: usize = 20;
/// Categories one device names at most.
pub const MAX_CATEGORIES: usize = 16;
const MAX_CATEGORY_LEN: usize = 32;
const MAX_TOKEN_LEN: usize = 4096;
/// Characters of the token a list shows.
const HINT_LEN: usize = 4;
/// Attempts at a registration whose reads went stale before its write (a racing registration
/// of the same token, or of another one at the device limit).
const TRIES: usize = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Platform {
    Ios,
    Android,
    Web,
}

impl Platform {
    pub fn parse(field: &'static str, raw: &str) -> ApiResult<Self> {
        match raw {
            "ios" => Ok(Platform::Ios),
            "android" => Ok(Platform::Android),
            "web" => Ok(Platform::Web),
            _ => Err(ApiError::field(field, "must be ios, android or web")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Ios => "ios",
            Platform::Android => "android",
            Platform::Web => "web",
        }
    }
}

/// A push token as a push service issued it: 1 to 4096 printable ASCII characters without
/// whitespace. Its `Debug` shows none of it, so it cannot reach a log by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct PushToken(String);

impl PushToken {
    pub fn parse(field: &'static str, raw: &str) -> ApiResult<Self> {
        let printable = raw.bytes().all(|b| b.is_ascii_graphic());
        if raw.is_empty() || raw.len() > MAX_TOKEN_LEN || !printable {
            // The reason never repeats the value.
            return Err(ApiError::field(
                field,
                "must be 1 to 4096 printable ASCII characters without whitespace",
            ));
        }
        Ok(PushToken(raw.to_string()))
    }

    fn hash(&self) -> String {
        hash_secret(&self.0)
    }
}

impl fmt::Debug for PushToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PushToken(..)")
    }
}

/// A device that receives the user's push notifications.
#[derive(Clone, Serialize, Deserialize)]
pub struct PushDevice {
    /// A UUID (v7: devices list in the order they were added).
    pub id: String,
    pub user_id: String,
    pub platform: Platform,
    /// The token to send to; only the sender reads it.
    pub token: String,
    /// SHA-256 of the token: the key of its marker.
    pub token_hash: String,
    /// Off: the device gets no notification at all.
    pub enabled: bool,
    /// The categories of notification the device wants; empty means every category.
    #[serde(default)]
    pub categories: Vec<String>,
    pub created_at: String,
    /// When the token was last registered (apps register at every start).
    pub last_registered_at: String,
}

impl PushDevice {
    /// The last characters of the token, for the owner to tell devices apart.
    pub fn token_hint(&self) -> String {
        let start = self.token.len().saturating_sub(HINT_LEN);
        self.token.get(start..).unwrap_or_default().to_string()
    }

    fn key(&self) -> Key {
        keys::push_device(&self.user_id, &self.id)
    }
}

impl fmt::Debug for PushDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PushDevice")
            .field("id", &self.id)
            .field("user_id", &self.user_id)
            .field("platform", &self.platform)
            .field("enabled", &self.enabled)
            .field("categories", &self.categories)
            .finish_non_exhaustive()
    }
}

/// What a token's marker points at.
#[derive(Serialize, Deserialize)]
struct TokenMarker {
    user_id: String,
    device_id: String,
}

/// The condition that a token's marker still names the device it named when read (or is still
/// absent).
fn marker_is(marker: Option<&TokenMarker>) -> Cond {
    match marker {
        None => Cond::NotExists,
        Some(m) => {
            Cond::eq("user_id", m.user_id.clone()).and(Cond::eq("device_id", m.device_id.clone()))
        }
    }
}

/// Deletes a token's marker unless it has moved on to another device (or is gone already).
fn delete_marker(device: &PushDevice) -> WriteOp {
    WriteOp::Delete {
        key: keys::push_token(&device.token_hash),
        cond: Cond::NotExists.or(Cond::eq("user_id", device.user_id.clone())
            .and(Cond::eq("device_id", device.id.clone()))),
    }
}

fn device_not_found() -> ApiError {
    ApiError::not_found("device_not_found", "You have no device with that id")
}

fn busy() -> ApiError {
    ApiError::conflict("device_busy", "The device changed meanwhile; try again")
}

/// Categories of notification: at most [`MAX_CATEGORIES`], each 1 to 32 of `a-z 0-9 _ . -`;
/// repeats count once.
pub fn parse_categories(field: &'static str, raw: &[String]) -> ApiResult<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(raw.len());
    for c in raw {
        let well_formed = !c.is_empty()
            && c.len() <= MAX_CATEGORY_LEN
            && c.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
            });
        if !well_formed {
            return Err(ApiError::field(
                field,
                "each must be 1 to 32 of the characters a-z, 0-9, _, . and -",
            ));
        }
        if !out.contains(c) {
            out.push(c.clone());
        }
    }
    if out.len() > MAX_CATEGORIES {
        return Err(ApiError::field(field, "at most 16 categories"));
    }
    Ok(out)
}

/// A new registration, validated.
pub struct Registration {
    pub token: PushToken,
    pub platform: Platform,
}

impl Registration {
    /// Validates both fields, reporting every bad one.
    pub fn parse(token: &str, platform: &str) -> ApiResult<Self> {
        let mut errors = FieldErrors::default();
        let token = errors.take(PushToken::parse("token", token));
        let platform = errors.take(Platform::parse("platform", platform));
        errors.finish()?;
        match (token, platform) {
            (Some(token), Some(platform)) => Ok(Registration { token, platform }),
            _ => Err(ApiError::internal("validated registration without a value")),
        }
    }
}

/// What an update of a device names; the rest stays.
#[derive(Default)]
pub struct DeviceChanges {
    pub enabled: Option<bool>,
    pub categories: Option<Vec<String>>,
}

impl DeviceChanges {
    pub fn parse(enabled: Option<bool>, categories: Option<Vec<String>>) -> ApiResult<Self> {
        Ok(DeviceChanges {
            enabled,
            categories: categories
                .map(|c| parse_categories("categories", &c))
                .transpose()?,
        })
    }
}

/// The user's devices, oldest first.
pub async fn list(state: &AppState, user_id: &str) -> ApiResult<Vec<PushDevice>> {
    let query = Query::partition(keys::user_pk(user_id))
        .sk(SortKey::BeginsWith(keys::PUSH_DEVICE_PREFIX.into()))
        .limit(100);
    Ok(store::query_all(state.table.as_ref(), query).await?)
}

async fn read_marker(state: &AppState, token_hash: &str) -> ApiResult<Option<TokenMarker>> {
    Ok(state
        .table
        .get(&keys::push_token(token_hash))
        .await?
        .map(store::from_item)
        .transpose()?)
}

/// Registers a push token for the user. `true` with a new device; `false` with the device of
/// the user's that holds the token already (its platform and `last_registered_at` brought up to
/// date). A token another user holds moves here, and leaves their devices.
pub async fn register(
    state: &AppState,
    user_id: &str,
    reg: Registration,
) -> ApiResult<(PushDevice, bool)> {
    let token_hash = reg.token.hash();
    let marker_key = keys::push_token(&token_hash);
    let user_key = keys::user(user_id);
    for _ in 0..TRIES {
        let (marker, mine) = tokio::join!(read_marker(state, &token_hash), list(state, user_id));
        let (marker, mine) = (marker?, mine?);
        let now = rfc3339(state.now());
        let mut held = marker
            .as_ref()
            .filter(|m| m.user_id == user_id)
            .and_then(|m| mine.iter().find(|d| d.id == m.device_id))
            .cloned();
        if let Some(m) = marker
            .as_ref()
            .filter(|m| m.user_id == user_id && held.is_none())
        {
            // The marker names a device of this user the list (read at the same time) did not
            // show yet: a parallel registration of the same token just made it. That device
            // is the answer, not a second one.
            if let Some(item) = state
                .table
                .get(&keys::push_device(user_id, &m.device_id))
                .await?
            {
                held = Some(store::from_item(item)?);
            }
        }
        let (ops, result) = if let Some(device) = held {
            let mut device = device;
            device.platform = reg.platform;
            device.last_registered_at = now;
            let ops = vec![
                Update::new(device.key())
                    .set("platform", device.platform.as_str())
                    .set("last_registered_at", device.last_registered_at.clone())
                    .when(Cond::eq("token_hash", token_hash.clone()))
                    .into_op(),
                WriteOp::check(marker_key.clone(), marker_is(marker.as_ref())),
                WriteOp::check(user_key.clone(), Cond::Exists),
            ];
            (ops, (device, false))
        } else {
            let device = PushDevice {
                id: uuid::Uuid::now_v7().to_string(),
                user_id: user_id.to_string(),
                platform: reg.platform,
                token: reg.token.0.clone(),
                token_hash: token_hash.clone(),
                enabled: true,
                categories: Vec::new(),
                created_at: now.clone(),
                last_registered_at: now,
            };
            let marker_item = store::to_item(
                &marker_key,
                &TokenMarker {
                    user_id: user_id.to_string(),
                    device_id: device.id.clone(),
                },
            )?;
            let mut ops = vec![
                WriteOp::Put {
                    item: marker_item,
                    cond: marker_is(marker.as_ref()),
                },
                WriteOp::put_new(store::to_item(&device.key(), &device)?),
                WriteOp::check(user_key.clone(), Cond::Exists),
            ];
            if let Some(m) = &marker {
                // The device that held the token goes, wherever it is; never one holding
                // another token.
                ops.push(WriteOp::Delete {
                    key: keys::push_device(&m.user_id, &m.device_id),
                    cond: Cond::NotExists.or(Cond::eq("token_hash", token_hash.clone())),
                });
            }
            if mine.len() >= MAX_DEVICES {
                let stalest = mine
                    .iter()
                    .min_by(|a, b| {
                        (&a.last_registered_at, &a.id).cmp(&(&b.last_registered_at, &b.id))
                    })
                    .ok_or_else(|| ApiError::internal("device limit with no device"))?;
                ops.push(WriteOp::delete_existing(stalest.key()));
                ops.push(delete_marker(stalest));
            }
            (ops, (device, true))
        };
        match state.table.write(ops).await {
            Ok(()) => return Ok(result),
            Err(e) if e.failed_key() == Some(&user_key) => return Err(ApiError::invalid_token()),
            // Something read above changed before the write: read again.
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(busy())
}

/// Changes what is named of one of the user's devices and returns it as it is now; 404
/// `device_not_found` when the user has no such device.
pub async fn update(
    state: &AppState,
    user_id: &str,
    device_id: &str,
    changes: DeviceChanges,
) -> ApiResult<PushDevice> {
    let key = device_key(user_id, device_id)?;
    let mut update = Update::new(key.clone()).when(Cond::Exists);
    if let Some(enabled) = changes.enabled {
        update = update.set("enabled", enabled);
    }
    if let Some(categories) = changes.categories {
        update = update.set("categories", categories);
    }
    if update.set.is_empty() {
        let item = state.table.get(&key).await?.ok_or_else(device_not_found)?;
        return Ok(store::from_item(item)?);
    }
    match state.table.update_returning(update).await {
        Ok(item) => Ok(store::from_item(item)?),
        Err(e) if e.failed_key() == Some(&key) => Err(device_not_found()),
        Err(e) => Err(e.into()),
    }
}

/// Removes one of the user's devices with its token's marker; 404 `device_not_found` when the
/// user has no such device.
pub async fn remove(state: &AppState, user_id: &str, device_id: &str) -> ApiResult<()> {
    let key = device_key(user_id, device_id)?;
    let item = state.table.get(&key).await?.ok_or_else(device_not_found)?;
    let device: PushDevice = store::from_item(item)?;
    let ops = vec![
        WriteOp::Delete {
            key: key.clone(),
            cond: Cond::eq("token_hash", device.token_hash.clone()),
        },
        delete_marker(&device),
    ];
    match state.table.write(ops).await {
        Ok(()) => Ok(()),
        // Removed or moved to another user meanwhile: it is not the user's any more.
        Err(e) if e.is_condition_failed() => Err(device_not_found()),
        Err(e) => Err(e.into()),
    }
}

/// The key of the user's device with this id; a malformed id names no device.
fn device_key(user_id: &str, device_id: &str) -> ApiResult<Key> {
    let id = uuid::Uuid::parse_str(device_id).map_err(|_| device_not_found())?;
    Ok(keys::push_device(user_id, &id.hyphenated().to_string()))
}

/// The writes that remove every device of a user being deleted and their tokens' markers, for
/// the deletion's atomic write.
pub async fn account_deletes(state: &AppState, user_id: &str) -> ApiResult<Vec<WriteOp>> {
    Ok(list(state, user_id)
        .await?
        .iter()
        .flat_map(|d| [WriteOp::delete(d.key()), delete_marker(d)])
        .collect())
}

/// The marker of a device left in a deleted account's partition (one registered while the
/// account was being deleted), for the clean-up after the deletion.
pub fn leftover_marker_delete(item: &store::Item) -> Option<WriteOp> {
    let device: PushDevice = store::from_item(item.clone()).ok()?;
    Some(delete_marker(&device))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_printable_ascii_without_whitespace() {
        assert!(PushToken::parse("t", "fcm:APA91b-x_y.z/1+2=").is_ok());
        assert!(PushToken::parse("t", &"a".repeat(4096)).is_ok());
        for bad in [
            "",
            "has space",
            "tab\there",
            "new\nline",
            "é",
            &"a".repeat(4097),
        ] {
            assert!(PushToken::parse("t", bad).is_err(), "{bad:?}");
        }
        let token = PushToken::parse("t", "secret-token").unwrap();
        assert!(!format!("{token:?}").contains("secret"));
    }

    #[test]
    fn categories_are_checked_and_repeats_count_once() {
        let given = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_categories("c", &given(&["odds", "news.eu", "odds", "a_b-c"])).unwrap(),
            given(&["odds", "news.eu", "a_b-c"])
        );
        for bad in [
            &[""][..],
            &["Upper"],
            &["sp ace"],
            &["x".repeat(33).as_str()],
        ] {
            assert!(parse_categories("c", &given(bad)).is_err(), "{bad:?}");
        }
        let many: Vec<String> = (0..17).map(|i| format!("c{i}")).collect();
        assert!(parse_categories("c", &many).is_err());
        assert!(parse_categories("c", &many[..16]).is_ok());
    }

    #[test]
    fn a_device_shows_only_the_end_of_its_token() {
        let device = PushDevice {
            id: "d".into(),
            user_id: "u".into(),
            platform: Platform::Web,
            token: "https://push.example/abcdWXYZ".into(),
            token_hash: "h".into(),
            enabled: true,
            categories: Vec::new(),
            created_at: String::new(),
            last_registered_at: String::new(),
        };
        assert_eq!(device.token_hint(), "WXYZ");
        assert!(!format!("{device:?}").contains("push.example"));
    }
}
