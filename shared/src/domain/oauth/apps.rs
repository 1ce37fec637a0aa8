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
use crate::domain::input::{self, Listing};
use crate::error::{ApiError, ApiResult, OnCondition};
use crate::id_token::IdTokenAlg;
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Cond, Key, Query, SortKey, Table, WriteOp};

/// How a client authenticates at the token and revocation endpoints (RFC 7591 §2).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// A confidential client: its secret by HTTP Basic (or in the body), at every grant.
    #[default]
    ClientSecretBasic,
    /// A confidential client that sends its secret in the body (or by HTTP Basic).
    ClientSecretPost,
    /// A public client (a single-page or mobile app): no secret, PKCE is its only proof, and
    /// it never holds a scope that moves points.
    None,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 3] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::None,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::None => "none",
        }
    }

    pub fn parse(field: &'static str, raw: &str) -> ApiResult<Self> {
        Self::ALL
            .into_iter()
            .find(|m| m.as_str() == raw)
            .ok_or_else(|| {
                ApiError::field(
                    field,
                    "must be client_secret_basic, client_secret_post or none",
                )
            })
    }

    pub fn is_public(self) -> bool {
        self == AuthMethod::None
    }
}

/// What a user sees of an app before granting it anything: reviewed with the app, so an
/// approved app's changes wait for an admin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presentation {
    pub app_name: String,
    #[serde(default)]
    pub app_description: Option<String>,
    #[serde(default)]
    pub logo_url: Option<String>,
    #[serde(default)]
    pub website_url: Option<String>,
    pub redirect_uris: Vec<String>,
}

/// How the app uses OpenID Connect and pushed requests; the owner sets them, no review.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcSettings {
    /// Where RP-initiated logout may send the user afterwards (exact match).
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Authorization requests only by the pushed request endpoint (RFC 9126 §6).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    /// How its ID tokens are signed (RS256 unless the app asked for EdDSA).
    #[serde(default)]
    pub id_token_signed_response_alg: IdTokenAlg,
}

/// An owner's OpenID Connect settings, at registration or as a change; `None` leaves one as
/// it is (the default at registration).
#[derive(Default)]
pub struct OidcChanges {
    pub post_logout_redirect_uris: Option<Vec<String>>,
    pub require_pushed_authorization_requests: Option<bool>,
    pub id_token_signed_response_alg: Option<IdTokenAlg>,
}

impl OidcChanges {
    /// Where logout may lead, how requests arrive and how ID tokens are signed carry no
    /// secret and change nothing users see: no review.
    pub fn apply(self, settings: &mut OidcSettings) {
        if let Some(uris) = self.post_logout_redirect_uris {
            settings.post_logout_redirect_uris = uris;
        }
        if let Some(required) = self.require_pushed_authorization_requests {
            settings.require_pushed_authorization_requests = required;
        }
        if let Some(alg) = self.id_token_signed_response_alg {
            settings.id_token_signed_response_alg = alg;
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct OAuthApp {
    pub id: String,
    pub client_id: String,
    /// `None` for a public client.
    #[serde(default)]
    pub client_secret_hash: Option<String>,
    #[serde(default)]
    pub token_endpoint_auth_method: AuthMethod,
    pub owner_id: String,
    /// What users see of the app (as reviewed, once an admin approved it).
    #[serde(flatten)]
    pub shown: Presentation,
    pub allowed_scopes: Scopes,
    pub is_approved: bool,
    /// Stopped by an admin for abuse: nobody, the owner included, can use or authorize it.
    #[serde(default)]
    pub suspended: bool,
    /// Bumped when an admin unapproves or suspends the app. Codes, token families and app
    /// sessions carry the value they were issued under; for anyone but the owner they die
    /// once it moves on, and approving the app again does not bring them back.
    #[serde(default)]
    pub generation: i64,
    /// An approved app's owner changed what users see: it waits for an admin's approval.
    #[serde(default)]
    pub pending_changes: Option<Presentation>,
    pub inserted_at: String,
    /// Bumped by every change: changes are conditional on the version they read.
    #[serde(default)]
    pub version: i64,
    #[serde(flatten)]
    pub oidc: OidcSettings,
}

impl OAuthApp {
    /// Checks a presented client secret in constant time; a public client has none to match.
    pub fn secret_matches(&self, secret: &str) -> bool {
        self.client_secret_hash
            .as_ref()
            .is_some_and(|hash| constant_time_eq(hash_secret(secret).as_bytes(), hash.as_bytes()))
    }

    pub fn is_public(&self) -> bool {
        self.token_endpoint_auth_method.is_public()
    }

    /// Whether what was issued under `generation` still acts for `user_id`: never in a
    /// suspended app; always for the owner otherwise (who may test an unreviewed app); for
    /// anyone else only while the app is approved and has not been stopped since.
    pub fn serves(&self, user_id: &str, generation: i64) -> bool {
        if self.suspended {
            return false;
        }
        self.owner_id == user_id || (self.is_approved && generation == self.generation)
    }

    /// Whether the app's sessions and ad events earn points: only a reviewed app mints them.
    pub fn mints_points(&self) -> bool {
        self.is_approved && !self.suspended
    }

    fn item(&self) -> ApiResult<store::Item> {
        let mut item = store::to_item(&keys::app(&self.id), self)?;
        keys::app_index(self.is_approved, &self.inserted_at, &self.id).put_on(&mut item);
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
        keys::scope_request_index(self.status.as_str(), &self.inserted_at, &self.id)
            .put_on(&mut item);
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
    pub shown: Presentation,
    /// `None`: the field was left out (the app gets `profile:read`).
    pub allowed_scopes: Option<Scopes>,
    pub token_endpoint_auth_method: AuthMethod,
    pub oidc: OidcChanges,
}

/// A new app and its secret, shown this once (a public client has none).
pub struct RegisteredApp {
    pub app: OAuthApp,
    pub client_secret: Option<String>,
    pub scope_request: Option<ScopeRequest>,
}

fn app_not_found() -> ApiError {
    ApiError::not_found("app_not_found", "No such app")
}

fn request_not_found() -> ApiError {
    ApiError::not_found("scope_request_not_found", "No such scope request")
}

/// A public client cannot keep a secret, so nothing but PKCE proves a code exchange is the
/// app's: it never holds a scope that moves points.
fn refuse_moving_scopes(
    app_is_public: bool,
    field: &'static str,
    scopes: &Scopes,
) -> ApiResult<()> {
    if app_is_public && scopes.iter().any(Scope::moves_points) {
        return Err(ApiError::field(
            field,
            "a public client (token_endpoint_auth_method none) cannot hold points:spend or points:transfer",
        ));
    }
    Ok(())
}

/// Writes `ops`, one of them the app's versioned replace: 409 when it changed meanwhile.
async fn write_app(state: &AppState, app_id: &str, ops: Vec<WriteOp>) -> ApiResult<()> {
    state
        .table
        .write(ops)
        .await
        .on_condition(&keys::app(app_id), changed_meanwhile)
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
        .hit(
            "app-registration",
            &owner.id,
            state.config.rate_limits.app_registration,
        )
        .await?;
    let requested = new
        .allowed_scopes
        .unwrap_or_else(|| Scopes::new([Scope::ProfileRead]));
    let method = new.token_endpoint_auth_method;
    refuse_moving_scopes(method.is_public(), "allowed_scopes", &requested)?;
    let (granted, reviewed) = requested.split_by_review();
    let now = rfc3339(state.now());
    let client_secret = (!method.is_public()).then(|| format!("bcs_{}", random_token()));
    let app = OAuthApp {
        id: uuid::Uuid::new_v4().to_string(),
        client_id: format!("bci_{}", &random_token()[..24]),
        client_secret_hash: client_secret.as_deref().map(hash_secret),
        token_endpoint_auth_method: method,
        owner_id: owner.id.clone(),
        shown: new.shown,
        allowed_scopes: granted,
        is_approved: false,
        suspended: false,
        generation: 0,
        pending_changes: None,
        inserted_at: now.clone(),
        version: 0,
        oidc: OidcSettings::default(),
    };
    let mut app = app;
    new.oidc.apply(&mut app.oidc);
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
    pub oidc: OidcChanges,
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
    // What users see changes at once only while nobody reviewed it; an approved app's
    // changes wait for an admin, its reviewed values staying live meanwhile.
    let mut shown = app
        .pending_changes
        .clone()
        .unwrap_or_else(|| app.shown.clone());
    if let Some(name) = changes.app_name {
        shown.app_name = name;
    }
    if let Some(description) = changes.app_description {
        shown.app_description = description;
    }
    if let Some(logo) = changes.logo_url {
        shown.logo_url = logo;
    }
    if let Some(site) = changes.website_url {
        shown.website_url = site;
    }
    if let Some(uris) = changes.redirect_uris {
        shown.redirect_uris = uris;
    }
    if !app.is_approved {
        app.shown = shown;
    } else if shown == app.shown {
        app.pending_changes = None;
    } else {
        app.pending_changes = Some(shown);
    }
    changes.oidc.apply(&mut app.oidc);
    let mut request = None;
    if let Some(wanted) = changes.allowed_scopes {
        refuse_moving_scopes(app.is_public(), "allowed_scopes", &wanted)?;
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
    write_app(state, &app.id, ops).await?;
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
    refuse_moving_scopes(app.is_public(), "requested_scopes", &scopes)?;
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
    write_app(state, &app.id, ops).await?;
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
    input::page(table, &query).await
}

/// Every app (admin), oldest first, optionally only approved or only pending ones.
pub async fn list_all(
    state: &AppState,
    approved: Option<bool>,
    limit: usize,
    cursor: Option<String>,
) -> ApiResult<Listing<OAuthApp>> {
    let prefix = approved.map(|a| keys::apps_prefix(a).to_string());
    list_index(
        state.table.as_ref(),
        keys::APPS_INDEX,
        prefix,
        limit,
        cursor,
    )
    .await
}

/// An admin's decision on an app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Review {
    /// Approved: anyone may authorize it, its pending changes go live, a suspension ends.
    Approve,
    /// Back to unreviewed: only its owner may use it; what it holds for anyone else ends.
    Unapprove,
    /// Stopped for abuse: nobody may use it, its owner included.
    Suspend,
}

/// Approves, unapproves or suspends an app (admin). Unapproving and suspending move the app
/// to its next generation, which ends at once every code, token and app session it holds for
/// anyone but its owner (for everyone when suspended).
pub async fn review(state: &AppState, app_id: &str, decision: Review) -> ApiResult<OAuthApp> {
    if uuid::Uuid::parse_str(app_id).is_err() {
        return Err(app_not_found());
    }
    let mut app = get(state.table.as_ref(), app_id)
        .await?
        .ok_or_else(app_not_found)?;
    let read_version = app.version;
    match decision {
        Review::Approve => {
            app.is_approved = true;
            app.suspended = false;
            if let Some(shown) = app.pending_changes.take() {
                app.shown = shown;
            }
        }
        Review::Unapprove | Review::Suspend => {
            app.is_approved = false;
            app.suspended = decision == Review::Suspend;
            app.generation += 1;
        }
    }
    app.version += 1;
    write_app(state, &app.id, vec![app.replace(read_version)?]).await?;
    Ok(app)
}

/// Scope requests (admin), oldest first, optionally of one status.
pub async fn list_scope_requests(
    state: &AppState,
    status: Option<RequestStatus>,
    limit: usize,
    cursor: Option<String>,
) -> ApiResult<Listing<ScopeRequest>> {
    let prefix = status.map(|s| keys::scope_requests_prefix(s.as_str()));
    list_index(
        state.table.as_ref(),
        keys::SCOPE_REQUESTS_INDEX,
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
        refuse_moving_scopes(
            app.is_public(),
            "requested_scopes",
            &request.requested_scopes,
        )?;
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
