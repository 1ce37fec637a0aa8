//! Grants: what a user let an app do (a connected app), and the token families issued under
//! it. Revoking a grant ends everything the app holds for the user in one atomic write.

use serde::{Deserialize, Serialize};

use serde_json::json;

use super::apps::{self, OAuthApp};
use super::scopes::Scopes;
use crate::clock::rfc3339;
use crate::domain::activity::{self, ActivityKind};
use crate::domain::identity::User;
use crate::domain::webhooks::{self, EventType};
use crate::domain::RequestMeta;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Cond, Key, Query, SortKey, Table, Update, WriteOp};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Grant {
    pub user_id: String,
    pub app_id: String,
    pub scopes: Scopes,
    pub connected_at: String,
    #[serde(default)]
    pub last_used: Option<String>,
    /// Token families issued under the grant so far. Every code exchange bumps it, so a
    /// revocation that read the families can tell whether a new one appeared meanwhile.
    #[serde(default)]
    pub issued: i64,
    /// Bumped by every consent after the first: a code exchange is conditional on the value
    /// it read, so a family is never created from scopes the user took back meanwhile.
    #[serde(default)]
    pub consented: i64,
}

/// The tokens issued from one authorization code and every refresh after it. Access and
/// refresh tokens name their family; they are live only while it exists and was issued
/// under the user's current credential generation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokenFamily {
    pub id: String,
    pub user_id: String,
    pub app_id: String,
    /// SHA-256 of the family's current refresh token; an older one presented again revokes
    /// the family (RFC 9700 §4.14.2).
    pub refresh_hash: String,
    pub credential_generation: i64,
    /// The app's generation when the family was issued (see [`OAuthApp::serves`]).
    #[serde(default)]
    pub app_generation: i64,
    /// What the user's consent allows the family now: narrowed by every later consent to
    /// fewer scopes, never widened. `None` in families issued before it was kept.
    #[serde(default)]
    pub scopes: Option<Scopes>,
    pub created_at: String,
}

impl TokenFamily {
    /// Whether the family's tokens still act for `user` through `app`: issued under the
    /// user's current credentials, the account enabled, the app not stopped since.
    pub fn is_live(&self, user: &User, app: &OAuthApp) -> bool {
        user.credential_generation == self.credential_generation
            && !user.disabled
            && app.serves(&user.id, self.app_generation)
    }

    /// `scopes` as the user's consent bounds them now.
    pub fn bound(&self, scopes: &Scopes) -> Scopes {
        match &self.scopes {
            Some(allowed) => scopes.intersection(allowed),
            None => scopes.clone(),
        }
    }
}

/// Records (or renews) the user's grant of `scopes` to `app`. A new grant counts in the
/// user's `connected_apps`. A renewal with fewer scopes narrows every family issued before
/// it in the same write: older refresh and access tokens never outgrow the consent.
pub async fn record(
    state: &AppState,
    user_id: &str,
    app: &OAuthApp,
    scopes: &Scopes,
    meta: &RequestMeta,
) -> ApiResult<()> {
    let now = rfc3339(state.now());
    let grant = Grant {
        user_id: user_id.to_string(),
        app_id: app.id.clone(),
        scopes: scopes.clone(),
        connected_at: now.clone(),
        last_used: Some(now.clone()),
        issued: 0,
        consented: 0,
    };
    let key = keys::grant(user_id, &app.id);
    let mut ops = vec![
        WriteOp::put_new(store::to_item(&key, &grant)?),
        Update::new(keys::user(user_id))
            .add("connected_apps", 1)
            .when(Cond::Exists)
            .into_op(),
        activity::record(
            state,
            user_id,
            ActivityKind::AppConnected,
            Some(meta),
            json!({ "app_id": app.id, "app_name": app.shown.app_name, "scopes": scopes }),
        )?,
    ];
    ops.extend(webhooks::listening(state).await.announce(
        state.now(),
        EventType::GrantCreated,
        user_id,
        vec![app.id.clone()],
        json!({ "app_id": app.id, "scopes": scopes }),
    ));
    let created = state.table.write(ops).await;
    match created {
        Ok(()) => Ok(()),
        Err(e) if e.failed_key() == Some(&key) => {
            let renew = Update::new(key)
                .set(
                    "scopes",
                    serde_json::to_value(scopes).map_err(ApiError::internal)?,
                )
                .set("last_used", now)
                .add("consented", 1)
                .when(Cond::Exists);
            let mut ops = vec![renew.into_op()];
            for family in families(state.table.as_ref(), user_id, &app.id).await? {
                let current = family
                    .scopes
                    .clone()
                    .unwrap_or_else(|| app.allowed_scopes.clone());
                let narrowed = current.intersection(scopes);
                if narrowed != current {
                    ops.push(
                        Update::new(family_key(&family))
                            .set(
                                "scopes",
                                serde_json::to_value(&narrowed).map_err(ApiError::internal)?,
                            )
                            .when(Cond::Exists)
                            .into_op(),
                    );
                }
            }
            state.table.write(ops).await.map_err(|e| match e {
                // A family revoked meanwhile: nothing left to narrow there.
                crate::store::StoreError::ConditionFailed { .. } => ApiError::conflict(
                    "grant_changed",
                    "The app's grant changed meanwhile; try again",
                ),
                other => other.into(),
            })?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn get(table: &dyn Table, user_id: &str, app_id: &str) -> ApiResult<Option<Grant>> {
    match table.get(&keys::grant(user_id, app_id)).await? {
        Some(item) => Ok(Some(store::from_item(item)?)),
        None => Ok(None),
    }
}

/// The families of a user's grant to an app, oldest first.
pub async fn families(
    table: &dyn Table,
    user_id: &str,
    app_id: &str,
) -> ApiResult<Vec<TokenFamily>> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = table
            .query(
                &Query::partition(keys::user_pk(user_id))
                    .sk(SortKey::BeginsWith(keys::family_prefix(app_id)))
                    .limit(100)
                    .cursor(cursor),
            )
            .await?;
        for item in page.items {
            out.push(store::from_item::<TokenFamily>(item)?);
        }
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    out.sort_by(|a, b| a.created_at.cmp(&b.created_at));
    Ok(out)
}

pub fn family_key(family: &TokenFamily) -> Key {
    keys::family(&family.user_id, &family.app_id, &family.id)
}

/// A connected app as the user sees it.
pub struct ConnectedApp {
    pub grant: Grant,
    pub app: OAuthApp,
}

/// The user's connected apps, in the order they were connected.
pub async fn connected_apps(state: &AppState, user_id: &str) -> ApiResult<Vec<ConnectedApp>> {
    let table = state.table.as_ref();
    let page = table
        .query(
            &Query::partition(keys::user_pk(user_id))
                .sk(SortKey::BeginsWith(keys::GRANT_PREFIX.into())),
        )
        .await?;
    let grants: Vec<Grant> = page
        .items
        .into_iter()
        .map(store::from_item)
        .collect::<Result<_, _>>()?;
    let apps =
        futures::future::try_join_all(grants.iter().map(|g| apps::get(table, &g.app_id))).await?;
    let mut out: Vec<ConnectedApp> = grants
        .into_iter()
        .zip(apps)
        .filter_map(|(grant, app)| Some(ConnectedApp { grant, app: app? }))
        .collect();
    out.sort_by(|a, b| a.grant.connected_at.cmp(&b.grant.connected_at));
    Ok(out)
}

/// Revokes the user's grant to an app: the grant, every token family under it (so every access
/// and refresh token) and the app session go in one atomic write. A code exchanged while the
/// families were being read changes the grant, and the revocation reads again.
pub async fn revoke(
    state: &AppState,
    user_id: &str,
    app_id: &str,
    meta: &RequestMeta,
) -> ApiResult<()> {
    let not_connected = || ApiError::not_found("app_not_connected", "This app is not connected");
    if uuid::Uuid::parse_str(app_id).is_err() {
        return Err(not_connected());
    }
    let table = state.table.as_ref();
    let grant_key = keys::grant(user_id, app_id);
    let listening = webhooks::listening(state).await;
    for _ in 0..3 {
        let grant = get(table, user_id, app_id)
            .await?
            .ok_or_else(not_connected)?;
        let mut ops = vec![
            WriteOp::Delete {
                key: grant_key.clone(),
                cond: Cond::eq("issued", grant.issued),
            },
            Update::new(keys::user(user_id))
                .add("connected_apps", -1)
                .when(Cond::Exists)
                .into_op(),
            WriteOp::delete(keys::app_session(user_id, app_id)),
            activity::record(
                state,
                user_id,
                ActivityKind::AppRevoked,
                Some(meta),
                json!({ "app_id": app_id }),
            )?,
        ];
        ops.extend(listening.announce(
            state.now(),
            EventType::GrantRevoked,
            user_id,
            vec![app_id.to_string()],
            json!({ "app_id": app_id }),
        ));
        for family in families(table, user_id, app_id).await? {
            ops.push(WriteOp::delete(family_key(&family)));
        }
        match table.write(ops).await {
            Err(e) if e.failed_key() == Some(&grant_key) => continue,
            other => return other.map_err(Into::into),
        }
    }
    Err(ApiError::conflict(
        "app_busy",
        "The app is being authorized right now; try again",
    ))
}
