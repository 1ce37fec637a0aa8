//! Trusted devices ("remember this device"). After a right TOTP or recovery code, a sign-in may
//! ask to remember its device: it is handed a device token, `<device id>.<secret>`, that stands
//! in for the code at the sign-ins that follow — never for the password — until it expires
//! (`TRUSTED_DEVICE_DAYS`, 30 by default; the expiry does not move with use).
//!
//! The secret is stored only as its SHA-256, in the user's partition under the device id, so a
//! sign-in reads it with one `get` once the password has named the user: the token of another
//! account's device is simply not there. A device carries the user's `session_generation` of
//! the time it was trusted and counts only while that is still the user's, so a password change
//! or reset, TOTP turned off (or on) and a confirmed email change end every trusted device at
//! once, as they end login sessions; the items of ended devices expire by `ttl`. The owner lists
//! the live ones and revokes any of them (`/api/auth/trusted-devices`).
//!
//! A presented token whose secret does not match the device it names, or that is not a device
//! token at all, counts as a wrong code against the account's `failed_code` limit, reserved
//! before anything is read, as [`super::mfa::check_code`] does.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::users::User;
use crate::clock::rfc3339;
use crate::crypto::{constant_time_eq, hash_secret, random_token};
use crate::domain::activity::{self, ActivityKind};
use crate::domain::RequestMeta;
use crate::error::ApiResult;
use crate::keys;
use crate::ratelimit::Counter;
use crate::state::AppState;
use crate::store::{self, Cond, Query, SortKey, Update, WriteOp, TTL};

/// A device the user trusts to stand in for the second factor.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TrustedDevice {
    /// A UUID (v7: ids sort by creation); the first part of the device token.
    pub id: String,
    pub user_id: String,
    /// SHA-256 of the token's secret.
    pub secret_hash: String,
    /// The user's `session_generation` when the device was trusted: it counts only while the
    /// user is still on it.
    pub generation: i64,
    /// What the device is, read from its user agent ("Firefox on Windows").
    pub label: String,
    pub created_at: String,
    /// When the device last stood in for the code (RFC 3339).
    pub last_used_at: String,
    pub expires_at: String,
    /// Where the device was trusted from, when known.
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub user_agent: Option<String>,
}

impl TrustedDevice {
    /// Whether it still stands in for `user`'s second factor at `now`.
    fn is_live(&self, user: &User, now: time::OffsetDateTime) -> bool {
        self.user_id == user.id
            && self.generation == user.session_generation
            && time::OffsetDateTime::parse(
                &self.expires_at,
                &time::format_description::well_known::Rfc3339,
            )
            .is_ok_and(|expires| expires > now)
    }
}

/// A device just trusted: the token to hand to it (shown this once) and when it expires.
#[derive(Clone, Debug)]
pub struct DeviceGrant {
    pub id: String,
    /// `<device id>.<secret>`.
    pub token: String,
    /// RFC 3339.
    pub expires_at: String,
}

/// What a presented device token turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Checked {
    /// A live device of the user's: it stands in for the code.
    Trusted,
    /// No live device of the user's (expired, ended, revoked, another account's): the code is
    /// needed, and nothing was counted.
    NotTrusted,
    /// A wrong secret for a device of the user's, or not a device token at all: the code is
    /// needed, and it counted as a wrong code.
    Wrong,
}

/// The device id and secret of a token, when it has the form of one.
fn split_token(token: &str) -> Option<(String, &str)> {
    let (id, secret) = token.trim().split_once('.')?;
    let id = uuid::Uuid::parse_str(id).ok()?.hyphenated().to_string();
    let well_formed = !secret.is_empty()
        && secret.len() <= 64
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then_some((id, secret))
}

/// Checks a device token presented at `user`'s sign-in, and notes the use of a trusted one.
/// 429 when the account's code counter is full, before anything is read.
pub(super) async fn check(state: &AppState, user: &User, token: &str) -> ApiResult<Checked> {
    let limit = state.config.rate_limits.failed_code;
    let reservation = state
        .limiter
        .reserve(&[Counter::new("code-fail", &user.id, limit)])
        .await?;
    let Some((id, secret)) = split_token(token) else {
        return Ok(Checked::Wrong);
    };
    let key = keys::trusted_device(&user.id, &id);
    let device: Option<TrustedDevice> = match state.table.get(&key).await {
        Ok(item) => item.map(store::from_item).transpose()?,
        Err(e) => {
            state.limiter.release(reservation).await;
            return Err(e.into());
        }
    };
    let Some(device) = device else {
        state.limiter.release(reservation).await;
        return Ok(Checked::NotTrusted);
    };
    let presented = hash_secret(secret);
    if !constant_time_eq(presented.as_bytes(), device.secret_hash.as_bytes()) {
        return Ok(Checked::Wrong);
    }
    let now = state.now();
    if !device.is_live(user, now) {
        state.limiter.release(reservation).await;
        return Ok(Checked::NotTrusted);
    }
    let used = Update::new(key)
        .set("last_used_at", rfc3339(now))
        .when(Cond::Exists);
    let (_, noted) = tokio::join!(
        state.limiter.release(reservation),
        state.table.write(vec![used.into_op()]),
    );
    if let Err(e) = noted {
        tracing::warn!(error = %e, "noting the use of a trusted device");
    }
    Ok(Checked::Trusted)
}

/// Trusts the device of this request for `user`, who just gave a right code: the device and
/// its activity entry in one write.
pub(super) async fn trust(
    state: &AppState,
    user: &User,
    meta: &RequestMeta,
) -> ApiResult<DeviceGrant> {
    let now = state.now();
    let expires = now + state.config.trusted_device_ttl;
    let id = uuid::Uuid::now_v7().to_string();
    let secret = random_token();
    let device = TrustedDevice {
        id: id.clone(),
        user_id: user.id.clone(),
        secret_hash: hash_secret(&secret),
        generation: user.session_generation,
        label: label(meta.user_agent.as_deref()),
        created_at: rfc3339(now),
        last_used_at: rfc3339(now),
        expires_at: rfc3339(expires),
        ip_address: meta.ip.map(|ip| ip.to_string()),
        user_agent: meta.user_agent.clone(),
    };
    let mut item = store::to_item(&keys::trusted_device(&user.id, &id), &device)?;
    item.insert(TTL.into(), expires.unix_timestamp().into());
    let logged = activity::record(
        state,
        &user.id,
        ActivityKind::TrustedDeviceAdded,
        Some(meta),
        json!({ "device_id": id, "label": device.label }),
    )?;
    state
        .table
        .write(vec![WriteOp::put_new(item), logged])
        .await?;
    Ok(DeviceGrant {
        token: format!("{id}.{secret}"),
        id,
        expires_at: device.expires_at,
    })
}

/// The user's trusted devices that still count, newest first: ended or expired ones are
/// refused even before their items expire, so they are not listed either.
pub async fn list_live(state: &AppState, user: &User) -> ApiResult<Vec<TrustedDevice>> {
    let now = state.now();
    let query = Query::partition(keys::user_pk(&user.id))
        .sk(SortKey::BeginsWith(keys::TRUSTED_DEVICE_PREFIX.into()))
        .limit(100);
    let mut out: Vec<TrustedDevice> = store::query_all(state.table.as_ref(), query).await?;
    out.retain(|device| device.is_live(user, now));
    out.reverse();
    Ok(out)
}

/// Stops trusting one of the user's live devices at their request, and notes it in their
/// activity. `false` when they have no such live device.
pub async fn revoke_by_owner(
    state: &AppState,
    user: &User,
    device_id: &str,
    meta: &RequestMeta,
) -> ApiResult<bool> {
    let key = keys::trusted_device(&user.id, device_id);
    let ops = vec![
        WriteOp::Delete {
            key: key.clone(),
            cond: Cond::Exists.and(Cond::eq("generation", user.session_generation)),
        },
        activity::record(
            state,
            &user.id,
            ActivityKind::TrustedDeviceRevoked,
            Some(meta),
            json!({ "device_id": device_id }),
        )?,
    ];
    match state.table.write(ops).await {
        Ok(()) => Ok(true),
        Err(e) if e.failed_key() == Some(&key) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A short name for a device, from its user agent: "Firefox on Windows", "Safari on iPhone";
/// the first product of an agent not known here ("curl"); "Unknown device" without one.
pub fn label(user_agent: Option<&str>) -> String {
    const BROWSERS: [(&str, &str); 9] = [
        ("Edg", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("FxiOS/", "Firefox"),
        ("Firefox/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("Chrome/", "Chrome"),
        ("Chromium/", "Chromium"),
        ("Safari/", "Safari"),
    ];
    const SYSTEMS: [(&str, &str); 7] = [
        ("iPhone", "iPhone"),
        ("iPad", "iPad"),
        ("Android", "Android"),
        ("Windows", "Windows"),
        ("CrOS", "ChromeOS"),
        ("Mac OS X", "macOS"),
        ("Linux", "Linux"),
    ];
    let agent = user_agent.map(str::trim).unwrap_or_default();
    let find = |names: &[(&str, &'static str)]| {
        names
            .iter()
            .find(|(needle, _)| agent.contains(needle))
            .map(|(_, name)| *name)
    };
    match (find(&BROWSERS), find(&SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_string(),
        (None, Some(system)) => format!("A browser on {system}"),
        (None, None) => {
            let product: String = agent
                .split(['/', ' '])
                .next()
                .unwrap_or_default()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .take(40)
                .collect();
            if product.is_empty() {
                "Unknown device".into()
            } else {
                product
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_are_named_after_their_user_agent() {
        let cases = [
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Windows"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome on macOS"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Windows"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "Safari on iPhone"),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome on Android"),
            ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "Firefox on Linux"),
            ("curl/8.5.0", "curl"),
            ("", "Unknown device"),
            ("<>/1", "Unknown device"),
        ];
        for (agent, expected) in cases {
            assert_eq!(label(Some(agent)), expected, "{agent}");
        }
        assert_eq!(label(None), "Unknown device");
    }

    #[test]
    fn only_tokens_of_the_right_form_are_split() {
        let id = "0193b2a4-5c1e-7d2f-8a3b-4c5d6e7f8a9b";
        let token = format!("{id}.abc-_DEF123");
        let (parsed, secret) = split_token(&token).unwrap();
        assert_eq!((parsed.as_str(), secret), (id, "abc-_DEF123"));
        // An id in another spelling names the same device.
        let upper = format!("{}.s", id.to_uppercase());
        assert_eq!(split_token(&upper).unwrap().0, id);
        for bad in [
            "",
            "no-dot",
            &format!("{id}."),
            &format!("{id}.has space"),
            &format!("{id}.a.b"),
            "not-a-uuid.secret",
            &format!("{id}.{}", "x".repeat(65)),
        ] {
            assert!(split_token(bad).is_none(), "{bad}");
        }
    }
}
