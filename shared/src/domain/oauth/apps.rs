//! Operator apps (OAuth clients): registration, their owners' changes, scope requests, and
//! the admin review of both.
//!
//! An app is created with the review-free scopes it asks for; any other scope goes into a
//! pending scope request an admin decides. Client secrets are shown once and kept as SHA-256
//! hashes (they are 256 random bits, so a fast hash is enough).

use serde::{Deserialize, Serialize};

use super::scopes::{Scope, Scopes};
use crate::clock::rfc3339;
use crate::crypto::{constant_time_eq, hash_secret, random_token};
use crate::domain::identity::users::{self, User};
use crate::error::{ApiError, ApiResult, OnCondition};
use crate::keys;
use crate::ratelimit::Counter;
use crate::state::AppState;
use crate::store::{self, Cond, Key, Query, SortKey, Table, WriteOp, GSI1PK, GSI1SK};

/// GSI1 partition of every app, sorted `A#…` (approved) or `P#…` (pending), then by creation.
const APPS_INDEX: &str = "APPS";
/// GSI1 partition of every scope request, sorted by status, then by creation.
const SCOPE_REQUESTS_INDEX: &str = "SCOPEREQS";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OAuthApp {
    pub id: String,
    pub client_id: String,
    pub client_secret_hash: String,
    pub owner_id: String,
    pub app_name: String,
    #[serde(default)]
    pub app_description: Option<String>,
    #[serde(default)]
    pub logo_url: Option<String>,
    #[serde(default)]
    pub website_url: Option<String>,
    pub redirect_uris: Vec<String>,
    pub allowed_scopes: Scopes,
    pub is_approved: bool,
    pub inserted_at: String,
    /// Bumped by every change: changes are conditional on the version they read.
    #[serde(default)]
    pub version: i64,
}

impl OAuthApp {
    /// Checks a presented client secret in constant time.
    pub fn secret_matches(&self, secret: &str) -> bool {
        constant_time_eq(
            hash_secret(secret).as_bytes(),
            self.client_secret_hash.as_bytes(),
        )
    }

    fn item(&self) -> ApiResult<store::Item> {
        let mut item = store::to_item(&keys::app(&self.id), self)?;
        let status = if self.is_approved { "A" } else { "P" };
        item.insert(GSI1PK.into(), APPS_INDEX.into());
        item.insert(
            GSI1SK.into(),
            format!("{status}#{}#{}", self.inserted_at, self.id).into(),
        );
        Ok(item)
    }

    /// The write that stores this app as changed, if nobody changed it since `read_version`.
    fn replace(&self, read_version: i64) -> ApiResult<WriteOp> {
        Ok(WriteOp::Put {
            item: self.item()?,
            cond: Cond::eq("version", read_version),
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    Approved,
    Denied,
}

impl RequestStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Pending => "pending",
            RequestStatus::Approved => "approved",
            RequestStatus::Denied => "denied",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Denied]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ScopeRequest {
    pub id: String,
    pub app_id: String,
    pub requested_scopes: Scopes,
    pub status: RequestStatus,
    pub inserted_at: String,
    #[serde(default)]
    pub decided_at: Option<String>,
    #[serde(default)]
    pub decided_by: Option<String>,
}

impl ScopeRequest {
    fn key(&self) -> Key {
        keys::scope_request(&self.app_id, &self.inserted_at, &self.id)
    }

    fn item(&self) -> ApiResult<store::Item> {
        let mut item = store::to_item(&self.key(), self)?;
        item.insert(GSI1PK.into(), SCOPE_REQUESTS_INDEX.into());
        item.insert(
            GSI1SK.into(),
            format!("{}#{}#{}", self.status.as_str(), self.inserted_at, self.id).into(),
        );
        Ok(item)
    }

    /// The request, its id marker, both new.
    fn create_ops(&self) -> ApiResult<[WriteOp; 2]> {
        let marker = store::to_item(
            &keys::scope_request_marker(&self.id),
            &RequestMarker {
                app_id: self.app_id.clone(),
                inserted_at: self.inserted_at.clone(),
            },
        )?;
        Ok([WriteOp::put_new(self.item()?), WriteOp::put_new(marker)])
    }
}

/// Scope request id → where the request lives.
#[derive(Serialize, Deserialize)]
struct RequestMarker {
    app_id: String,
    inserted_at: String,
}

#[derive(Serialize, Deserialize)]
struct ClientMarker {
    app_id: String,
}

/// What an owner sends to register an app (validated).
pub struct NewApp {
    pub app_name: String,
    pub app_description: Option<String>,
    pub logo_url: Option<String>,
    pub website_url: Option<String>,
    pub redirect_uris: Vec<String>,
    /// `None`: the field was left out (the app gets `profile:read`).
    pub allowed_scopes: Option<Scopes>,
}

/// A new app and its secret, shown this once.
pub struct RegisteredApp {
    pub app: OAuthApp,
    pub client_secret: String,
    pub scope_request: Option<ScopeRequest>,
}

fn app_not_found() -> ApiError {
    ApiError::not_found("app_not_found", "No such app")
}

fn request_not_found() -> ApiError {
    ApiError::not_found("scope_request_not_found", "No such scope request")
}

fn changed_meanwhile() -> ApiError {
    ApiError::conflict("app_changed", "The app changed meanwhile; try again")
}

pub fn new_scope_request(app_id: &str, scopes: Scopes, now: &str) -> ScopeRequest {
    ScopeRequest {
        // Time-ordered: requests of the same second still sort in the order they were made.
        id: uuid::Uuid::now_v7().to_string(),
        app_id: app_id.to_string(),
        requested_scopes: scopes,
        status: RequestStatus::Pending,
        inserted_at: now.to_string(),
        decided_at: None,
        decided_by: None,
    }
}

/// Registers an app for `owner` (verified address required, limited per owner).
pub async fn register(state: &AppState, owner: &User, new: NewApp) -> ApiResult<RegisteredApp> {
    users::require_verified_email(owner)?;
    state
        .limiter
        .hit(Counter::new(
            "app-registration",
            &owner.id,
            state.config.rate_limits.app_registration,
        ))
        .await?;
    let requested = new
        .allowed_scopes
        .unwrap_or_else(|| Scopes::new([Scope::ProfileRead]));
    let (granted, reviewed) = requested.split_by_review();
    let now = rfc3339(state.now());
    let client_secret = format!("bcs_{}", random_token());
    let app = OAuthApp {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: format!("bci_{}", &random_token()[..24]),
        client_secret_hash: hash_secret(&client_secret),
        owner_id: owner.id.clone(),
        app_name: new.app_name,
        app_description: new.app_description,
        logo_url: new.logo_url,
        website_url: new.website_url,
        redirect_uris: new.redirect_uris,
        allowed_scopes: granted,
        is_approved: false,
        inserted_at: now.clone(),
        version: 0,
    };
    let client = store::to_item(
        &keys::client(&app.client_id),
        &ClientMarker {
            app_id: app.id.clone(),
        },
    )?;
    let owned = store::to_item(
        &keys::owned_app(&owner.id, &app.inserted_at, &app.id),
        &ClientMarker {
            app_id: app.id.clone(),
        },
    )?;
    let mut ops = vec![
        WriteOp::put_new(app.item()?),
        WriteOp::put_new(client),
        WriteOp::put_new(owned),
    ];
    let scope_request = (!reviewed.is_empty()).then(|| new_scope_request(&app.id, reviewed, &now));
    if let Some(request) = &scope_request {
        ops.extend(request.create_ops()?);
    }
    state.table.write(ops).await?;
    Ok(RegisteredApp {
        app,
        client_secret,
        scope_request,
    })
}

pub async fn get(table: &dyn Table, app_id: &str) -> ApiResult<Option<OAuthApp>> {
    match table.get(&keys::app(app_id)).await? {
        Some(item) => Ok(Some(store::from_item(item)?)),
        None => Ok(None),
    }
}

pub async fn by_client_id(table: &dyn Table, client_id: &str) -> ApiResult<Option<OAuthApp>> {
    if client_id.is_empty() || client_id.len() > 64 {
        return Ok(None);
    }
    let Some(item) = table.get(&keys::client(client_id)).await? else {
        return Ok(None);
    };
    let marker: ClientMarker = store::from_item(item)?;
    get(table, &marker.app_id).await
}

/// An app of `owner`: someone else's app is not found (never 403: ids do not leak).
pub async fn owned(table: &dyn Table, owner: &User, app_id: &str) -> ApiResult<OAuthApp> {
    if uuid::Uuid::parse_str(app_id).is_err() {
        return Err(app_not_found());
    }
    match get(table, app_id).await? {
        Some(app) if app.owner_id == owner.id => Ok(app),
        _ => Err(app_not_found()),
    }
}

/// The owner's apps, oldest first.
pub async fn list_owned(table: &dyn Table, owner: &User) -> ApiResult<Vec<OAuthApp>> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = table
            .query(
                &Query::partition(keys::user_pk(&owner.id))
                    .sk(SortKey::BeginsWith(keys::OWNED_APP_PREFIX.into()))
                    .limit(100)
                    .cursor(cursor),
            )
            .await?;
        for item in page.items {
            ids.push(store::from_item::<ClientMarker>(item)?.app_id);
        }
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    let apps = futures::future::try_join_all(ids.iter().map(|id| get(table, id))).await?;
    Ok(apps.into_iter().flatten().collect())
}

/// An owner's changes; `None` leaves a field as it is.
#[derive(Default)]
pub struct AppChanges {
    pub app_name: Option<String>,
    /// `Some(None)` clears it.
    pub app_description: Option<Option<String>>,
    pub logo_url: Option<Option<String>>,
    pub website_url: Option<Option<String>>,
    pub redirect_uris: Option<Vec<String>>,
    pub allowed_scopes: Option<Scopes>,
}

/// Applies an owner's changes. Scopes can be dropped at once; review-free ones are added at
/// once; any other scope goes into a pending scope request, as at registration.
pub async fn update(
    state: &AppState,
    owner: &User,
    app_id: &str,
    changes: AppChanges,
) -> ApiResult<OAuthApp> {
    let table = state.table.as_ref();
    let mut app = owned(table, owner, app_id).await?;
    let read_version = app.version;
    if let Some(name) = changes.app_name {
        app.app_name = name;
    }
    if let Some(description) = changes.app_description {
        app.app_description = description;
    }
    if let Some(logo) = changes.logo_url {
        app.logo_url = logo;
    }
    if let Some(site) = changes.website_url {
        app.website_url = site;
    }
    if let Some(uris) = changes.redirect_uris {
        app.redirect_uris = uris;
    }
    let mut request = None;
    if let Some(wanted) = changes.allowed_scopes {
        let (free, reviewed) = wanted.split_by_review();
        let kept = Scopes::new(app.allowed_scopes.iter().filter(|s| wanted.contains(*s)));
        app.allowed_scopes = kept.union(&free);
        let missing = Scopes::new(reviewed.iter().filter(|s| !app.allowed_scopes.contains(*s)));
        if !missing.is_empty() {
            request = Some(new_scope_request(&app.id, missing, &rfc3339(state.now())));
        }
    }
    app.version += 1;
    let mut ops = vec![app.replace(read_version)?];
    if let Some(request) = &request {
        ops.extend(request.create_ops()?);
    }
    state
        .table
        .write(ops)
        .await
        .on_condition(&keys::app(&app.id), changed_meanwhile)?;
    Ok(app)
}

/// An owner asks for more scopes. Review-free ones are added at once (and a request of only
/// those is approved at once); any other waits for an admin.
pub async fn request_scopes(
    state: &AppState,
    owner: &User,
    app_id: &str,
    scopes: Scopes,
) -> ApiResult<ScopeRequest> {
    let mut app = owned(state.table.as_ref(), owner, app_id).await?;
    let read_version = app.version;
    let (free, reviewed) = scopes.split_by_review();
    let mut request = new_scope_request(&app.id, scopes, &rfc3339(state.now()));
    if reviewed.is_empty() {
        request.status = RequestStatus::Approved;
        request.decided_at = Some(request.inserted_at.clone());
    }
    let mut ops = request.create_ops()?.to_vec();
    if !free.is_subset(&app.allowed_scopes) {
        app.allowed_scopes = app.allowed_scopes.union(&free);
        app.version += 1;
        ops.push(app.replace(read_version)?);
    }
    state
        .table
        .write(ops)
        .await
        .on_condition(&keys::app(&app.id), changed_meanwhile)?;
    Ok(request)
}

/// An app's scope requests, newest first.
pub async fn scope_requests(
    state: &AppState,
    owner: &User,
    app_id: &str,
) -> ApiResult<Vec<ScopeRequest>> {
    let app = owned(state.table.as_ref(), owner, app_id).await?;
    let page = state
        .table
        .query(
            &Query::partition(keys::app_partition(&app.id))
                .sk(SortKey::BeginsWith(keys::SCOPE_REQUEST_PREFIX.into()))
                .reverse(),
        )
        .await?;
    page.items
        .into_iter()
        .map(|item| store::from_item(item).map_err(Into::into))
        .collect()
}

/// One page of a GSI1 listing, decoded.
pub struct Listing<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

async fn list_index<T: serde::de::DeserializeOwned>(
    table: &dyn Table,
    index: &str,
    prefix: Option<String>,
    limit: usize,
    cursor: Option<String>,
) -> ApiResult<Listing<T>> {
    let mut query = Query::gsi1(index).limit(limit).cursor(cursor);
    if let Some(prefix) = prefix {
        query = query.sk(SortKey::BeginsWith(prefix));
    }
    let page = table.query(&query).await.map_err(|e| match e {
        store::StoreError::Invalid(_) => ApiError::field("cursor", "is not a cursor of this list"),
        other => other.into(),
    })?;
    Ok(Listing {
        items: page
            .items
            .into_iter()
            .map(store::from_item)
            .collect::<Result<_, _>>()?,
        next_cursor: page.cursor,
    })
}

/// Every app (admin), oldest first, optionally only approved or only pending ones.
pub async fn list_all(
    state: &AppState,
    approved: Option<bool>,
    limit: usize,
    cursor: Option<String>,
) -> ApiResult<Listing<OAuthApp>> {
    let prefix = approved.map(|a| if a { "A#" } else { "P#" }.to_string());
    list_index(state.table.as_ref(), APPS_INDEX, prefix, limit, cursor).await
}

/// Approves or unapproves an app (admin).
pub async fn set_approved(state: &AppState, app_id: &str, approved: bool) -> ApiResult<OAuthApp> {
    if uuid::Uuid::parse_str(app_id).is_err() {
        return Err(app_not_found());
    }
    let mut app = get(state.table.as_ref(), app_id)
        .await?
        .ok_or_else(app_not_found)?;
    let read_version = app.version;
    app.is_approved = approved;
    app.version += 1;
    state
        .table
        .write(vec![app.replace(read_version)?])
        .await
        .on_condition(&keys::app(&app.id), changed_meanwhile)?;
    Ok(app)
}

/// Scope requests (admin), oldest first, optionally of one status.
pub async fn list_scope_requests(
    state: &AppState,
    status: Option<RequestStatus>,
    limit: usize,
    cursor: Option<String>,
) -> ApiResult<Listing<ScopeRequest>> {
    let prefix = status.map(|s| format!("{}#", s.as_str()));
    list_index(
        state.table.as_ref(),
        SCOPE_REQUESTS_INDEX,
        prefix,
        limit,
        cursor,
    )
    .await
}

async fn scope_request(table: &dyn Table, request_id: &str) -> ApiResult<ScopeRequest> {
    if uuid::Uuid::parse_str(request_id).is_err() {
        return Err(request_not_found());
    }
    let marker = table
        .get(&keys::scope_request_marker(request_id))
        .await?
        .ok_or_else(request_not_found)?;
    let marker: RequestMarker = store::from_item(marker)?;
    let item = table
        .get(&keys::scope_request(
            &marker.app_id,
            &marker.inserted_at,
            request_id,
        ))
        .await?
        .ok_or_else(request_not_found)?;
    Ok(store::from_item(item)?)
}

/// Decides a pending scope request (admin): approving adds its scopes to the app's allowed
/// scopes in the same write. Each request is decided on its own, `deploy:manage` included:
/// there is no approving in bulk.
pub async fn decide_scope_request(
    state: &AppState,
    admin: &User,
    request_id: &str,
    approve: bool,
) -> ApiResult<ScopeRequest> {
    let table = state.table.as_ref();
    let mut request = scope_request(table, request_id).await?;
    if request.status != RequestStatus::Pending {
        return Err(ApiError::conflict(
            "scope_request_decided",
            "The scope request was already decided",
        ));
    }
    request.status = if approve {
        RequestStatus::Approved
    } else {
        RequestStatus::Denied
    };
    request.decided_at = Some(rfc3339(state.now()));
    request.decided_by = Some(admin.id.clone());
    let mut ops = vec![WriteOp::Put {
        item: request.item()?,
        cond: Cond::eq("status", RequestStatus::Pending.as_str()),
    }];
    if approve {
        let mut app = get(table, &request.app_id)
            .await?
            .ok_or_else(app_not_found)?;
        let read_version = app.version;
        app.allowed_scopes = app.allowed_scopes.union(&request.requested_scopes);
        app.version += 1;
        ops.push(app.replace(read_version)?);
    }
    state
        .table
        .write(ops)
        .await
        .on_condition(&request.key(), || {
            ApiError::conflict(
                "scope_request_decided",
                "The scope request was already decided",
            )
        })
        .on_condition(&keys::app(&request.app_id), changed_meanwhile)?;
    Ok(request)
}
