//! The one place that builds table keys (docs/architecture.md, "Table design"). Secrets
//! appear here only as hashes.

use crate::store::{Item, Key, GSI1PK, GSI1SK};

/// A place on the GSI1 index: its partition and sort key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexKey {
    pub pk: String,
    pub sk: String,
}

impl IndexKey {
    fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        IndexKey {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    /// Puts the item at this place of GSI1.
    pub fn put_on(self, item: &mut Item) {
        item.insert(GSI1PK.into(), self.pk.into());
        item.insert(GSI1SK.into(), self.sk.into());
    }
}

pub const PROFILE: &str = "PROFILE";

pub fn user_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}

pub fn user(user_id: &str) -> Key {
    Key::new(user_pk(user_id), PROFILE)
}

/// An id no user has (user ids are UUIDs): read where an unknown account must cost the same
/// reads as a known one.
pub const NO_USER: &str = "-";

/// Uniqueness marker: one per lower-cased email.
pub fn email_marker(email_lower: &str) -> Key {
    Key::new(format!("EMAIL#{email_lower}"), "EMAIL")
}

/// Uniqueness marker: one per lower-cased username.
pub fn username_marker(username_lower: &str) -> Key {
    Key::new(format!("USERNAME#{username_lower}"), "USERNAME")
}

/// Uniqueness marker and lookup: referral code → user.
pub fn referral_code(code: &str) -> Key {
    Key::new(format!("REFCODE#{code}"), "REFCODE")
}

pub const LOGIN_PREFIX: &str = "LOGIN#";

pub fn login_session(user_id: &str, session_id: &str) -> Key {
    Key::new(user_pk(user_id), format!("{LOGIN_PREFIX}{session_id}"))
}

pub fn refresh_token(token_hash: &str) -> Key {
    Key::new(format!("REFRESH#{token_hash}"), "REFRESH")
}

/// A browser's sign-in on the hosted pages, by the hash of its cookie.
pub fn browser_session(cookie_hash: &str) -> Key {
    Key::new(format!("BROWSER#{cookie_hash}"), "BROWSER")
}

/// A sign-in on the hosted pages whose password was right, waiting for its TOTP code.
pub fn pending_sign_in(token_hash: &str) -> Key {
    Key::new(format!("PENDING#{token_hash}"), "PENDING")
}

/// Email verification, password reset and email change tokens.
pub fn email_token(token_hash: &str) -> Key {
    Key::new(format!("EMAILTOKEN#{token_hash}"), "EMAILTOKEN")
}

pub const EMAIL_UNDO_PREFIX: &str = "EMAILUNDO#";

/// An undo link of a confirmed email change, in the user's partition by the time of the change
/// (a UUIDv7): using one ends the links of every change after it.
pub fn email_undo(user_id: &str, change_id: &str) -> Key {
    Key::new(user_pk(user_id), format!("{EMAIL_UNDO_PREFIX}{change_id}"))
}

// ---- sign-in with Google and GitHub ----

/// A sign-in sent to a provider, by the hash of its `state`: the PKCE verifier and nonce it
/// was sent with.
pub fn provider_sign_in(state_hash: &str) -> Key {
    Key::new(format!("SOCIALSTATE#{state_hash}"), "SOCIALSTATE")
}

/// A provider identity with no account yet, by the hash of its sign-up token.
pub fn provider_sign_up(token_hash: &str) -> Key {
    Key::new(format!("SOCIALSIGNUP#{token_hash}"), "SOCIALSIGNUP")
}

/// Uniqueness marker and lookup: a provider's person → the account they sign in to.
pub fn provider_identity(provider: &str, subject: &str) -> Key {
    Key::new(format!("IDENTITY#{provider}#{subject}"), "IDENTITY")
}

pub const CONNECTION_PREFIX: &str = "CONNECTION#";

/// A provider linked to an account (at most one identity per provider).
pub fn connection(user_id: &str, provider: &str) -> Key {
    Key::new(user_pk(user_id), format!("{CONNECTION_PREFIX}{provider}"))
}

pub const RECOVERY_PREFIX: &str = "RECOVERY#";

pub fn recovery_code(user_id: &str, code_hash: &str) -> Key {
    Key::new(user_pk(user_id), format!("{RECOVERY_PREFIX}{code_hash}"))
}

pub const TRUSTED_DEVICE_PREFIX: &str = "TDEV#";

/// A device the user trusts to stand in for the second factor ("remember this device").
pub fn trusted_device(user_id: &str, device_id: &str) -> Key {
    Key::new(
        user_pk(user_id),
        format!("{TRUSTED_DEVICE_PREFIX}{device_id}"),
    )
}

pub const PASSKEY_PREFIX: &str = "PASSKEY#";

/// One of the user's passkeys (WebAuthn credentials), by its id (a UUIDv7).
pub fn passkey(user_id: &str, passkey_id: &str) -> Key {
    Key::new(user_pk(user_id), format!("{PASSKEY_PREFIX}{passkey_id}"))
}

/// Uniqueness marker and lookup for discoverable sign-in: a credential id (by its SHA-256)
/// → the user and passkey it belongs to.
pub fn passkey_credential(credential_hash: &str) -> Key {
    Key::new(format!("PASSKEYCRED#{credential_hash}"), "PASSKEYCRED")
}

/// A registration or sign-in ceremony waiting for the authenticator's answer, by the hash of
/// its challenge id: single use, with `ttl`.
pub fn passkey_challenge(challenge_hash: &str) -> Key {
    Key::new(
        format!("PASSKEYCHALLENGE#{challenge_hash}"),
        "PASSKEYCHALLENGE",
    )
}

pub const PUSH_DEVICE_PREFIX: &str = "PUSHDEV#";

/// A device that receives the user's push notifications.
pub fn push_device(user_id: &str, device_id: &str) -> Key {
    Key::new(user_pk(user_id), format!("{PUSH_DEVICE_PREFIX}{device_id}"))
}

/// Uniqueness marker and lookup: a push token (by its hash) → the one device that holds it.
pub fn push_token(token_hash: &str) -> Key {
    Key::new(format!("PUSHTOKEN#{token_hash}"), "PUSHTOKEN")
}

pub const IMAGE_UPLOAD_PREFIX: &str = "IMGUPLOAD#";

/// A profile image upload handed out and not yet completed (single use, with a `ttl`).
pub fn image_upload(user_id: &str, upload_id: &str) -> Key {
    Key::new(
        user_pk(user_id),
        format!("{IMAGE_UPLOAD_PREFIX}{upload_id}"),
    )
}

pub const LEDGER_PREFIX: &str = "LEDGER#";

/// `at` is an RFC 3339 timestamp so entries sort by time.
pub fn user_ledger(user_id: &str, at: &str, entry_id: &str) -> Key {
    Key::new(user_pk(user_id), format!("{LEDGER_PREFIX}{at}#{entry_id}"))
}

// ---- OAuth apps, grants and tokens ----

pub fn app(app_id: &str) -> Key {
    Key::new(format!("APP#{app_id}"), "APP")
}

/// GSI1 partition of every app (the admin list): rare writes, one partition.
pub const APPS_INDEX: &str = "APPS";

/// The sort-key prefix of approved (`A#`) or not approved (`P#`) apps on [`APPS_INDEX`].
pub fn apps_prefix(approved: bool) -> &'static str {
    if approved {
        "A#"
    } else {
        "P#"
    }
}

/// An app on [`APPS_INDEX`], sorted by approval, then creation.
pub fn app_index(approved: bool, inserted_at: &str, app_id: &str) -> IndexKey {
    IndexKey::new(
        APPS_INDEX,
        format!("{}{inserted_at}#{app_id}", apps_prefix(approved)),
    )
}

/// Lookup: client_id → app.
pub fn client(client_id: &str) -> Key {
    Key::new(format!("CLIENT#{client_id}"), "CLIENT")
}

pub const OWNED_APP_PREFIX: &str = "OWNEDAPP#";

/// An app in its owner's partition (the owner's app list).
pub fn owned_app(owner_id: &str, inserted_at: &str, app_id: &str) -> Key {
    Key::new(
        user_pk(owner_id),
        format!("{OWNED_APP_PREFIX}{inserted_at}#{app_id}"),
    )
}

pub const SCOPE_REQUEST_PREFIX: &str = "SCOPEREQ#";

/// A scope request, in its app's partition.
pub fn scope_request(app_id: &str, inserted_at: &str, request_id: &str) -> Key {
    Key::new(
        format!("APP#{app_id}"),
        format!("{SCOPE_REQUEST_PREFIX}{inserted_at}#{request_id}"),
    )
}

pub fn app_partition(app_id: &str) -> String {
    format!("APP#{app_id}")
}

/// Lookup: scope request id → its item.
pub fn scope_request_marker(request_id: &str) -> Key {
    Key::new(format!("SCOPEREQ#{request_id}"), "SCOPEREQ")
}

/// GSI1 partition of every scope request (the admin list).
pub const SCOPE_REQUESTS_INDEX: &str = "SCOPEREQS";

/// The sort-key prefix of the scope requests of one status on [`SCOPE_REQUESTS_INDEX`].
pub fn scope_requests_prefix(status: &str) -> String {
    format!("{status}#")
}

/// A scope request on [`SCOPE_REQUESTS_INDEX`], sorted by status, then creation.
pub fn scope_request_index(status: &str, inserted_at: &str, request_id: &str) -> IndexKey {
    IndexKey::new(
        SCOPE_REQUESTS_INDEX,
        format!(
            "{}{inserted_at}#{request_id}",
            scope_requests_prefix(status)
        ),
    )
}

pub const GRANT_PREFIX: &str = "GRANT#";

/// A user's grant to an app (a connected app).
pub fn grant(user_id: &str, app_id: &str) -> Key {
    Key::new(user_pk(user_id), format!("{GRANT_PREFIX}{app_id}"))
}

/// Sort-key prefix of the token families of one user's grant to one app.
pub fn family_prefix(app_id: &str) -> String {
    format!("FAMILY#{app_id}#")
}

/// A token family: the tokens issued from one authorization code and its refreshes.
pub fn family(user_id: &str, app_id: &str, family_id: &str) -> Key {
    Key::new(
        user_pk(user_id),
        format!("{}{family_id}", family_prefix(app_id)),
    )
}

pub fn authorization_code(code_hash: &str) -> Key {
    Key::new(format!("CODE#{code_hash}"), "CODE")
}

/// A pushed authorization request (RFC 9126), by the hash of its `request_uri`.
pub fn pushed_request(uri_hash: &str) -> Key {
    Key::new(format!("PAR#{uri_hash}"), "PAR")
}

pub fn access_token(token_hash: &str) -> Key {
    Key::new(format!("AT#{token_hash}"), "AT")
}

pub fn oauth_refresh_token(token_hash: &str) -> Key {
    Key::new(format!("OAUTHREFRESH#{token_hash}"), "OAUTHREFRESH")
}

pub const APP_BALANCE_PREFIX: &str = "BALANCE#";

/// One write shard of an app's earned balance.
pub fn app_balance_shard(app_id: &str, shard: u32) -> Key {
    Key::new(
        app_partition(app_id),
        format!("{APP_BALANCE_PREFIX}{shard:03}"),
    )
}

/// An entry of an app's ledger, in the partition of the balance shard it credited (so a busy
/// app's entries spread as its balance does).
pub fn app_ledger(app_id: &str, shard: u32, at: &str, entry_id: &str) -> Key {
    Key::new(
        format!("APPLEDGER#{app_id}#{shard:03}"),
        format!("{at}#{entry_id}"),
    )
}

/// An `Idempotency-Key` an app used for a user (hashed with the endpoint it was sent to).
pub fn idempotency(app_id: &str, user_id: &str, key_hash: &str) -> Key {
    Key::new(
        format!("IDEMPOTENCY#{app_id}#{user_id}"),
        key_hash.to_string(),
    )
}

// ---- accounts ----

/// A user's settings.
pub fn settings(user_id: &str) -> Key {
    Key::new(user_pk(user_id), "SETTINGS")
}

pub const ACTIVITY_PREFIX: &str = "ACTIVITY#";

/// An activity entry; `sort` is `<rfc3339>#<entry id>`.
pub fn activity(user_id: &str, sort: &str) -> Key {
    Key::new(user_pk(user_id), format!("{ACTIVITY_PREFIX}{sort}"))
}

/// GSI1 partition of one shard of everyone's activity (the admin list).
pub fn activity_shard(shard: u32) -> String {
    format!("ACTIVITY#{shard}")
}

/// An activity entry on its shard of GSI1; `sort` is `<rfc3339>#<entry id>`.
pub fn activity_index(shard: u32, sort: &str) -> IndexKey {
    IndexKey::new(activity_shard(shard), sort)
}

/// GSI1 partition of the usernames starting with one character (prefix search).
pub fn usernames_by_initial(initial: char) -> String {
    format!("USERNAMES#{initial}")
}

/// A username marker on GSI1: its initial's partition, sorted by the lower-case name.
pub fn username_index(username_lower: &str) -> IndexKey {
    let initial = username_lower.chars().next().unwrap_or('_');
    IndexKey::new(usernames_by_initial(initial), username_lower)
}

// ---- ads ----

pub fn campaign(id: &str) -> Key {
    Key::new(format!("CAMPAIGN#{id}"), "CAMPAIGN")
}

/// GSI1 partition of the campaigns of one surface (sorted by status, then creation).
pub fn campaigns_by_surface(surface: &str) -> String {
    format!("CAMPAIGNS#{surface}")
}

/// The sort-key prefix of the campaigns of one status on a surface's partition.
pub fn campaigns_prefix(status: &str) -> String {
    format!("{status}#")
}

/// A campaign on its surface's partition of GSI1.
pub fn campaign_index(surface: &str, status: &str, created_at: &str, id: &str) -> IndexKey {
    IndexKey::new(
        campaigns_by_surface(surface),
        format!("{}{created_at}#{id}", campaigns_prefix(status)),
    )
}

pub const BUDGET_PREFIX: &str = "BUDGET#";
pub const STATS_PREFIX: &str = "STATS#";

/// One write shard of a campaign's remaining budget.
pub fn campaign_budget_shard(id: &str, shard: u32) -> Key {
    Key::new(
        format!("CAMPAIGN#{id}"),
        format!("{BUDGET_PREFIX}{shard:03}"),
    )
}

/// One write shard of a campaign's counts.
pub fn campaign_stats_shard(id: &str, shard: u32) -> Key {
    Key::new(
        format!("CAMPAIGN#{id}"),
        format!("{STATS_PREFIX}{shard:03}"),
    )
}

/// A user saw a campaign (expires after the click window).
pub fn ad_seen(user_id: &str, campaign_id: &str) -> Key {
    Key::new(user_pk(user_id), format!("ADSEEN#{campaign_id}"))
}

/// A user was paid for an event type of a campaign (expires after the paid-event window).
pub fn ad_paid(user_id: &str, campaign_id: &str, event_type: &str) -> Key {
    Key::new(
        user_pk(user_id),
        format!("ADPAID#{campaign_id}#{event_type}"),
    )
}

/// An ad event, in its user's partition.
pub fn ad_event(user_id: &str, at: &str, event_id: &str) -> Key {
    Key::new(user_pk(user_id), format!("ADEVENT#{at}#{event_id}"))
}

// ---- app sessions ----

pub const APP_SESSION_PREFIX: &str = "APPSESSION#";

/// The user's one live session with an app.
pub fn app_session(user_id: &str, app_id: &str) -> Key {
    Key::new(user_pk(user_id), format!("{APP_SESSION_PREFIX}{app_id}"))
}

/// What a user earned from app sessions, every app together, on one UTC day (`YYYY-MM-DD`).
pub fn daily_earnings(user_id: &str, day: &str) -> Key {
    Key::new(user_pk(user_id), format!("EARNED#{day}"))
}

pub fn session_token(token_hash: &str) -> Key {
    Key::new(format!("SESSIONTOKEN#{token_hash}"), "SESSIONTOKEN")
}

pub fn counter(name: &str) -> Key {
    Key::new(format!("COUNTER#{name}"), "COUNTER")
}

pub fn rate_window(bucket: &str, subject: &str, window_start: i64) -> Key {
    Key::new(
        format!("RATE#{bucket}#{subject}"),
        format!("W#{window_start}"),
    )
}

// ---- billing ----

/// A plan, by its id (chosen by the admin who creates it).
pub fn plan(plan_id: &str) -> Key {
    Key::new(format!("PLAN#{plan_id}"), "PLAN")
}

/// GSI1 partition of every plan (a few dozen at most), by id.
pub const PLANS_INDEX: &str = "PLANS";

pub fn plan_index(plan_id: &str) -> IndexKey {
    IndexKey::new(PLANS_INDEX, plan_id)
}

pub const SUBSCRIPTION_PREFIX: &str = "SUB#";

/// One subscription of a user, live or ended.
pub fn subscription(user_id: &str, subscription_id: &str) -> Key {
    Key::new(
        user_pk(user_id),
        format!("{SUBSCRIPTION_PREFIX}{subscription_id}"),
    )
}

/// The user's one live (not canceled) subscription: names it, and makes a second one fail.
pub fn live_subscription(user_id: &str) -> Key {
    Key::new(user_pk(user_id), "SUBSCRIPTION")
}

/// GSI1 partition of one shard of the subscriptions that renew.
pub fn renewal_shard(shard: u32) -> String {
    format!("RENEWAL#{shard}")
}

/// A renewing subscription on its shard of GSI1, sorted by when its period ends.
pub fn renewal_index(shard: u32, period_end: &str, subscription_id: &str) -> IndexKey {
    IndexKey::new(
        renewal_shard(shard),
        format!("{period_end}#{subscription_id}"),
    )
}

const OUTBOX_PREFIX: &str = "OUTBOX#";
const OUTBOX_SK: &str = "OUTBOX";

pub fn outbox(message_id: &str) -> Key {
    Key::new(format!("{OUTBOX_PREFIX}{message_id}"), OUTBOX_SK)
}

/// The key, when `(pk, sk)` is an outbox message's.
pub fn as_outbox(pk: &str, sk: &str) -> Option<Key> {
    (pk.starts_with(OUTBOX_PREFIX) && sk == OUTBOX_SK).then(|| Key::new(pk, sk))
}

/// GSI1 partition of mail not yet sent.
pub const OUTBOX_PENDING: &str = "OUTBOX#PENDING";
/// GSI1 partition of mail given up after every attempt failed (`buddo admin mail retry`).
pub const OUTBOX_FAILED: &str = "OUTBOX#FAILED";

/// A message waiting to be sent, on the GSI1 partition of pending mail (oldest first).
pub fn outbox_index(created_at: &str, message_id: &str) -> IndexKey {
    IndexKey::new(OUTBOX_PENDING, format!("{created_at}#{message_id}"))
}

// ---- webhooks ----

const WEBHOOK_EVENT_PREFIX: &str = "WHEVENT#";
const WEBHOOK_EVENT_SK: &str = "WHEVENT";

/// A lifecycle event in the webhook outbox, written with the change it reports.
pub fn webhook_event(event_id: &str) -> Key {
    Key::new(
        format!("{WEBHOOK_EVENT_PREFIX}{event_id}"),
        WEBHOOK_EVENT_SK,
    )
}

/// The key, when `(pk, sk)` is a webhook event's.
pub fn as_webhook_event(pk: &str, sk: &str) -> Option<Key> {
    (pk.starts_with(WEBHOOK_EVENT_PREFIX) && sk == WEBHOOK_EVENT_SK).then(|| Key::new(pk, sk))
}

const WEBHOOK_ENDPOINT_PREFIX: &str = "WHEP#";
const WEBHOOK_ENDPOINT_SK: &str = "ENDPOINT";
pub const WEBHOOK_DELIVERY_PREFIX: &str = "DELIVERY#";

pub fn webhook_endpoint_pk(endpoint_id: &str) -> String {
    format!("{WEBHOOK_ENDPOINT_PREFIX}{endpoint_id}")
}

/// A webhook endpoint; its deliveries share its partition.
pub fn webhook_endpoint(endpoint_id: &str) -> Key {
    Key::new(webhook_endpoint_pk(endpoint_id), WEBHOOK_ENDPOINT_SK)
}

/// The delivery of one event to one endpoint (one per pair: fanning out twice writes it once).
pub fn webhook_delivery(endpoint_id: &str, event_id: &str) -> Key {
    Key::new(
        webhook_endpoint_pk(endpoint_id),
        format!("{WEBHOOK_DELIVERY_PREFIX}{event_id}"),
    )
}

/// The key, when `(pk, sk)` is a webhook delivery's.
pub fn as_webhook_delivery(pk: &str, sk: &str) -> Option<Key> {
    (pk.starts_with(WEBHOOK_ENDPOINT_PREFIX) && sk.starts_with(WEBHOOK_DELIVERY_PREFIX))
        .then(|| Key::new(pk, sk))
}

/// The summary of what the enabled endpoints want: per event type, how many want it.
pub fn webhook_listeners() -> Key {
    Key::new("WHLISTENERS", "WHLISTENERS")
}

/// GSI1 partition of the endpoints of one owner (`admin`, or `app#<app id>`).
pub fn webhook_owner(owner: &str) -> String {
    format!("WHOWNER#{owner}")
}

/// An endpoint on its owner's GSI1 partition, oldest first.
pub fn webhook_owner_index(owner: &str, created_at: &str, endpoint_id: &str) -> IndexKey {
    IndexKey::new(webhook_owner(owner), format!("{created_at}#{endpoint_id}"))
}

/// GSI1 partition of one shard of the webhook work that is due (events to fan out,
/// deliveries to try).
pub fn webhook_due_shard(shard: u32) -> String {
    format!("WHDUE#{shard}")
}

/// Work on its shard of the due index, sorted by when it is due.
pub fn webhook_due_index(shard: u32, due_at: &str, id: &str) -> IndexKey {
    IndexKey::new(webhook_due_shard(shard), format!("{due_at}#{id}"))
}
