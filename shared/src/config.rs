//! Typed configuration, parsed once at start from environment variables
//! (docs/architecture.md, "Configuration").
//! Every value has a safe local default, so `cargo run` needs none of them.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

pub use crate::deadlines::Deadlines;
use crate::store::StoreConfig;

#[derive(Debug, thiserror::Error)]
#[error("configuration: {name}: {reason}")]
pub struct ConfigError {
    pub name: String,
    pub reason: String,
}

/// Where the JWT signing key comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SigningKeySource {
    /// `JWT_SIGNING_KEY`: `<kid>:<base64url Ed25519 seed>`.
    Inline(String),
    /// `JWT_SIGNING_KEY_SECRET_ARN`: a Secrets Manager secret holding the same text.
    SecretsManager(String),
    /// Generated once and kept in the data directory (local development).
    DataDir,
    /// This function only verifies tokens (`JWT_PUBLIC_KEYS`).
    None,
}

/// Where the ID-token signing keys come from (shared/src/id_token.rs has the text format).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdTokenKeySource {
    /// `ID_TOKEN_KEYS`: the secret text itself.
    Inline(String),
    /// `ID_TOKEN_KEYS_SECRET_ARN`: a Secrets Manager secret holding the same text.
    SecretsManager(String),
    /// Generated once and kept in the data directory (local development); on Lambda, none.
    DataDir,
}

impl IdTokenKeySource {
    fn parse(env: &Env) -> Self {
        match (
            env.raw("ID_TOKEN_KEYS"),
            env.raw("ID_TOKEN_KEYS_SECRET_ARN"),
        ) {
            (Some(text), _) => IdTokenKeySource::Inline(text),
            (None, Some(arn)) => IdTokenKeySource::SecretsManager(arn),
            (None, None) => IdTokenKeySource::DataDir,
        }
    }
}

/// A provider's client secret: in the environment (local runs, tests) or in Secrets Manager
/// (Lambda), read once at start. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub enum ClientSecret {
    Inline(String),
    SecretsManager(String),
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientSecret::Inline(_) => f.write_str("Inline(…)"),
            ClientSecret::SecretsManager(arn) => write!(f, "SecretsManager({arn})"),
        }
    }
}

/// Sign-in with Google (docs/architecture.md, "Sign-in with Google and GitHub").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoogleConfig {
    pub client_id: String,
    pub client_secret: ClientSecret,
    /// The OpenID Connect issuer; its discovery document names every endpoint.
    pub issuer: String,
}

/// Sign-in with GitHub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitHubConfig {
    pub client_id: String,
    pub client_secret: ClientSecret,
    pub authorize_url: String,
    pub token_url: String,
    /// The REST API's base (`/user`, `/user/emails`).
    pub api_url: String,
}

/// The sign-in providers; one without a client id is not offered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SocialConfig {
    pub google: Option<GoogleConfig>,
    pub github: Option<GitHubConfig>,
    /// Redirect URIs the API's clients may name at `/api/auth/oauth/{provider}/authorize`,
    /// besides the hosted sign-in page's own callback (exact matches).
    pub redirect_uris: Vec<String>,
}

impl SocialConfig {
    fn parse(env: &Env) -> Result<Self, ConfigError> {
        let secret = |name: &str| -> Result<ClientSecret, ConfigError> {
            let arn = format!("{name}_ARN");
            match (env.raw(name), env.raw(&arn)) {
                (Some(text), _) => Ok(ClientSecret::Inline(text)),
                (None, Some(arn)) => Ok(ClientSecret::SecretsManager(arn)),
                (None, None) => Err(ConfigError {
                    name: name.into(),
                    reason: format!("is required with the client id (or {arn})"),
                }),
            }
        };
        let google_id = env.raw("GOOGLE_CLIENT_ID");
        let google_secret = secret("GOOGLE_CLIENT_SECRET");
        let google_issuer = env.base_url("GOOGLE_ISSUER", "https://accounts.google.com".into())?;
        let google = match google_id {
            Some(client_id) => Some(GoogleConfig {
                client_id,
                client_secret: google_secret?,
                issuer: google_issuer,
            }),
            None => None,
        };
        let github_id = env.raw("GITHUB_CLIENT_ID");
        let github_secret = secret("GITHUB_CLIENT_SECRET");
        let authorize_url = env.base_url(
            "GITHUB_AUTHORIZE_URL",
            "https://github.com/login/oauth/authorize".into(),
        )?;
        let token_url = env.base_url(
            "GITHUB_TOKEN_URL",
            "https://github.com/login/oauth/access_token".into(),
        )?;
        let api_url = env.base_url("GITHUB_API_URL", "https://api.github.com".into())?;
        let github = match github_id {
            Some(client_id) => Some(GitHubConfig {
                client_id,
                client_secret: github_secret?,
                authorize_url,
                token_url,
                api_url,
            }),
            None => None,
        };
        Ok(SocialConfig {
            google,
            github,
            redirect_uris: env.list("SOCIAL_REDIRECT_URIS"),
        })
    }

    /// Reads the client secrets kept in Secrets Manager (at start, once).
    pub async fn resolve_secrets(&mut self, deadlines: &Deadlines) -> anyhow::Result<()> {
        let secrets = [
            self.google.as_mut().map(|g| &mut g.client_secret),
            self.github.as_mut().map(|g| &mut g.client_secret),
        ];
        for secret in secrets.into_iter().flatten() {
            if let ClientSecret::SecretsManager(arn) = secret {
                let text = crate::jwt::secret_string(arn, deadlines).await?;
                *secret = ClientSecret::Inline(text.trim().to_string());
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    pub access_ttl: Duration,
    pub signing_key: SigningKeySource,
    /// Extra verification keys as JWKS JSON (key rotation, verify-only functions).
    pub public_keys: Option<String>,
}

#[derive(Clone, Debug)]
pub struct PasswordConfig {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

/// A fixed-window limit (docs/architecture.md, "Abuse limits"): `limit` events per `window`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub limit: u32,
    pub window: Duration,
}

impl Limit {
    pub const fn new(limit: u32, window_secs: u64) -> Self {
        Limit {
            limit,
            window: Duration::from_secs(window_secs),
        }
    }
}

#[derive(Clone, Debug)]
pub struct RateLimits {
    /// Per IP.
    pub register: Limit,
    /// Per IP.
    pub forgot_password: Limit,
    /// Per IP.
    pub login: Limit,
    /// Wrong passwords per account and source IP: one attacker address cannot lock the owner
    /// out, it only locks itself out.
    pub failed_password_per_ip: Limit,
    /// Wrong passwords per account from every address together: the ceiling for attackers
    /// with many addresses.
    pub failed_password: Limit,
    /// Wrong TOTP or recovery codes per account (the password was right).
    pub failed_code: Limit,
    /// Mail to one address (reset, verification, email change), whether it has an account or not.
    pub mail_per_address: Limit,
    /// Per IP.
    pub session_refresh: Limit,
    /// Per user.
    pub app_registration: Limit,
    /// Per authenticated client.
    pub token_endpoint: Limit,
    /// Failed client authentications at the token and revocation endpoints, per client and
    /// source IP: junk in a client's name cannot block the client itself.
    pub client_auth_failures: Limit,
    /// Per IP.
    pub user_search: Limit,
    /// Password changes per account (each costs two hashes and a mail).
    pub password_change: Limit,
    /// Email changes per account (each mails an address).
    pub email_change: Limit,
    /// Ad events per app.
    pub ad_events: Limit,
}

impl RateLimits {
    /// The same limit everywhere (tests and load tests that must not be limited).
    pub fn all(limit: Limit) -> Self {
        RateLimits {
            register: limit,
            forgot_password: limit,
            login: limit,
            failed_password_per_ip: limit,
            failed_password: limit,
            failed_code: limit,
            mail_per_address: limit,
            session_refresh: limit,
            app_registration: limit,
            token_endpoint: limit,
            client_auth_failures: limit,
            user_search: limit,
            password_change: limit,
            email_change: limit,
            ad_events: limit,
        }
    }
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            register: Limit::new(5, 3600),
            forgot_password: Limit::new(5, 3600),
            login: Limit::new(10, 60),
            failed_password_per_ip: Limit::new(10, 900),
            failed_password: Limit::new(100, 3600),
            failed_code: Limit::new(10, 900),
            mail_per_address: Limit::new(3, 3600),
            session_refresh: Limit::new(20, 60),
            app_registration: Limit::new(3, 3600),
            token_endpoint: Limit::new(60, 60),
            client_auth_failures: Limit::new(10, 300),
            user_search: Limit::new(60, 60),
            password_change: Limit::new(5, 3600),
            email_change: Limit::new(5, 3600),
            ad_events: Limit::new(6000, 60),
        }
    }
}

/// The OAuth provider (docs/architecture.md, "OAuth").
#[derive(Clone, Debug)]
pub struct OAuthConfig {
    /// The API's public base URL: the issuer of the authorization server metadata (RFC 8414)
    /// and the base of the endpoint URLs it lists.
    pub issuer: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Token families (one per authorization) a user's grant to one app keeps; the oldest
    /// goes when a new one would pass this.
    pub max_families_per_grant: usize,
}

/// App sessions and what they earn (docs/architecture.md, "App sessions").
#[derive(Clone, Debug)]
pub struct AppSessionConfig {
    pub token_ttl: Duration,
    /// A session is alive while its last heartbeat is this recent.
    pub alive_window: Duration,
    /// A session not refreshed for this long has ended.
    pub idle_timeout: Duration,
    pub earn_per_minute: i64,
    /// Most points one user earns from app sessions in a day (UTC), every app together.
    pub daily_cap: i64,
}

/// Points and ads (docs/architecture.md, "Points", "Ads").
#[derive(Clone, Debug)]
pub struct EconomyConfig {
    /// Write shards of each app's earned balance.
    pub app_balance_shards: u32,
    /// Write shards of each campaign's budget.
    pub budget_shards: u32,
    /// The app's share of a paid ad event, in percent of the payout.
    pub ad_app_share_percent: i64,
    /// A click pays only after an impression of the same campaign this recent.
    pub click_after_impression: Duration,
    /// At most one paid click and one paid impression per user and campaign in this window.
    pub paid_event_window: Duration,
    /// How long ad event records are kept (`ttl`).
    pub ad_event_retention: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Tier {
    pub name: String,
    pub emoji: String,
    pub min_earned: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MailBackend {
    /// Print to the console and save under `<data dir>/mail/`.
    Local,
    Ses,
}

/// The live activity streams (`/api/user/activity/stream`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamConfig {
    /// A stream ends after this (at most 14 minutes: a Lambda invocation lasts 15); the client
    /// reconnects with `Last-Event-ID`.
    pub max_duration: Duration,
    pub poll_interval: Duration,
    pub keep_alive: Duration,
}

/// Where profile images are kept (docs/architecture.md, "Profile images").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImageStoreConfig {
    /// Files under `<data dir>/images`, uploaded to and served by the local server itself.
    Local,
    /// An S3 bucket (`IMAGES_BUCKET`), uploaded to by presigned POST.
    S3 {
        bucket: String,
        /// `IMAGES_S3_ENDPOINT`: an S3-compatible service instead of AWS's (moto, MinIO),
        /// addressed path-style since such endpoints have no per-bucket host names.
        endpoint: Option<String>,
    },
}

/// Passkeys (WebAuthn): the relying party the browser binds credentials to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasskeyConfig {
    /// The relying party id: a domain, the origins' host or a parent of it (`localhost` for
    /// `cargo run`). Credentials are bound to it: changing it orphans every passkey.
    pub rp_id: String,
    /// The name the browser shows when creating a passkey.
    pub rp_name: String,
    /// The exact origins (scheme, host, port) whose pages may use the passkeys; the first is
    /// the primary one.
    pub origins: Vec<String>,
    /// How long a registration or sign-in challenge may be answered.
    pub challenge_ttl: Duration,
}

impl Default for PasskeyConfig {
    fn default() -> Self {
        PasskeyConfig {
            rp_id: "localhost".into(),
            rp_name: "Buddo".into(),
            origins: vec!["http://localhost:3000".into()],
            challenge_ttl: Duration::from_secs(300),
        }
    }
}

impl PasskeyConfig {
    fn parse(env: &Env) -> Result<Self, ConfigError> {
        let d = PasskeyConfig::default();
        let rp_id = env.raw("PASSKEY_RP_ID").unwrap_or(d.rp_id).to_lowercase();
        let error = |name: &str, reason: String| ConfigError {
            name: name.into(),
            reason,
        };
        if rp_id.is_empty()
            || !rp_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(error("PASSKEY_RP_ID", "must be a domain name".into()));
        }
        let listed = env.list("PASSKEY_ORIGINS");
        let origins = if listed.is_empty() { d.origins } else { listed };
        let mut parsed = Vec::with_capacity(origins.len());
        for origin in origins {
            let url = url::Url::parse(&origin)
                .map_err(|e| error("PASSKEY_ORIGINS", format!("{origin}: {e}")))?;
            let host = url.host_str().unwrap_or_default().to_lowercase();
            let secure = url.scheme() == "https" || (url.scheme() == "http" && host == "localhost");
            if !secure || url.path() != "/" || url.query().is_some() {
                return Err(error(
                    "PASSKEY_ORIGINS",
                    format!("{origin}: must be an https origin (or http://localhost)"),
                ));
            }
            if host != rp_id && !host.ends_with(&format!(".{rp_id}")) {
                return Err(error(
                    "PASSKEY_ORIGINS",
                    format!("{origin}: its host is not PASSKEY_RP_ID ({rp_id}) or under it"),
                ));
            }
            parsed.push(url.origin().ascii_serialization());
        }
        let challenge_ttl = env
            .secs("PASSKEY_CHALLENGE_SECONDS", d.challenge_ttl)?
            .clamp(Duration::from_secs(30), Duration::from_secs(600));
        Ok(PasskeyConfig {
            rp_id,
            rp_name: env.raw("PASSKEY_RP_NAME").unwrap_or(d.rp_name),
            origins: parsed,
            challenge_ttl,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImagesConfig {
    pub store: ImageStoreConfig,
    /// `IMAGES_PUBLIC_URL`: where the published images are read (the CDN in front of the
    /// bucket); `None` for the local store's own `/local/images`.
    pub public_url: Option<String>,
}

impl Default for ImagesConfig {
    fn default() -> Self {
        ImagesConfig {
            store: ImageStoreConfig::Local,
            public_url: None,
        }
    }
}

impl ImagesConfig {
    fn parse(env: &Env) -> Result<Self, ConfigError> {
        // Every variable is read whatever the others say (`Config::variables`).
        let bucket = env.raw("IMAGES_BUCKET");
        let endpoint = match env.raw("IMAGES_S3_ENDPOINT") {
            Some(_) => Some(env.base_url("IMAGES_S3_ENDPOINT", String::new())?),
            None => None,
        };
        let public_url = match env.raw("IMAGES_PUBLIC_URL") {
            Some(_) => Some(env.base_url("IMAGES_PUBLIC_URL", String::new())?),
            None => None,
        };
        let store = match bucket {
            None => ImageStoreConfig::Local,
            Some(bucket) => {
                // A URL nobody can read the images at would publish broken profiles.
                if public_url.is_none() {
                    return Err(ConfigError {
                        name: "IMAGES_PUBLIC_URL".into(),
                        reason: "is required with IMAGES_BUCKET (the CDN serving the bucket)"
                            .into(),
                    });
                }
                ImageStoreConfig::S3 { bucket, endpoint }
            }
        };
        Ok(ImagesConfig { store, public_url })
    }

    /// The base URL of published images, given the API's own public URL (the local store
    /// serves them at `<api>/local/images`).
    pub fn public_base(&self, api_url: &str) -> String {
        match &self.public_url {
            Some(url) => url.clone(),
            None => format!("{}/local/images", api_url.trim_end_matches('/')),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub stage: String,
    pub store: StoreConfig,
    pub data_dir: PathBuf,
    /// Base of every link in mail; never taken from request headers.
    pub public_web_url: String,
    pub jwt: JwtConfig,
    /// The keys that sign ID tokens (the OAuth function group's).
    pub id_token_keys: IdTokenKeySource,
    pub refresh_ttl: Duration,
    pub verification_ttl: Duration,
    pub reset_ttl: Duration,
    pub email_change_ttl: Duration,
    pub password: PasswordConfig,
    pub totp_issuer: String,
    pub mail_from: String,
    pub mail_backend: MailBackend,
    pub rate_limits: RateLimits,
    pub oauth: OAuthConfig,
    pub app_sessions: AppSessionConfig,
    pub economy: EconomyConfig,
    /// How long activity entries are kept.
    pub activity_retention: Duration,
    /// How recent a login must be for security-sensitive changes (TOTP, recovery codes,
    /// email change).
    pub recent_login: Duration,
    /// How long a remembered device stands in for the second factor (whole days).
    pub trusted_device_ttl: Duration,
    /// How long a subscription stays `past_due` (renewals still trying to charge it) before it
    /// is canceled.
    pub subscription_grace: Duration,
    /// How often the local server runs the subscription renewals (on Lambda: the schedule).
    pub renewal_interval: Duration,
    /// The live activity streams: how long one lasts before the client reconnects, how often
    /// it reads the table, how often a keep-alive comment goes out when nothing happens.
    pub stream: StreamConfig,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Lower-case addresses that become admins once verified.
    pub admin_emails: Vec<String>,
    pub referral_bonus: i64,
    pub tiers: Vec<Tier>,
    /// (highest registration number, multiplier), ascending; the last applies to everyone after.
    pub signup_multipliers: Vec<(u64, f64)>,
    pub default_multiplier: f64,
    pub cors_allowed_origins: Vec<String>,
    pub deadlines: Deadlines,
    /// Sign-in with Google and GitHub.
    pub social: SocialConfig,
    /// Profile and banner images.
    pub images: ImagesConfig,
    /// Webhook endpoints may be `http://` and on loopback or private addresses (local runs and
    /// tests only: `WEBHOOKS_ALLOW_PRIVATE`).
    pub webhooks_allow_private: bool,
    /// Passkeys: the relying party and its origins.
    pub passkeys: PasskeyConfig,
}

fn default_tiers() -> Vec<Tier> {
    [
        ("bronze", "🥉", 0),
        ("silver", "🥈", 1_000),
        ("gold", "🥇", 10_000),
        ("platinum", "💠", 50_000),
        ("diamond", "💎", 250_000),
    ]
    .into_iter()
    .map(|(name, emoji, min)| Tier {
        name: name.into(),
        emoji: emoji.into(),
        min_earned: min,
    })
    .collect()
}

impl Default for Config {
    fn default() -> Self {
        let data_dir = PathBuf::from(".buddo");
        Config {
            stage: "local".into(),
            store: StoreConfig::Embedded(data_dir.join("buddo.redb")),
            data_dir,
            public_web_url: "http://localhost:3000".into(),
            jwt: JwtConfig {
                issuer: "buddo".into(),
                audience: "buddo-api".into(),
                access_ttl: Duration::from_secs(3600),
                signing_key: SigningKeySource::DataDir,
                public_keys: None,
            },
            id_token_keys: IdTokenKeySource::DataDir,
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            verification_ttl: Duration::from_secs(24 * 3600),
            reset_ttl: Duration::from_secs(3600),
            email_change_ttl: Duration::from_secs(3600),
            password: PasswordConfig {
                memory_kib: 19 * 1024,
                iterations: 2,
                parallelism: 1,
            },
            totp_issuer: "Buddo".into(),
            mail_from: "Buddo <no-reply@buddo.local>".into(),
            mail_backend: MailBackend::Local,
            rate_limits: RateLimits::default(),
            oauth: OAuthConfig {
                issuer: "http://localhost:3000".into(),
                access_ttl: Duration::from_secs(3600),
                refresh_ttl: Duration::from_secs(30 * 24 * 3600),
                max_families_per_grant: 25,
            },
            app_sessions: AppSessionConfig {
                token_ttl: Duration::from_secs(15 * 60),
                alive_window: Duration::from_secs(5 * 60),
                idle_timeout: Duration::from_secs(30 * 60),
                earn_per_minute: 1,
                daily_cap: 240,
            },
            economy: EconomyConfig {
                app_balance_shards: 10,
                budget_shards: 10,
                ad_app_share_percent: 10,
                click_after_impression: Duration::from_secs(30 * 60),
                paid_event_window: Duration::from_secs(24 * 3600),
                ad_event_retention: Duration::from_secs(90 * 24 * 3600),
            },
            activity_retention: Duration::from_secs(90 * 24 * 3600),
            recent_login: Duration::from_secs(15 * 60),
            trusted_device_ttl: Duration::from_secs(30 * 24 * 3600),
            subscription_grace: Duration::from_secs(3 * 24 * 3600),
            renewal_interval: Duration::from_secs(300),
            stream: StreamConfig {
                max_duration: Duration::from_secs(600),
                poll_interval: Duration::from_millis(1000),
                keep_alive: Duration::from_secs(15),
            },
            trust_forwarded_for: false,
            admin_emails: Vec::new(),
            referral_bonus: 100,
            tiers: default_tiers(),
            signup_multipliers: vec![(100, 3.0), (1_000, 2.0), (10_000, 1.5)],
            default_multiplier: 1.0,
            cors_allowed_origins: vec!["*".into()],
            deadlines: Deadlines::default(),
            social: SocialConfig::default(),
            images: ImagesConfig::default(),
            webhooks_allow_private: false,
            passkeys: PasskeyConfig::default(),
        }
    }
}

/// Reads variables through `get`, so tests can parse a map instead of the environment.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn raw(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    fn parse<T: FromStr>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.raw(name) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|e: T::Err| ConfigError {
                name: name.into(),
                reason: e.to_string(),
            }),
        }
    }

    fn secs(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        Ok(Duration::from_secs(self.parse(name, default.as_secs())?))
    }

    /// Whole days between 1 and 3650 (retention periods, remembered devices).
    fn days(&self, name: &str, default_days: u64) -> Result<Duration, ConfigError> {
        let days = self.parse::<u64>(name, default_days)?.clamp(1, 3650);
        Ok(Duration::from_secs(days * 24 * 3600))
    }

    fn millis(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        let ms: u64 = self.parse(name, default.as_millis() as u64)?;
        if ms == 0 {
            return Err(ConfigError {
                name: name.into(),
                reason: "must be at least 1 millisecond".into(),
            });
        }
        Ok(Duration::from_millis(ms))
    }

    fn bool(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.raw(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
            Some(v) => Err(ConfigError {
                name: name.into(),
                reason: format!("{v:?} is not a boolean"),
            }),
        }
    }

    fn limit(&self, name: &str, default: Limit) -> Result<Limit, ConfigError> {
        // `<count>/<window seconds>`, e.g. `10/60`.
        let Some(v) = self.raw(name) else {
            return Ok(default);
        };
        let err = || ConfigError {
            name: name.into(),
            reason: format!("{v:?} is not <count>/<seconds>"),
        };
        let (count, window) = v.split_once('/').ok_or_else(err)?;
        let limit = count.trim().parse().map_err(|_| err())?;
        let window: u64 = window.trim().parse().map_err(|_| err())?;
        if window == 0 {
            return Err(err());
        }
        Ok(Limit::new(limit, window))
    }

    fn list(&self, name: &str) -> Vec<String> {
        self.raw(name)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A base URL: http(s), without a trailing slash.
    fn base_url(&self, name: &str, default: String) -> Result<String, ConfigError> {
        let url = self
            .raw(name)
            .unwrap_or(default)
            .trim_end_matches('/')
            .to_string();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ConfigError {
                name: name.into(),
                reason: "must be an http(s) URL".into(),
            });
        }
        Ok(url)
    }
}

/// The data directory, and the store (in it, unless it is DynamoDB or memory).
fn parse_store(env: &Env, default_dir: PathBuf) -> Result<(PathBuf, StoreConfig), ConfigError> {
    let data_dir = env
        .raw("BUDDO_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or(default_dir);
    let table = env.raw("TABLE_NAME").unwrap_or_else(|| "buddo".into());
    let store = match env.raw("BUDDO_STORE").as_deref() {
        None | Some("embedded") => StoreConfig::Embedded(data_dir.join("buddo.redb")),
        Some("memory") => StoreConfig::Memory,
        Some("dynamodb") => StoreConfig::Dynamo { table },
        Some(other) => {
            return Err(ConfigError {
                name: "BUDDO_STORE".into(),
                reason: format!("{other:?} is not embedded, memory or dynamodb"),
            })
        }
    };
    Ok((data_dir, store))
}

impl JwtConfig {
    fn parse(env: &Env, d: JwtConfig) -> Result<Self, ConfigError> {
        let public_keys = env.raw("JWT_PUBLIC_KEYS");
        let signing_key = match (
            env.raw("JWT_SIGNING_KEY"),
            env.raw("JWT_SIGNING_KEY_SECRET_ARN"),
        ) {
            (Some(key), _) => SigningKeySource::Inline(key),
            (None, Some(arn)) => SigningKeySource::SecretsManager(arn),
            (None, None) if public_keys.is_some() => SigningKeySource::None,
            (None, None) => SigningKeySource::DataDir,
        };
        Ok(JwtConfig {
            issuer: env.raw("JWT_ISSUER").unwrap_or(d.issuer),
            audience: env.raw("JWT_AUDIENCE").unwrap_or(d.audience),
            access_ttl: env.secs("ACCESS_TOKEN_TTL_SECONDS", d.access_ttl)?,
            signing_key,
            public_keys,
        })
    }
}

impl PasswordConfig {
    fn parse(env: &Env, d: PasswordConfig) -> Result<Self, ConfigError> {
        Ok(PasswordConfig {
            memory_kib: env.parse("ARGON2_MEMORY_KIB", d.memory_kib)?,
            iterations: env.parse("ARGON2_ITERATIONS", d.iterations)?,
            parallelism: env.parse("ARGON2_PARALLELISM", d.parallelism)?,
        })
    }
}

impl MailBackend {
    fn parse(env: &Env) -> Result<Self, ConfigError> {
        match env.raw("MAIL_BACKEND").as_deref() {
            None | Some("local") => Ok(MailBackend::Local),
            Some("ses") => Ok(MailBackend::Ses),
            Some(other) => Err(ConfigError {
                name: "MAIL_BACKEND".into(),
                reason: format!("{other:?} is not local or ses"),
            }),
        }
    }
}

/// A field of [`RateLimits`].
type LimitField = fn(&mut RateLimits) -> &mut Limit;

impl RateLimits {
    /// Each limit and the variable that sets it (`<count>/<window seconds>`).
    const VARIABLES: [(&'static str, LimitField); 15] = [
        ("RATE_LIMIT_REGISTER", |r| &mut r.register),
        ("RATE_LIMIT_FORGOT_PASSWORD", |r| &mut r.forgot_password),
        ("RATE_LIMIT_LOGIN", |r| &mut r.login),
        ("RATE_LIMIT_FAILED_PASSWORD_PER_IP", |r| {
            &mut r.failed_password_per_ip
        }),
        ("RATE_LIMIT_FAILED_PASSWORD", |r| &mut r.failed_password),
        ("RATE_LIMIT_FAILED_CODE", |r| &mut r.failed_code),
        ("RATE_LIMIT_MAIL_PER_ADDRESS", |r| &mut r.mail_per_address),
        ("RATE_LIMIT_SESSION_REFRESH", |r| &mut r.session_refresh),
        ("RATE_LIMIT_APP_REGISTRATION", |r| &mut r.app_registration),
        ("RATE_LIMIT_TOKEN", |r| &mut r.token_endpoint),
        ("RATE_LIMIT_CLIENT_AUTH_FAILURES", |r| {
            &mut r.client_auth_failures
        }),
        ("RATE_LIMIT_USER_SEARCH", |r| &mut r.user_search),
        ("RATE_LIMIT_PASSWORD_CHANGE", |r| &mut r.password_change),
        ("RATE_LIMIT_EMAIL_CHANGE", |r| &mut r.email_change),
        ("RATE_LIMIT_AD_EVENTS", |r| &mut r.ad_events),
    ];

    fn parse(env: &Env) -> Result<Self, ConfigError> {
        let mut limits = RateLimits::default();
        for (name, field) in Self::VARIABLES {
            let limit = field(&mut limits);
            *limit = env.limit(name, *limit)?;
        }
        Ok(limits)
    }
}

impl OAuthConfig {
    fn parse(env: &Env, d: OAuthConfig) -> Result<Self, ConfigError> {
        Ok(OAuthConfig {
            issuer: env.base_url("PUBLIC_API_URL", d.issuer)?,
            access_ttl: env.secs("OAUTH_ACCESS_TOKEN_TTL_SECONDS", d.access_ttl)?,
            refresh_ttl: env.secs("OAUTH_REFRESH_TOKEN_TTL_SECONDS", d.refresh_ttl)?,
            max_families_per_grant: env
                .parse("OAUTH_MAX_FAMILIES_PER_GRANT", d.max_families_per_grant)?,
        })
    }
}

impl AppSessionConfig {
    fn parse(env: &Env, d: AppSessionConfig) -> Result<Self, ConfigError> {
        Ok(AppSessionConfig {
            token_ttl: env.secs("SESSION_TOKEN_TTL_SECONDS", d.token_ttl)?,
            alive_window: env.secs("SESSION_ALIVE_SECONDS", d.alive_window)?,
            idle_timeout: env.secs("SESSION_IDLE_TIMEOUT_SECONDS", d.idle_timeout)?,
            earn_per_minute: env.parse("EARN_PER_MINUTE", d.earn_per_minute)?,
            daily_cap: env.parse("SESSION_DAILY_CAP", d.daily_cap)?,
        })
    }
}

impl EconomyConfig {
    fn parse(env: &Env, d: EconomyConfig) -> Result<Self, ConfigError> {
        Ok(EconomyConfig {
            app_balance_shards: env
                .parse("APP_BALANCE_SHARDS", d.app_balance_shards)?
                .clamp(1, 100),
            budget_shards: env
                .parse("CAMPAIGN_BUDGET_SHARDS", d.budget_shards)?
                .clamp(1, 100),
            ad_app_share_percent: env
                .parse("AD_APP_SHARE_PERCENT", d.ad_app_share_percent)?
                .clamp(0, 100),
            click_after_impression: d.click_after_impression,
            paid_event_window: d.paid_event_window,
            ad_event_retention: env.days("AD_EVENT_RETENTION_DAYS", 90)?,
        })
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Each group of settings parses its own variables.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&get);
        let d = Config::default();
        let (data_dir, store) = parse_store(&env, d.data_dir)?;
        let mail_backend = MailBackend::parse(&env)?;
        let public_web_url = env.base_url("PUBLIC_WEB_URL", d.public_web_url)?;
        let oauth = OAuthConfig::parse(&env, d.oauth)?;
        let app_sessions = AppSessionConfig::parse(&env, d.app_sessions)?;
        let economy = EconomyConfig::parse(&env, d.economy)?;
        let rate_limits = RateLimits::parse(&env)?;
        let tiers = match env.raw("TIERS") {
            None => d.tiers,
            Some(v) => parse_tiers(&v).map_err(|reason| ConfigError {
                name: "TIERS".into(),
                reason,
            })?,
        };
        let cors = env.list("CORS_ALLOWED_ORIGINS");
        Ok(Config {
            stage: env.raw("STAGE").unwrap_or(d.stage),
            store,
            data_dir,
            public_web_url,
            jwt: JwtConfig::parse(&env, d.jwt)?,
            id_token_keys: IdTokenKeySource::parse(&env),
            refresh_ttl: env.secs("REFRESH_TOKEN_TTL_SECONDS", d.refresh_ttl)?,
            verification_ttl: env.secs("VERIFICATION_TOKEN_TTL_SECONDS", d.verification_ttl)?,
            reset_ttl: env.secs("RESET_TOKEN_TTL_SECONDS", d.reset_ttl)?,
            email_change_ttl: env.secs("EMAIL_CHANGE_TOKEN_TTL_SECONDS", d.email_change_ttl)?,
            password: PasswordConfig::parse(&env, d.password)?,
            totp_issuer: env.raw("TOTP_ISSUER").unwrap_or(d.totp_issuer),
            mail_from: env.raw("MAIL_FROM").unwrap_or(d.mail_from),
            mail_backend,
            rate_limits,
            oauth,
            app_sessions,
            economy,
            activity_retention: env.days("ACTIVITY_RETENTION_DAYS", 90)?,
            recent_login: env.secs("RECENT_LOGIN_SECONDS", d.recent_login)?,
            trusted_device_ttl: env.days("TRUSTED_DEVICE_DAYS", 30)?,
            subscription_grace: env.days("SUBSCRIPTION_GRACE_DAYS", 3)?,
            renewal_interval: env.secs("RENEWAL_INTERVAL_SECONDS", d.renewal_interval)?,
            stream: StreamConfig {
                max_duration: env
                    .secs("STREAM_MAX_SECONDS", d.stream.max_duration)?
                    .clamp(Duration::from_secs(1), Duration::from_secs(840)),
                poll_interval: env.millis("STREAM_POLL_MS", d.stream.poll_interval)?,
                keep_alive: env
                    .secs("STREAM_KEEPALIVE_SECONDS", d.stream.keep_alive)?
                    .max(Duration::from_secs(1)),
            },
            trust_forwarded_for: env.bool("TRUST_FORWARDED_FOR", false)?,
            admin_emails: env
                .list("BUDDO_ADMIN_EMAILS")
                .into_iter()
                .map(|e| e.to_lowercase())
                .collect(),
            referral_bonus: env.parse("REFERRAL_BONUS", d.referral_bonus)?,
            tiers,
            signup_multipliers: d.signup_multipliers,
            default_multiplier: d.default_multiplier,
            cors_allowed_origins: if cors.is_empty() {
                d.cors_allowed_origins
            } else {
                cors
            },
            deadlines: parse_deadlines(&env)?,
            social: SocialConfig::parse(&env)?,
            images: ImagesConfig::parse(&env)?,
            webhooks_allow_private: env.bool("WEBHOOKS_ALLOW_PRIVATE", false)?,
            passkeys: PasskeyConfig::parse(&env)?,
        })
    }

    /// Every variable the parsers read, in the order they read them: what `.env.example`
    /// and the README's configuration table document.
    pub fn variables() -> Vec<String> {
        let read = std::cell::RefCell::new(Vec::<String>::new());
        let _ = Config::from_lookup(|name| {
            let mut read = read.borrow_mut();
            if !read.iter().any(|n| n == name) {
                read.push(name.to_string());
            }
            None
        });
        read.into_inner()
    }

    /// Multiplier for the n-th registered user.
    pub fn signup_multiplier(&self, registration_number: u64) -> f64 {
        self.signup_multipliers
            .iter()
            .find(|(max, _)| registration_number <= *max)
            .map(|(_, m)| *m)
            .unwrap_or(self.default_multiplier)
    }

    /// The highest tier whose threshold `total_earned` reaches.
    pub fn tier(&self, total_earned: i64) -> &Tier {
        self.tiers
            .iter()
            .rev()
            .find(|t| total_earned >= t.min_earned)
            .unwrap_or(&self.tiers[0])
    }

    /// Refuses, at start, a configuration that asks for something `built` does not carry (a
    /// Lambda function binary is built with only what its function runs): one error naming the
    /// variable and the way out, instead of a failure at the first request. `sends_mail`: the
    /// process sends mail itself (the mailer, the local server); the HTTP functions only queue it.
    pub fn check_features(&self, built: Features, sends_mail: bool) -> Result<(), ConfigError> {
        let missing = |name: &str, reason: String| {
            Err(ConfigError {
                name: name.into(),
                reason,
            })
        };
        if !built.embedded {
            let asked = match self.store {
                StoreConfig::Embedded(_) => Some("embedded (the default)"),
                StoreConfig::Memory => Some("memory"),
                StoreConfig::Dynamo { .. } => None,
            };
            if let Some(asked) = asked {
                return missing(
                    "BUDDO_STORE",
                    format!(
                        "{asked} needs the embedded store, which this binary is built without \
                         (cargo feature `embedded`): set BUDDO_STORE=dynamodb"
                    ),
                );
            }
        }
        if !built.secrets {
            if matches!(self.jwt.signing_key, SigningKeySource::SecretsManager(_)) {
                return missing(
                    "JWT_SIGNING_KEY_SECRET_ARN",
                    "this binary is built without the Secrets Manager client (cargo feature \
                     `secrets`; only the auth function signs access tokens): give it \
                     JWT_PUBLIC_KEYS instead"
                        .into(),
                );
            }
            if matches!(self.id_token_keys, IdTokenKeySource::SecretsManager(_)) {
                return missing(
                    "ID_TOKEN_KEYS_SECRET_ARN",
                    "this binary is built without the Secrets Manager client (cargo feature \
                     `secrets`; only the oauth function signs ID tokens): leave it unset"
                        .into(),
                );
            }
        }
        let social = &self.social;
        if !built.social && (social.google.is_some() || social.github.is_some()) {
            let name = if social.google.is_some() {
                "GOOGLE_CLIENT_ID"
            } else {
                "GITHUB_CLIENT_ID"
            };
            return missing(
                name,
                "this binary is built without sign-in providers (cargo feature `social`; only \
                 the auth and oauth functions sign people in): leave it unset"
                    .into(),
            );
        }
        if !built.secrets {
            let arn = [
                social
                    .google
                    .as_ref()
                    .map(|g| ("GOOGLE_CLIENT_SECRET_ARN", &g.client_secret)),
                social
                    .github
                    .as_ref()
                    .map(|g| ("GITHUB_CLIENT_SECRET_ARN", &g.client_secret)),
            ]
            .into_iter()
            .flatten()
            .find(|(_, s)| matches!(s, ClientSecret::SecretsManager(_)));
            if let Some((name, _)) = arn {
                return missing(
                    name,
                    "this binary is built without the Secrets Manager client (cargo feature \
                     `secrets`)"
                        .into(),
                );
            }
        }
        if built.images && !built.server && self.images.store == ImageStoreConfig::Local {
            return missing(
                "IMAGES_BUCKET",
                "the local image store is served by the local server, which this binary is \
                 built without (cargo feature `server`): set IMAGES_BUCKET"
                    .into(),
            );
        }
        if sends_mail && !built.ses && self.mail_backend == MailBackend::Ses {
            return missing(
                "MAIL_BACKEND",
                "ses needs the SES client, which this binary is built without (cargo feature \
                 `ses`; only the mailer sends mail): set MAIL_BACKEND=local"
                    .into(),
            );
        }
        Ok(())
    }
}

/// The cargo features of `buddo-shared` a build carries (shared/Cargo.toml): what a binary can
/// be configured to use. The local binary and the tests have all of them; each Lambda function
/// binary only what its function runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    /// The embedded store (redb): `BUDDO_STORE=embedded|memory`.
    pub embedded: bool,
    /// Serving HTTP on `$PORT` outside Lambda.
    pub server: bool,
    /// Generating RSA keys for ID tokens.
    pub keygen: bool,
    /// Sending mail through SES.
    pub ses: bool,
    /// Reading keys from Secrets Manager.
    pub secrets: bool,
    /// Signing in with Google and GitHub.
    pub social: bool,
    /// Profile images (S3, and checking uploads are images).
    pub images: bool,
}

impl Features {
    /// This build's.
    pub const BUILT: Features = Features {
        embedded: cfg!(feature = "embedded"),
        server: cfg!(feature = "server"),
        keygen: cfg!(feature = "keygen"),
        ses: cfg!(feature = "ses"),
        secrets: cfg!(feature = "secrets"),
        social: cfg!(feature = "social"),
        images: cfg!(feature = "images"),
    };
    /// Everything (the `local` feature).
    pub const ALL: Features = Features {
        embedded: true,
        server: true,
        keygen: true,
        ses: true,
        secrets: true,
        social: true,
        images: true,
    };
    /// Nothing beyond DynamoDB and the Lambda runtime.
    pub const NONE: Features = Features {
        embedded: false,
        server: false,
        keygen: false,
        ses: false,
        secrets: false,
        social: false,
        images: false,
    };
}

/// The deadlines, each checked to fit inside the next.
fn parse_deadlines(env: &Env) -> Result<Deadlines, ConfigError> {
    let d = Deadlines::default();
    let parsed = Deadlines {
        aws_connect: env.millis("AWS_CONNECT_TIMEOUT_MS", d.aws_connect)?,
        aws_attempt: env.millis("AWS_ATTEMPT_TIMEOUT_MS", d.aws_attempt)?,
        aws_operation: env.millis("AWS_OPERATION_TIMEOUT_MS", d.aws_operation)?,
        store_call: env.millis("STORE_CALL_TIMEOUT_MS", d.store_call)?,
        provider_call: env.millis("PROVIDER_TIMEOUT_MS", d.provider_call)?,
        request: env.millis("REQUEST_TIMEOUT_MS", d.request)?,
        max_in_flight: env.parse("MAX_IN_FLIGHT_REQUESTS", d.max_in_flight)?.max(1),
    };
    let nested = [
        (
            "AWS_ATTEMPT_TIMEOUT_MS",
            parsed.aws_attempt,
            "AWS_OPERATION_TIMEOUT_MS",
            parsed.aws_operation,
        ),
        (
            "AWS_OPERATION_TIMEOUT_MS",
            parsed.aws_operation,
            "STORE_CALL_TIMEOUT_MS",
            parsed.store_call,
        ),
        (
            "STORE_CALL_TIMEOUT_MS",
            parsed.store_call,
            "REQUEST_TIMEOUT_MS",
            parsed.request,
        ),
    ];
    if parsed.provider_call * 2 > parsed.request {
        return Err(ConfigError {
            name: "PROVIDER_TIMEOUT_MS".into(),
            reason: "must not be longer than half of REQUEST_TIMEOUT_MS (a sign-in calls its \
                     provider twice in a row)"
                .into(),
        });
    }
    for (inner, a, outer, b) in nested {
        if a > b {
            return Err(ConfigError {
                name: inner.into(),
                reason: format!("must not be longer than {outer}"),
            });
        }
    }
    Ok(parsed)
}

/// `name:emoji:min,…`, ascending by `min`, the first at 0.
fn parse_tiers(v: &str) -> Result<Vec<Tier>, String> {
    let mut tiers = Vec::new();
    for part in v.split(',') {
        let fields: Vec<&str> = part.trim().split(':').collect();
        let [name, emoji, min] = fields.as_slice() else {
            return Err(format!("{part:?} is not name:emoji:min"));
        };
        let min_earned: i64 = min
            .parse()
            .map_err(|_| format!("{min:?} is not a number"))?;
        if let Some(last) = tiers.last() {
            let last: &Tier = last;
            if min_earned <= last.min_earned {
                return Err("thresholds must ascend".into());
            }
        } else if min_earned != 0 {
            return Err("the first tier must start at 0".into());
        }
        tiers.push(Tier {
            name: name.to_string(),
            emoji: emoji.to_string(),
            min_earned,
        });
    }
    Ok(tiers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_need_no_variables() {
        let c = parse(&[]).unwrap();
        assert_eq!(
            c.store,
            StoreConfig::Embedded(PathBuf::from(".buddo/buddo.redb"))
        );
        assert_eq!(c.password.memory_kib, 19456);
        assert_eq!(c.rate_limits.login, Limit::new(10, 60));
        assert_eq!(c.jwt.signing_key, SigningKeySource::DataDir);
        assert_eq!(c.id_token_keys, IdTokenKeySource::DataDir);
    }

    #[test]
    fn id_token_keys_inline_before_secrets_manager() {
        let arn = ("ID_TOKEN_KEYS_SECRET_ARN", "arn:aws:secretsmanager:x");
        let c = parse(&[arn]).unwrap();
        assert_eq!(
            c.id_token_keys,
            IdTokenKeySource::SecretsManager(arn.1.into())
        );
        let c = parse(&[arn, ("ID_TOKEN_KEYS", "{}")]).unwrap();
        assert_eq!(c.id_token_keys, IdTokenKeySource::Inline("{}".into()));
    }

    #[test]
    fn tiers_and_multipliers_follow_the_design() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.tier(0).name, "bronze");
        assert_eq!(c.tier(999).name, "bronze");
        assert_eq!(c.tier(1_000).name, "silver");
        assert_eq!(c.tier(250_000).emoji, "💎");
        assert_eq!(c.signup_multiplier(1), 3.0);
        assert_eq!(c.signup_multiplier(100), 3.0);
        assert_eq!(c.signup_multiplier(101), 2.0);
        assert_eq!(c.signup_multiplier(10_000), 1.5);
        assert_eq!(c.signup_multiplier(10_001), 1.0);
    }

    #[test]
    fn bad_values_are_named() {
        let err = parse(&[("RATE_LIMIT_LOGIN", "ten")]).unwrap_err();
        assert_eq!(err.name, "RATE_LIMIT_LOGIN");
        assert!(parse(&[("BUDDO_STORE", "postgres")]).is_err());
        assert!(parse(&[("PUBLIC_WEB_URL", "ftp://x")]).is_err());
        let c = parse(&[
            ("RATE_LIMIT_LOGIN", "3/10"),
            ("BUDDO_STORE", "dynamodb"),
            ("TABLE_NAME", "t"),
        ])
        .unwrap();
        assert_eq!(c.rate_limits.login, Limit::new(3, 10));
        assert_eq!(c.store, StoreConfig::Dynamo { table: "t".into() });
    }

    #[test]
    fn passkey_origins_must_be_secure_and_under_the_relying_party() {
        let local = parse(&[]).unwrap().passkeys;
        assert_eq!(local.rp_id, "localhost");
        assert_eq!(local.origins, ["http://localhost:3000"]);
        assert_eq!(local.challenge_ttl, Duration::from_secs(300));
        let c = parse(&[
            ("PASSKEY_RP_ID", "Buddo.Example.com"),
            (
                "PASSKEY_ORIGINS",
                "https://api.buddo.example.com/, https://buddo.example.com:8443",
            ),
            ("PASSKEY_CHALLENGE_SECONDS", "5"),
        ])
        .unwrap()
        .passkeys;
        assert_eq!(c.rp_id, "buddo.example.com");
        assert_eq!(
            c.origins,
            [
                "https://api.buddo.example.com",
                "https://buddo.example.com:8443"
            ]
        );
        assert_eq!(c.challenge_ttl, Duration::from_secs(30), "at least 30 s");
        for (rp, origins) in [
            ("buddo.example.com", "http://buddo.example.com"),
            ("buddo.example.com", "https://evilbuddo.example.com"),
            ("buddo.example.com", "https://example.com"),
            ("buddo.example.com", "https://buddo.example.com/signin"),
            ("buddo.example.com", "not a url"),
            ("buddo example", "https://buddo.example.com"),
        ] {
            let err = parse(&[("PASSKEY_RP_ID", rp), ("PASSKEY_ORIGINS", origins)]).unwrap_err();
            assert!(err.name.starts_with("PASSKEY_"), "{rp} {origins}: {err:?}");
        }
    }

    #[test]
    fn every_rate_limit_has_its_own_variable() {
        let vars: Vec<(String, String)> = RateLimits::VARIABLES
            .iter()
            .enumerate()
            .map(|(i, (name, _))| (name.to_string(), format!("{}/60", i + 1)))
            .collect();
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut limits = parse(&vars).unwrap().rate_limits;
        for (i, (name, field)) in RateLimits::VARIABLES.iter().enumerate() {
            assert_eq!(*field(&mut limits), Limit::new(i as u32 + 1, 60), "{name}");
        }
    }

    #[test]
    fn images_go_to_s3_with_a_bucket_and_its_public_url() {
        let c = parse(&[]).unwrap();
        assert_eq!(c.images.store, ImageStoreConfig::Local);
        assert_eq!(
            c.images.public_base("http://localhost:3000/"),
            "http://localhost:3000/local/images"
        );
        let err = parse(&[("IMAGES_BUCKET", "b")]).unwrap_err();
        assert_eq!(err.name, "IMAGES_PUBLIC_URL");
        let c = parse(&[
            ("IMAGES_BUCKET", "b"),
            ("IMAGES_PUBLIC_URL", "https://cdn.example.com/"),
            ("IMAGES_S3_ENDPOINT", "http://127.0.0.1:5000"),
        ])
        .unwrap();
        assert_eq!(
            c.images.store,
            ImageStoreConfig::S3 {
                bucket: "b".into(),
                endpoint: Some("http://127.0.0.1:5000".into())
            }
        );
        assert_eq!(c.images.public_base("x"), "https://cdn.example.com");
        assert!(parse(&[("IMAGES_PUBLIC_URL", "ftp://x")]).is_err());
    }

    #[test]
    fn the_variables_are_those_the_parsers_read() {
        let names = Config::variables();
        for name in [
            "BUDDO_DATA_DIR",
            "TABLE_NAME",
            "JWT_PUBLIC_KEYS",
            "APP_BALANCE_SHARDS",
        ] {
            assert!(
                names.iter().any(|n| n == name),
                "{name} missing from {names:?}"
            );
        }
        assert!(names.iter().any(|n| n == "RATE_LIMIT_AD_EVENTS"));
        assert!(names.iter().any(|n| n == "MAX_IN_FLIGHT_REQUESTS"));
    }
}
