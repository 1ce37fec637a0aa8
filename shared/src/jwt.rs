//! User access tokens: EdDSA (Ed25519) JWTs with a `kid`, per RFC 8725 and RFC 9068.
//! Only EdDSA is accepted; `iss`, `aud`, `typ`, `exp` and `iat` are checked against
//! configuration and the clock. The signing key lives only in the auth function; every
//! other function verifies with the public keys (JWKS).

use std::collections::HashMap;
use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ed25519_dalek::SigningKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::{JwtConfig, SigningKeySource};

pub const TOKEN_TYPE: &str = "at+jwt";
/// Tolerated clock difference for `iat` in the future.
const IAT_LEEWAY_SECONDS: i64 = 60;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// User id.
    pub sub: String,
    /// Login session id: checked on every request so revocation is immediate.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("malformed token")]
    Malformed,
    #[error("algorithm not allowed")]
    Algorithm,
    #[error("unknown key id")]
    UnknownKey,
    #[error("wrong token type")]
    Type,
    #[error("invalid signature or claims")]
    Invalid,
    #[error("token expired")]
    Expired,
    #[error("token issued in the future")]
    NotYetValid,
    #[error("this function cannot sign tokens")]
    NoSigningKey,
}

/// An Ed25519 key pair with its key id.
pub struct SigningKeyPair {
    pub kid: String,
    key: SigningKey,
}

impl SigningKeyPair {
    pub fn generate() -> Self {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let kid = crate::crypto::hex(&sha2_16(key.verifying_key().as_bytes()));
        SigningKeyPair { kid, key }
    }

    /// Parses `<kid>:<base64url 32-byte seed>`.
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let (kid, seed) = text
            .trim()
            .split_once(':')
            .ok_or_else(|| anyhow::anyhow!("signing key must be <kid>:<base64url seed>"))?;
        let seed: [u8; 32] = B64
            .decode(seed.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| anyhow::anyhow!("signing key seed must be 32 bytes, base64url"))?;
        if kid.is_empty() {
            anyhow::bail!("signing key id is empty");
        }
        Ok(SigningKeyPair {
            kid: kid.to_string(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// The text form `parse` reads; it is a secret.
    pub fn to_secret_text(&self) -> String {
        format!("{}:{}", self.kid, B64.encode(self.key.to_bytes()))
    }

    pub fn public_x(&self) -> String {
        B64.encode(self.key.verifying_key().as_bytes())
    }

    pub(crate) fn pkcs8_der(&self) -> Vec<u8> {
        // PKCS#8 v1 wrapping of an Ed25519 seed (RFC 8410).
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&self.key.to_bytes());
        der
    }
}

pub(crate) fn sha2_16(bytes: &[u8]) -> [u8; 8] {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(bytes);
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

pub struct JwtKeys {
    issuer: String,
    audience: String,
    access_ttl_seconds: i64,
    signing: Option<(String, EncodingKey)>,
    verifying: HashMap<String, DecodingKey>,
    jwks: Value,
}

impl JwtKeys {
    /// Keys from configuration: the signing key (if this function has one) plus any extra
    /// public keys.
    pub async fn load(
        config: &JwtConfig,
        data_dir: &Path,
        deadlines: &crate::deadlines::Deadlines,
    ) -> anyhow::Result<Self> {
        let pair = match &config.signing_key {
            SigningKeySource::Inline(text) => Some(SigningKeyPair::parse(text)?),
            SigningKeySource::SecretsManager(arn) => Some(fetch_secret(arn, deadlines).await?),
            SigningKeySource::DataDir => Some(load_or_create(data_dir)?),
            SigningKeySource::None => None,
        };
        Self::new(config, pair, config.public_keys.as_deref())
    }

    pub fn new(
        config: &JwtConfig,
        pair: Option<SigningKeyPair>,
        public_jwks: Option<&str>,
    ) -> anyhow::Result<Self> {
        let mut verifying = HashMap::new();
        let mut jwk_list = Vec::new();
        let mut signing = None;
        if let Some(pair) = pair {
            let x = pair.public_x();
            verifying.insert(pair.kid.clone(), DecodingKey::from_ed_components(&x)?);
            jwk_list.push(jwk(&pair.kid, &x));
            signing = Some((
                pair.kid.clone(),
                EncodingKey::from_ed_der(&pair.pkcs8_der()),
            ));
        }
        if let Some(text) = public_jwks {
            let parsed: Value = serde_json::from_str(text)
                .map_err(|e| anyhow::anyhow!("JWT_PUBLIC_KEYS is not JSON: {e}"))?;
            for key in parsed["keys"].as_array().into_iter().flatten() {
                let (Some(kid), Some(x)) = (key["kid"].as_str(), key["x"].as_str()) else {
                    anyhow::bail!("JWT_PUBLIC_KEYS: every key needs kid and x");
                };
                if key["crv"].as_str() != Some("Ed25519") {
                    anyhow::bail!("JWT_PUBLIC_KEYS: only Ed25519 keys are accepted");
                }
                if !verifying.contains_key(kid) {
                    verifying.insert(kid.to_string(), DecodingKey::from_ed_components(x)?);
                    jwk_list.push(jwk(kid, x));
                }
            }
        }
        if verifying.is_empty() {
            anyhow::bail!(
                "no JWT keys: set JWT_SIGNING_KEY, JWT_SIGNING_KEY_SECRET_ARN or JWT_PUBLIC_KEYS"
            );
        }
        Ok(JwtKeys {
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            access_ttl_seconds: config.access_ttl.as_secs() as i64,
            signing,
            verifying,
            jwks: json!({ "keys": jwk_list }),
        })
    }

    /// The public keys as a JWK Set (`/.well-known/jwks.json`).
    pub fn jwks(&self) -> &Value {
        &self.jwks
    }

    /// Issues an access token for a user's login session.
    pub fn issue(
        &self,
        user_id: &str,
        session_id: &str,
        now: i64,
    ) -> Result<(String, Claims), JwtError> {
        let (kid, key) = self.signing.as_ref().ok_or(JwtError::NoSigningKey)?;
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_string(),
            sid: session_id.to_string(),
            iat: now,
            exp: now + self.access_ttl_seconds,
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(kid.clone());
        header.typ = Some(TOKEN_TYPE.to_string());
        let token = jsonwebtoken::encode(&header, &claims, key).map_err(|_| JwtError::Invalid)?;
        Ok((token, claims))
    }

    /// Verifies a token's header, signature and claims at time `now`.
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        if header.alg != Algorithm::EdDSA {
            return Err(JwtError::Algorithm);
        }
        let typ_ok = header.typ.as_deref().is_some_and(|t| {
            t.eq_ignore_ascii_case(TOKEN_TYPE) || t.eq_ignore_ascii_case("application/at+jwt")
        });
        if !typ_ok {
            return Err(JwtError::Type);
        }
        let kid = header.kid.ok_or(JwtError::UnknownKey)?;
        let key = self.verifying.get(&kid).ok_or(JwtError::UnknownKey)?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Time is checked below against the injected clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|_| JwtError::Invalid)?
            .claims;
        if claims.exp <= now {
            return Err(JwtError::Expired);
        }
        if claims.iat > now + IAT_LEEWAY_SECONDS {
            return Err(JwtError::NotYetValid);
        }
        Ok(claims)
    }
}

pub(crate) fn jwk(kid: &str, x: &str) -> Value {
    json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid, "use": "sig", "alg": "EdDSA" })
}

const KEY_FILE: &str = "jwt-signing-key";

/// Local development: a key generated on first start and kept in the data directory, so
/// tokens survive restarts.
fn load_or_create(data_dir: &Path) -> anyhow::Result<SigningKeyPair> {
    let path = data_dir.join(KEY_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return SigningKeyPair::parse(&text);
    }
    std::fs::create_dir_all(data_dir)?;
    let pair = SigningKeyPair::generate();
    match write_private(&path, &pair.to_secret_text()) {
        Ok(()) => Ok(pair),
        // Another process sharing the data dir made one first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            SigningKeyPair::parse(&std::fs::read_to_string(&path)?)
        }
        Err(e) => Err(e.into()),
    }
}

/// Writes a new file readable by its owner only; fails if it exists. Written under a temporary
/// name and linked into place, so a reader never sees half a key.
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked
}

async fn fetch_secret(
    arn: &str,
    deadlines: &crate::deadlines::Deadlines,
) -> anyhow::Result<SigningKeyPair> {
    SigningKeyPair::parse(&secret_string(arn, deadlines).await?)
}

/// A Secrets Manager secret's string value.
#[cfg(feature = "secrets")]
pub(crate) async fn secret_string(
    arn: &str,
    deadlines: &crate::deadlines::Deadlines,
) -> anyhow::Result<String> {
    let sdk = crate::aws::sdk_config(deadlines).await;
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("reading the signing key secret: {e}"))?;
    let text = out
        .secret_string()
        .ok_or_else(|| anyhow::anyhow!("the signing key secret has no string value"))?;
    Ok(text.to_string())
}

/// Without the Secrets Manager client ([`crate::config::Config::check_features`] refuses such a
/// configuration at start).
#[cfg(not(feature = "secrets"))]
pub(crate) async fn secret_string(
    _arn: &str,
    _deadlines: &crate::deadlines::Deadlines,
) -> anyhow::Result<String> {
    anyhow::bail!(
        "this binary is built without the Secrets Manager client (cargo feature `secrets`)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn config() -> JwtConfig {
        JwtConfig {
            issuer: "buddo".into(),
            audience: "buddo-api".into(),
            access_ttl: Duration::from_secs(3600),
            signing_key: SigningKeySource::None,
            public_keys: None,
        }
    }

    #[test]
    fn round_trip_and_rejections() {
        let keys = JwtKeys::new(&config(), Some(SigningKeyPair::generate()), None).unwrap();
        let (token, claims) = keys.issue("u1", "s1", 1_000).unwrap();
        assert_eq!(keys.verify(&token, 1_001).unwrap(), claims);
        assert_eq!(keys.verify(&token, 1_000 + 3600), Err(JwtError::Expired));
        assert_eq!(
            keys.verify(&token, 1_000 - 3600),
            Err(JwtError::NotYetValid)
        );
        assert_eq!(keys.verify("nope", 1_001), Err(JwtError::Malformed));

        let other = JwtKeys::new(&config(), Some(SigningKeyPair::generate()), None).unwrap();
        assert_eq!(other.verify(&token, 1_001), Err(JwtError::UnknownKey));
    }

    #[test]
    fn verify_only_keys_from_jwks() {
        let pair = SigningKeyPair::generate();
        let text = pair.to_secret_text();
        let signer =
            JwtKeys::new(&config(), Some(SigningKeyPair::parse(&text).unwrap()), None).unwrap();
        let jwks = signer.jwks().to_string();
        let verifier = JwtKeys::new(&config(), None, Some(&jwks)).unwrap();
        let (token, _) = signer.issue("u", "s", 10).unwrap();
        assert!(verifier.verify(&token, 11).is_ok());
        assert_eq!(
            verifier.issue("u", "s", 10).unwrap_err(),
            JwtError::NoSigningKey
        );
    }
}
