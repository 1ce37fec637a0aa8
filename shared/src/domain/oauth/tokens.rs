//! The token endpoint (RFC 6749 §4.1.3, §6), introspection (RFC 7662) and revocation
//! (RFC 7009) for operator apps.
//!
//! Access tokens (`bat_…`), refresh tokens (`brt_…`) and codes are opaque and stored as SHA-256
//! hashes. Every token belongs to a family (the tokens of one authorization); a token is live
//! only while its family exists and was issued under the user's current credential
//! generation, so a revoked grant, a reused refresh token, a password change or reset, or a
//! deleted user ends it at once.

use serde::{Deserialize, Serialize};

use super::apps::{self, OAuthApp};
use super::authorize::AuthorizationCode;
use super::error::{OAuthError, OAuthErrorCode, OAuthResult};
use super::grants::{self, TokenFamily};
use super::openid;
use super::scopes::{Scope, Scopes};
use super::sessions::{SessionOpener, SessionStart};
use crate::clock::rfc3339;
use crate::crypto::{constant_time_eq, hash_secret, random_token};
use crate::domain::identity::users::{self, User};
use crate::domain::RequestMeta;
use crate::error::{ApiError, ApiResult};
use crate::keys;
use crate::state::AppState;
use crate::store::{self, Cond, Update, WriteOp, TTL};

/// Expired access tokens stay readable this long, so introspection can say `expired`.
const EXPIRED_KEPT_SECONDS: i64 = 24 * 3600;

/// When a refresh token issued or renewed now expires (and its family with it).
fn refresh_expiry(state: &AppState) -> i64 {
    state.now_unix() + state.config.oauth.refresh_ttl.as_secs() as i64
}

/// How the client identified itself (HTTP Basic or the body).
#[derive(Clone, Debug, Default)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: Option<String>,
}

/// A token request's grant.
pub enum TokenGrant {
    AuthorizationCode {
        code: String,
        redirect_uri: String,
        code_verifier: String,
    },
    RefreshToken {
        refresh_token: String,
        scope: Option<String>,
    },
}

/// What the token endpoint answers.
pub struct IssuedTokens {
    pub access_token: String,
    pub expires_in: i64,
    pub refresh_token: String,
    pub scopes: Scopes,
    /// Authorization code grants open the user's app session.
    pub session: Option<SessionStart>,
    /// The ID token of a code granted with `openid` (OpenID Connect Core §3.1.3.3).
    pub id_token: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessTokenRecord {
    pub app_id: String,
    pub client_id: String,
    pub user_id: String,
    pub family_id: String,
    pub scopes: Scopes,
    pub issued_at: i64,
    pub expires_at: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct RefreshTokenRecord {
    app_id: String,
    user_id: String,
    family_id: String,
    scopes: Scopes,
}

fn code_is_dead() -> OAuthError {
    OAuthError::invalid_grant("The authorization code is invalid, expired or was already used")
}

fn refresh_is_dead() -> OAuthError {
    OAuthError::invalid_grant("The refresh token is invalid, expired or revoked")
}

/// Authenticates the client (RFC 6749 §2.3.1, §3.2.1): a confidential app by its secret at
/// every grant, a public app by its client_id alone (it must not send a secret; PKCE is its
/// proof). A failure counts per client and source address, so junk naming a client blocks
/// its sender, never the client.
pub async fn authenticate_client(
    state: &AppState,
    client: &ClientCredentials,
    meta: &RequestMeta,
) -> OAuthResult<OAuthApp> {
    if client.client_id.is_empty() {
        return Err(OAuthError::invalid_request("client_id is required"));
    }
    let limits = &state.config.rate_limits;
    let source = format!("{}\n{}", client.client_id, meta.ip_subject());
    let app = apps::by_client_id(state.table.as_ref(), &client.client_id).await?;
    let authenticated = app.filter(|app| match &client.client_secret {
        Some(secret) => app.secret_matches(secret),
        None => app.is_public(),
    });
    let Some(app) = authenticated else {
        state
            .limiter
            .hit("client-auth-failure", &source, limits.client_auth_failures)
            .await?;
        return Err(OAuthError::invalid_client());
    };
    Ok(app)
}

/// Counts one token request of an authenticated client: a confidential client's per client, a
/// public client's (anyone can name it) per client and source address.
async fn count_token_request(
    state: &AppState,
    app: &OAuthApp,
    meta: &RequestMeta,
) -> OAuthResult<()> {
    let source = format!("{}\n{}", app.client_id, meta.ip_subject());
    let subject = if app.is_public() {
        source.as_str()
    } else {
        app.client_id.as_str()
    };
    state
        .limiter
        .hit("token", subject, state.config.rate_limits.token_endpoint)
        .await?;
    Ok(())
}

/// RFC 7636 §4.6: BASE64URL(SHA-256(verifier)) equals the challenge.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(verifier.as_bytes());
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
    constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

struct NewTokens {
    access_token: String,
    refresh_token: String,
    refresh_hash: String,
    ops: Vec<WriteOp>,
}

impl NewTokens {
    /// The token endpoint's answer, once the writes landed.
    fn issued(
        self,
        state: &AppState,
        scopes: Scopes,
        session: Option<SessionStart>,
    ) -> IssuedTokens {
        IssuedTokens {
            access_token: self.access_token,
            expires_in: state.config.oauth.access_ttl.as_secs() as i64,
            refresh_token: self.refresh_token,
            scopes,
            session,
            id_token: None,
        }
    }
}

/// A new access and refresh token of `family`, as writes.
fn new_tokens(
    state: &AppState,
    app: &OAuthApp,
    user_id: &str,
    family_id: &str,
    scopes: &Scopes,
) -> ApiResult<NewTokens> {
    let now = state.now_unix();
    let oauth = &state.config.oauth;
    let access_token = format!("bat_{}", random_token());
    let refresh_token = format!("brt_{}", random_token());
    let refresh_hash = hash_secret(&refresh_token);
    let expires_at = now + oauth.access_ttl.as_secs() as i64;
    let mut access = store::to_item(
        &keys::access_token(&hash_secret(&access_token)),
        &AccessTokenRecord {
            app_id: app.id.clone(),
            client_id: app.client_id.clone(),
            user_id: user_id.to_string(),
            family_id: family_id.to_string(),
            scopes: scopes.clone(),
            issued_at: now,
            expires_at,
        },
    )?;
    access.insert(TTL.into(), (expires_at + EXPIRED_KEPT_SECONDS).into());
    let mut refresh = store::to_item(
        &keys::oauth_refresh_token(&refresh_hash),
        &RefreshTokenRecord {
            app_id: app.id.clone(),
            user_id: user_id.to_string(),
            family_id: family_id.to_string(),
            scopes: scopes.clone(),
        },
    )?;
    refresh.insert(TTL.into(), refresh_expiry(state).into());
    Ok(NewTokens {
        access_token,
        refresh_token,
        refresh_hash,
        ops: vec![WriteOp::put_new(access), WriteOp::put_new(refresh)],
    })
}

/// Deletes a token family: its access and refresh tokens stop working at once.
async fn revoke_family(
    state: &AppState,
    user_id: &str,
    app_id: &str,
    family_id: &str,
) -> ApiResult<()> {
    state
        .table
        .write(vec![WriteOp::delete(keys::family(
            user_id, app_id, family_id,
        ))])
        .await?;
    Ok(())
}

/// The token endpoint: exchanges a code or a refresh token for an authenticated client.
pub async fn exchange(
    state: &AppState,
    sessions: &dyn SessionOpener,
    client: ClientCredentials,
    grant: TokenGrant,
    meta: &RequestMeta,
) -> OAuthResult<IssuedTokens> {
    match grant {
        TokenGrant::AuthorizationCode {
            code,
            redirect_uri,
            code_verifier,
        } => {
            let app = authenticate_client(state, &client, meta).await?;
            // The client's count and the code's read go out together; the 429 comes first.
            let (counted, read) = tokio::join!(
                count_token_request(state, &app, meta),
                read_code(state, &code),
            );
            counted?;
            let code = PresentedCode {
                code: &code,
                record: read,
            };
            exchange_code(state, sessions, &app, code, &redirect_uri, &code_verifier).await
        }
        TokenGrant::RefreshToken {
            refresh_token,
            scope,
        } => {
            // The client and the presented token are read together.
            let (app, presented) = tokio::join!(
                authenticate_client(state, &client, meta),
                read_refresh_token(state, &refresh_token),
            );
            let app = app?;
            refresh(
                state,
                &app,
                meta,
                &refresh_token,
                presented,
                scope.as_deref(),
            )
            .await
        }
    }
}

/// A presented code and its record as read (none for an empty or unknown code).
struct PresentedCode<'a> {
    code: &'a str,
    record: ApiResult<Option<AuthorizationCode>>,
}

async fn read_code(state: &AppState, code: &str) -> ApiResult<Option<AuthorizationCode>> {
    if code.is_empty() {
        return Ok(None);
    }
    match state
        .table
        .get(&keys::authorization_code(&hash_secret(code)))
        .await?
    {
        Some(item) => Ok(Some(store::from_item(item)?)),
        None => Ok(None),
    }
}

/// The record of a presented refresh token (none for an empty one).
async fn read_refresh_token(
    state: &AppState,
    refresh_token: &str,
) -> ApiResult<Option<RefreshTokenRecord>> {
    if refresh_token.is_empty() {
        return Ok(None);
    }
    let key = keys::oauth_refresh_token(&hash_secret(refresh_token));
    match state.table.get(&key).await? {
        Some(item) => Ok(Some(store::from_item(item)?)),
        None => Ok(None),
    }
}

async fn exchange_code(
    state: &AppState,
    sessions: &dyn SessionOpener,
    app: &OAuthApp,
    code: PresentedCode<'_>,
    redirect_uri: &str,
    code_verifier: &str,
) -> OAuthResult<IssuedTokens> {
    let redeemed = redeem_code(state, app, code, redirect_uri, code_verifier).await?;
    let family_id = uuid::Uuid::new_v4().to_string();
    let mut tokens = new_tokens(state, app, &redeemed.user.id, &family_id, &redeemed.scopes)?;
    let mut ops = issue_family(state, app, &redeemed, &family_id, &tokens.refresh_hash).await?;
    ops.extend(std::mem::take(&mut tokens.ops));
    let session = sessions.open(state, &redeemed.user, app)?;
    ops.extend(session.ops);

    let table = state.table.as_ref();
    match table.write(ops).await {
        Ok(()) => {}
        Err(e) if e.failed_key() == Some(&redeemed.code_key) => {
            // Exchanged by a parallel request: the same code twice.
            if let Some(item) = table.get(&redeemed.code_key).await? {
                replayed(state, &store::from_item(item)?).await?;
            }
            return Err(code_is_dead());
        }
        Err(e) if e.failed_key() == Some(&keys::grant(&redeemed.user.id, &app.id)) => {
            return Err(OAuthError::invalid_grant(
                "The user revoked or changed this app's consent meanwhile",
            ));
        }
        Err(e) => return Err(e.into()),
    }
    let id_token = match redeemed.scopes.contains(Scope::OpenId) {
        true => Some(openid::id_token(
            state,
            app,
            &redeemed.user,
            &redeemed.record,
            &redeemed.scopes,
        )?),
        false => None,
    };
    let mut issued = tokens.issued(state, redeemed.scopes, Some(session.start));
    issued.id_token = id_token;
    Ok(issued)
}

/// A code that may be exchanged, with what it was issued for.
struct RedeemableCode {
    code_key: store::Key,
    user: User,
    grant: grants::Grant,
    /// The grant's token families now (the oldest go when a new one is one too many).
    families: Vec<TokenFamily>,
    /// The code's scopes within the grant's now.
    scopes: Scopes,
    record: AuthorizationCode,
}

/// Checks a presented code: its PKCE verifier, client, redirect URI, that it is unused (a
/// replay revokes what its first exchange issued), and that its user, consent and app still
/// stand.
async fn redeem_code(
    state: &AppState,
    app: &OAuthApp,
    presented: PresentedCode<'_>,
    redirect_uri: &str,
    code_verifier: &str,
) -> OAuthResult<RedeemableCode> {
    let code = presented.code;
    if code.is_empty() || redirect_uri.is_empty() {
        return Err(OAuthError::invalid_request(
            "code and redirect_uri are required",
        ));
    }
    // A code was always issued with a PKCE challenge (RFC 9700 §2.1.1): the verifier is
    // required even when the client authenticates with its secret.
    if !valid_verifier(code_verifier) {
        return Err(OAuthError::invalid_request(
            "code_verifier is required: 43 to 128 characters of [A-Za-z0-9-._~]",
        ));
    }
    let table = state.table.as_ref();
    let code_key = keys::authorization_code(&hash_secret(code));
    let Some(record) = presented.record? else {
        return Err(code_is_dead());
    };
    if record.redeemed {
        replayed(state, &record).await?;
        return Err(code_is_dead());
    }
    if record.client_id != app.client_id
        || record.redirect_uri != redirect_uri
        || !pkce_matches(code_verifier, &record.code_challenge)
    {
        return Err(code_is_dead());
    }
    let (user, grant, families) = tokio::try_join!(
        users::get(table, &record.user_id),
        grants::get(table, &record.user_id, &app.id),
        grants::families(table, &record.user_id, &app.id),
    )?;
    // A code dies with the credentials it was issued under, with a disabled account, and
    // with an app stopped since.
    let user = user
        .filter(|u| record.issued_under(u) && app.serves(&u.id, record.app_generation))
        .ok_or_else(code_is_dead)?;
    let grant = grant.ok_or_else(|| OAuthError::invalid_grant("The user revoked this app"))?;
    // Consent narrowed since the code was issued: the narrower grant wins.
    let scopes = record.scopes.intersection(&grant.scopes);
    if scopes.is_empty() {
        return Err(code_is_dead());
    }
    Ok(RedeemableCode {
        code_key,
        user,
        grant,
        families,
        scopes,
        record,
    })
}

/// The writes of a new token family for a redeemed code: the code marked redeemed (once),
/// the grant's count of families (conditional on the consent read), the family, and the
/// eviction of the grant's oldest families beyond the limit.
async fn issue_family(
    state: &AppState,
    app: &OAuthApp,
    code: &RedeemableCode,
    family_id: &str,
    refresh_hash: &str,
) -> ApiResult<Vec<WriteOp>> {
    let user = &code.user;
    let family = TokenFamily {
        id: family_id.to_string(),
        user_id: user.id.clone(),
        app_id: app.id.clone(),
        refresh_hash: refresh_hash.to_string(),
        credential_generation: user.credential_generation,
        app_generation: app.generation,
        scopes: Some(code.scopes.clone()),
        created_at: rfc3339(state.now()),
    };
    let mut family_item = store::to_item(&grants::family_key(&family), &family)?;
    family_item.insert(TTL.into(), refresh_expiry(state).into());
    let mut ops = vec![
        Update::new(code.code_key.clone())
            .set("redeemed", true)
            .set("family_id", family_id.to_string())
            .when(Cond::eq("redeemed", false))
            .into_op(),
        // Conditional on the consent read: a re-authorization meanwhile changes it.
        Update::new(keys::grant(&user.id, &app.id))
            .add("issued", 1)
            .set("last_used", rfc3339(state.now()))
            .when(Cond::eq("consented", code.grant.consented))
            .into_op(),
        WriteOp::put_new(family_item),
    ];
    // Keep the newest families of this grant; the oldest go.
    let existing = &code.families;
    let keep = state.config.oauth.max_families_per_grant.max(1) - 1;
    let evict = existing.len().saturating_sub(keep);
    ops.extend(
        existing
            .iter()
            .take(evict)
            .map(|f| WriteOp::delete(grants::family_key(f))),
    );
    Ok(ops)
}

/// A code presented again: whatever its first exchange issued is revoked (RFC 6749 §4.1.2).
async fn replayed(state: &AppState, code: &AuthorizationCode) -> ApiResult<()> {
    tracing::warn!(app_id = %code.app_id, "authorization code replayed; its tokens are revoked");
    match &code.family_id {
        Some(family) => revoke_family(state, &code.user_id, &code.app_id, family).await,
        None => Ok(()),
    }
}

/// A refresh grant of an authenticated client, given the presented token's record as read.
/// The client's count goes out with the reads of the token's family and user; its 429 comes
/// before anything is said of the token.
async fn refresh(
    state: &AppState,
    app: &OAuthApp,
    meta: &RequestMeta,
    refresh_token: &str,
    presented_record: ApiResult<Option<RefreshTokenRecord>>,
    scope: Option<&str>,
) -> OAuthResult<IssuedTokens> {
    let table = state.table.as_ref();
    let (record, unread) = match presented_record {
        Ok(record) => (record.filter(|r| r.app_id == app.id), None),
        Err(e) => (None, Some(e)),
    };
    let family_key = record
        .as_ref()
        .map(|r| keys::family(&r.user_id, &app.id, &r.family_id));
    let reads = async {
        match (&record, &family_key) {
            (Some(record), Some(family_key)) => {
                let (family, user) = tokio::try_join!(
                    async { Ok::<_, ApiError>(table.get(family_key).await?) },
                    users::get(table, &record.user_id)
                )?;
                Ok::<_, ApiError>(Some((family, user)))
            }
            _ => Ok(None),
        }
    };
    let (counted, read) = tokio::join!(count_token_request(state, app, meta), reads);
    counted?;
    if refresh_token.is_empty() {
        return Err(OAuthError::invalid_request("refresh_token is required"));
    }
    if let Some(e) = unread {
        return Err(e.into());
    }
    let (Some(record), Some(family_key), Some((family, user))) = (record, family_key, read?) else {
        return Err(refresh_is_dead());
    };
    let presented = hash_secret(refresh_token);
    let Some(family) = family.map(store::from_item::<TokenFamily>).transpose()? else {
        return Err(refresh_is_dead());
    };
    if family.refresh_hash != presented {
        revoke_reused(state, &family).await?;
        return Err(refresh_is_dead());
    }
    let Some(user) = user.filter(|u| family.is_live(u, app)) else {
        return Err(refresh_is_dead());
    };
    let scopes = refreshed_scopes(app, family.bound(&record.scopes), scope)?;
    let mut tokens = new_tokens(state, app, &user.id, &family.id, &scopes)?;
    let grant_key = keys::grant(&user.id, &app.id);
    let mut ops = vec![
        Update::new(family_key.clone())
            .set("refresh_hash", tokens.refresh_hash.clone())
            .set(TTL, refresh_expiry(state))
            .when(Cond::eq("refresh_hash", presented))
            .into_op(),
        Update::new(grant_key.clone())
            .set("last_used", rfc3339(state.now()))
            .when(Cond::Exists)
            .into_op(),
    ];
    ops.extend(std::mem::take(&mut tokens.ops));
    match table.write(ops).await {
        Ok(()) => {}
        Err(e) if e.failed_key() == Some(&family_key) => {
            // Rotated by a parallel request: the same refresh token twice.
            revoke_reused(state, &family).await?;
            return Err(refresh_is_dead());
        }
        Err(e) if e.failed_key() == Some(&grant_key) => return Err(refresh_is_dead()),
        Err(e) => return Err(e.into()),
    }
    Ok(tokens.issued(state, scopes, None))
}

/// The scopes a refresh renews: the family's, or the narrower set the client asked for (never
/// wider: RFC 6749 §6), less those the app has lost since.
fn refreshed_scopes(app: &OAuthApp, granted: Scopes, asked: Option<&str>) -> OAuthResult<Scopes> {
    let invalid = |why| OAuthError::new(OAuthErrorCode::InvalidScope, why);
    let scopes = match asked.map(str::trim).filter(|s| !s.is_empty()) {
        None => granted,
        Some(param) => {
            let asked =
                Scopes::from_param(param).map_err(|_| invalid("Unknown scope requested"))?;
            if !asked.is_subset(&granted) {
                return Err(invalid("A refresh cannot widen the scopes of the grant"));
            }
            asked
        }
    };
    let scopes = Scopes::new(scopes.iter().filter(|s| app.allowed_scopes.contains(*s)));
    if scopes.is_empty() {
        return Err(invalid("The app is no longer allowed any of these scopes"));
    }
    Ok(scopes)
}

/// A rotated-out refresh token came back: it was stolen, or a copy was. The whole family goes
/// (RFC 9700 §4.14.2).
async fn revoke_reused(state: &AppState, family: &TokenFamily) -> ApiResult<()> {
    tracing::warn!(app_id = %family.app_id, "refresh token reuse; its family is revoked");
    revoke_family(state, &family.user_id, &family.app_id, &family.id).await
}

/// What introspection says about a token.
pub enum Introspection {
    /// The token (its scopes bounded by the grant's), and who it acts for, for which app.
    Active(Box<AccessGrant>),
    Inactive {
        reason: &'static str,
    },
}

/// A live access token: what an operator app may do for whom.
pub struct AccessGrant {
    pub token: AccessTokenRecord,
    pub user: User,
    pub app: OAuthApp,
}

impl AccessGrant {
    /// 403 `insufficient_scope` unless the token carries `scope` (RFC 6750 §3.1).
    pub fn require(&self, scope: Scope) -> ApiResult<()> {
        self.token.scopes.require(scope)
    }
}

/// The grant behind a bearer access token, or 401 `invalid_token` for anything else.
pub async fn authenticate(state: &AppState, token: &str) -> ApiResult<AccessGrant> {
    match introspect(state, token).await? {
        Introspection::Active(grant) => Ok(*grant),
        Introspection::Inactive { .. } => Err(ApiError::invalid_token()),
    }
}

/// Looks a token up: only a live access token is active. Anything else — a refresh token, a
/// session token, a user JWT, garbage — is inactive, and nothing else about it is told.
pub async fn introspect(state: &AppState, token: &str) -> ApiResult<Introspection> {
    let inactive = |reason| Ok(Introspection::Inactive { reason });
    if !token.starts_with("bat_") || token.len() > 64 {
        return inactive("invalid");
    }
    let table = state.table.as_ref();
    let Some(item) = table.get(&keys::access_token(&hash_secret(token))).await? else {
        return inactive("invalid");
    };
    let record: AccessTokenRecord = store::from_item(item)?;
    if record.expires_at <= state.now_unix() {
        return inactive("expired");
    }
    let family_key = keys::family(&record.user_id, &record.app_id, &record.family_id);
    let (family, user, app) = tokio::try_join!(
        async { Ok::<_, ApiError>(table.get(&family_key).await?) },
        users::get(table, &record.user_id),
        apps::get(table, &record.app_id),
    )?;
    let Some(family) = family.map(store::from_item::<TokenFamily>).transpose()? else {
        return inactive("revoked");
    };
    match (user, app) {
        (Some(user), Some(app)) if family.is_live(&user, &app) => {
            let mut token = record;
            token.scopes = family.bound(&token.scopes);
            Ok(Introspection::Active(Box::new(AccessGrant {
                token,
                user,
                app,
            })))
        }
        _ => inactive("revoked"),
    }
}

/// RFC 7009: revokes a token of the calling client. Unknown tokens, and tokens of other
/// clients, are answered the same way and left alone.
pub async fn revoke(
    state: &AppState,
    client: ClientCredentials,
    token: &str,
    meta: &RequestMeta,
) -> OAuthResult<()> {
    let app = authenticate_client(state, &client, meta).await?;
    let table = state.table.as_ref();
    let hash = hash_secret(token);
    if token.starts_with("bat_") {
        let key = keys::access_token(&hash);
        if let Some(item) = table.get(&key).await? {
            let record: AccessTokenRecord = store::from_item(item)?;
            if record.app_id == app.id {
                table.write(vec![WriteOp::delete(key)]).await?;
            }
        }
    } else if token.starts_with("brt_") {
        if let Some(item) = table.get(&keys::oauth_refresh_token(&hash)).await? {
            let record: RefreshTokenRecord = store::from_item(item)?;
            // A refresh token takes its whole family with it (RFC 7009 §2.1).
            if record.app_id == app.id {
                revoke_family(state, &record.user_id, &app.id, &record.family_id).await?;
            }
        }
    }
    Ok(())
}
