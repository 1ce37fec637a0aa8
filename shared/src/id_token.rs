//! The keys that sign OpenID Connect ID tokens: an RSA 2048 key for RS256 (the default, which
//! OpenID Connect Discovery requires) and an Ed25519 key for EdDSA (an app's choice), each with
//! its own `kid`. They are not the access tokens' key (shared/src/jwt.rs): the OAuth function
//! group holds them, and the public halves are published next to the access-token keys in
//! `/.well-known/jwks.json`.
//!
//! The secret text holding both keys (`ID_TOKEN_KEYS`, or the Secrets Manager secret named by
//! `ID_TOKEN_KEYS_SECRET_ARN`, or `<data dir>/id-token-keys` locally) is JSON:
//!
//! ```text
//! {"rsa": "<PKCS#8 PEM of an RSA key, 2048 bits or more>",
//!  "ed25519": "<kid>:<base64url 32-byte Ed25519 seed>",
//!  "previous": [<public JWK>, …]}
//! ```
//!
//! The RSA key's `kid` is derived from its public key (a truncated RFC 7638 thumbprint);
//! `previous` (optional) lists retired public keys still published and still accepted by
//! [`IdTokenKeys::verify_hint`] after a rotation. `buddo keygen --id-token` prints a new secret.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
#[cfg(feature = "keygen")]
use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::IdTokenKeySource;
use crate::jwt::SigningKeyPair;

/// Bits of a generated RSA key.
const RSA_BITS: usize = 2048;

/// The signature algorithm of an app's ID tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IdTokenAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256: every OpenID Connect client understands it.
    #[default]
    #[serde(rename = "RS256")]
    Rs256,
    /// Ed25519 (RFC 8037).
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl IdTokenAlg {
    pub const ALL: [IdTokenAlg; 2] = [IdTokenAlg::Rs256, IdTokenAlg::EdDsa];

    /// `RS256` or `EdDSA`, exactly (JOSE names are case-sensitive).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "RS256" => Some(IdTokenAlg::Rs256),
            "EdDSA" => Some(IdTokenAlg::EdDsa),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IdTokenAlg::Rs256 => "RS256",
            IdTokenAlg::EdDsa => "EdDSA",
        }
    }

    fn jose(self) -> Algorithm {
        match self {
            IdTokenAlg::Rs256 => Algorithm::RS256,
            IdTokenAlg::EdDsa => Algorithm::EdDSA,
        }
    }
}

impl std::fmt::Display for IdTokenAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The secret text's shape.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretText {
    rsa: String,
    ed25519: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    previous: Vec<Value>,
}

/// A key that signs, with what verifies it and its public JWK.
struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Value,
}

/// A public key that only verifies.
struct VerifyingKey {
    alg: IdTokenAlg,
    decoding: DecodingKey,
}

struct KeySet {
    rsa: SigningKey,
    ed25519: SigningKey,
    /// Every key that verifies, by kid: the two above and the retired ones.
    verifying: HashMap<String, VerifyingKey>,
    /// The public JWKs, the signing keys first.
    jwks: Vec<Value>,
    /// The text [`IdTokenKeys::parse`] reads.
    secret: String,
}

/// The ID-token keys of this process: cheap to clone. A function that is not given them (on
/// Lambda, every function but OAuthFunction) holds none: it cannot sign, and publishes nothing.
#[derive(Clone)]
pub struct IdTokenKeys(Option<Arc<KeySet>>);

impl std::fmt::Debug for IdTokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdTokenKeys")
            .field("kids", &self.kids())
            .finish()
    }
}

impl IdTokenKeys {
    /// No keys.
    pub fn none() -> Self {
        IdTokenKeys(None)
    }

    /// New keys: a fresh RSA 2048 key and a fresh Ed25519 key. RSA key generation is slow
    /// (tens to hundreds of milliseconds optimised, seconds in a debug build), and needs the
    /// `rsa` crate: cargo feature `keygen`, which no Lambda function binary has.
    #[cfg(feature = "keygen")]
    pub fn generate() -> Self {
        use rsa::pkcs8::{EncodePrivateKey, LineEnding};
        let rsa = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, RSA_BITS)
            .expect("generating an RSA key");
        let rsa = rsa
            .to_pkcs8_pem(LineEnding::LF)
            .expect("encoding an RSA key")
            .to_string();
        let text = SecretText {
            rsa,
            ed25519: SigningKeyPair::generate().to_secret_text(),
            previous: Vec::new(),
        };
        Self::parse(&serde_json::to_string(&text).expect("JSON")).expect("generated keys parse")
    }

    /// Keys generated once per process and shared by every caller: for tests and benches,
    /// which build many states and must not each wait for an RSA key.
    #[cfg(feature = "keygen")]
    pub fn generated() -> Self {
        static KEYS: OnceLock<IdTokenKeys> = OnceLock::new();
        KEYS.get_or_init(Self::generate).clone()
    }

    /// Reads the secret text (the module's documentation has its format).
    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let parsed: SecretText = serde_json::from_str(text.trim()).map_err(|e| {
            anyhow::anyhow!(
                "ID-token keys must be JSON {{\"rsa\": <PKCS#8 PEM>, \"ed25519\": <kid>:<base64url seed>}}: {e}"
            )
        })?;
        let rsa = rsa_key(&parsed.rsa)?;
        let ed25519 = ed25519_key(&parsed.ed25519)?;
        if rsa.kid == ed25519.kid {
            anyhow::bail!("ID-token keys: the RSA and Ed25519 keys have the same kid");
        }
        let mut verifying = HashMap::new();
        let mut jwks = Vec::new();
        for (key, alg) in [(&rsa, IdTokenAlg::Rs256), (&ed25519, IdTokenAlg::EdDsa)] {
            verifying.insert(
                key.kid.clone(),
                VerifyingKey {
                    alg,
                    decoding: key.decoding.clone(),
                },
            );
            jwks.push(key.jwk.clone());
        }
        for jwk in parsed.previous {
            let (kid, key) = public_key(&jwk)?;
            if verifying.contains_key(&kid) {
                anyhow::bail!("ID-token keys: kid {kid} appears twice");
            }
            verifying.insert(kid, key);
            jwks.push(jwk);
        }
        // Written back canonically (the PEM and seed as read, retired keys included).
        let secret = serde_json::to_string(&SecretText {
            rsa: parsed.rsa.trim().to_string(),
            ed25519: parsed.ed25519.trim().to_string(),
            previous: jwks[2..].to_vec(),
        })?;
        Ok(IdTokenKeys(Some(Arc::new(KeySet {
            rsa,
            ed25519,
            verifying,
            jwks,
            secret,
        }))))
    }

    /// Keys from their configured source. A function on Lambda given neither `ID_TOKEN_KEYS`
    /// nor `ID_TOKEN_KEYS_SECRET_ARN` holds none: a key generated in one instance's `/tmp`
    /// would be unknown to every other instance.
    pub async fn load(
        source: &IdTokenKeySource,
        data_dir: &Path,
        deadlines: &crate::deadlines::Deadlines,
    ) -> anyhow::Result<Self> {
        match source {
            IdTokenKeySource::Inline(text) => Self::parse(text),
            IdTokenKeySource::SecretsManager(arn) => {
                let text = crate::jwt::secret_string(arn, deadlines)
                    .await
                    .map_err(|e| anyhow::anyhow!("ID-token keys: {e}"))?;
                Self::parse(&text)
            }
            IdTokenKeySource::DataDir if crate::http::on_lambda() => Ok(Self::none()),
            IdTokenKeySource::DataDir => {
                let dir = data_dir.to_path_buf();
                tokio::task::spawn_blocking(move || load_or_create(&dir, GENERATE)).await?
            }
        }
    }

    /// Whether this process holds no keys.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The key ids, the RSA key's first; retired keys last.
    pub fn kids(&self) -> Vec<String> {
        self.jwks_keys()
            .iter()
            .filter_map(|k| k["kid"].as_str().map(str::to_string))
            .collect()
    }

    /// The kid `alg`'s tokens carry.
    pub fn kid(&self, alg: IdTokenAlg) -> Option<&str> {
        let set = self.0.as_ref()?;
        Some(match alg {
            IdTokenAlg::Rs256 => &set.rsa.kid,
            IdTokenAlg::EdDsa => &set.ed25519.kid,
        })
    }

    /// The secret text (`buddo keygen --id-token`, the data dir file).
    pub fn to_secret_text(&self) -> Option<&str> {
        self.0.as_ref().map(|set| set.secret.as_str())
    }

    /// Signs `claims` as a JWT with `alg`: header `alg`, `kid`, `typ: JWT`.
    pub fn sign<T: Serialize>(&self, alg: IdTokenAlg, claims: &T) -> anyhow::Result<String> {
        let set = self
            .0
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("this function holds no ID-token keys"))?;
        let key = match alg {
            IdTokenAlg::Rs256 => &set.rsa,
            IdTokenAlg::EdDsa => &set.ed25519,
        };
        let mut header = Header::new(alg.jose());
        header.kid = Some(key.kid.clone());
        header.typ = Some("JWT".into());
        Ok(jsonwebtoken::encode(&header, claims, &key.encoding)?)
    }

    /// The public JWKs, for `/.well-known/jwks.json` next to the access-token keys.
    pub fn jwks_keys(&self) -> Vec<Value> {
        self.0
            .as_ref()
            .map(|set| set.jwks.clone())
            .unwrap_or_default()
    }

    /// The claims of an ID token we issued for `issuer` (an `id_token_hint`): the signature
    /// by one of our keys, with the algorithm that key is for (RS256 or EdDSA, nothing else:
    /// RFC 8725 §3.1), and `iss`. Neither `exp` nor `aud` is checked: a hint may have expired,
    /// and the caller compares `aud` with the client it expects.
    pub fn verify_hint(&self, token: &str, issuer: &str) -> Option<Value> {
        let set = self.0.as_ref()?;
        let header = jsonwebtoken::decode_header(token).ok()?;
        let key = set.verifying.get(header.kid.as_deref()?)?;
        if header.alg != key.alg.jose() {
            return None;
        }
        let mut validation = Validation::new(key.alg.jose());
        validation.algorithms = vec![key.alg.jose()];
        validation.set_issuer(&[issuer]);
        validation.set_required_spec_claims(&["iss"]);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        jsonwebtoken::decode::<Value>(token, &key.decoding, &validation)
            .ok()
            .map(|data| data.claims)
    }
}

fn rsa_key(pem: &str) -> anyhow::Result<SigningKey> {
    let der = pkcs8_der(pem)
        .ok_or_else(|| anyhow::anyhow!("ID-token keys: rsa is not a PKCS#8 PEM key"))?;
    // ring checks the key (it is what signs): an RSA key, 2048 to 8192 bits, consistent.
    let pair = ring::signature::RsaKeyPair::from_pkcs8(&der).map_err(|e| match e.to_string() {
        too_small if too_small == "TooSmall" => {
            anyhow::anyhow!("ID-token keys: the RSA key must have at least {RSA_BITS} bits")
        }
        e => anyhow::anyhow!("ID-token keys: rsa is not an RSA PKCS#8 PEM key: {e}"),
    })?;
    if pair.public().modulus_len() * 8 < RSA_BITS {
        anyhow::bail!("ID-token keys: the RSA key must have at least {RSA_BITS} bits");
    }
    let public = ring::rsa::PublicKeyComponents::<Vec<u8>>::from(pair.public());
    let minimal = |bytes: &[u8]| {
        let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
        B64.encode(&bytes[start..])
    };
    let n = minimal(&public.n);
    let e = minimal(&public.e);
    // RFC 7638: the thumbprint hashes the required members in this order, without spaces.
    let thumbprint_input = format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#);
    let kid = crate::crypto::hex(&crate::jwt::sha2_16(thumbprint_input.as_bytes()));
    Ok(SigningKey {
        encoding: EncodingKey::from_rsa_pem(pem.trim().as_bytes())?,
        decoding: DecodingKey::from_rsa_components(&n, &e)?,
        jwk: json!({ "kty": "RSA", "n": n, "e": e, "kid": kid, "use": "sig", "alg": "RS256" }),
        kid,
    })
}

/// The DER inside a PEM `PRIVATE KEY` block (PKCS#8; RFC 7468).
fn pkcs8_der(pem: &str) -> Option<Vec<u8>> {
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN PRIVATE KEY-----")?
        .strip_suffix("-----END PRIVATE KEY-----")?;
    let text: String = body.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD.decode(text).ok()
}

fn ed25519_key(text: &str) -> anyhow::Result<SigningKey> {
    let pair = SigningKeyPair::parse(text).map_err(|e| anyhow::anyhow!("ID-token keys: {e}"))?;
    let x = pair.public_x();
    Ok(SigningKey {
        encoding: EncodingKey::from_ed_der(&pair.pkcs8_der()),
        decoding: DecodingKey::from_ed_components(&x)?,
        jwk: crate::jwt::jwk(&pair.kid, &x),
        kid: pair.kid,
    })
}

/// A retired key's public JWK: RSA (RS256) or Ed25519 (EdDSA).
fn public_key(jwk: &Value) -> anyhow::Result<(String, VerifyingKey)> {
    let kid = jwk["kid"]
        .as_str()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| anyhow::anyhow!("ID-token keys: every previous key needs a kid"))?;
    let text = |name: &str| {
        jwk[name]
            .as_str()
            .ok_or_else(|| anyhow::anyhow!("ID-token keys: previous key {kid} lacks {name}"))
    };
    let key = match (text("kty")?, jwk["crv"].as_str()) {
        ("RSA", _) => VerifyingKey {
            alg: IdTokenAlg::Rs256,
            decoding: DecodingKey::from_rsa_components(text("n")?, text("e")?)?,
        },
        ("OKP", Some("Ed25519")) => VerifyingKey {
            alg: IdTokenAlg::EdDsa,
            decoding: DecodingKey::from_ed_components(text("x")?)?,
        },
        _ => anyhow::bail!("ID-token keys: previous key {kid} is neither RSA nor Ed25519"),
    };
    Ok((kid.to_string(), key))
}

const KEY_FILE: &str = "id-token-keys";

/// How this build makes new keys: none without the cargo feature `keygen`.
#[cfg(feature = "keygen")]
const GENERATE: Option<fn() -> IdTokenKeys> = Some(IdTokenKeys::generate);
#[cfg(not(feature = "keygen"))]
const GENERATE: Option<fn() -> IdTokenKeys> = None;

/// Local development: keys generated on first start (by `generate`) and kept in the data
/// directory (readable by its owner only), so ID tokens stay verifiable across restarts.
fn load_or_create(
    data_dir: &Path,
    generate: Option<fn() -> IdTokenKeys>,
) -> anyhow::Result<IdTokenKeys> {
    let path = data_dir.join(KEY_FILE);
    let read = |path: &Path| -> anyhow::Result<IdTokenKeys> {
        IdTokenKeys::parse(&std::fs::read_to_string(path)?)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    };
    if path.exists() {
        return read(&path);
    }
    let Some(generate) = generate else {
        anyhow::bail!(
            "ID-token keys: {} does not exist, and this binary cannot make keys (cargo feature \
             `keygen`): set ID_TOKEN_KEYS (`buddo keygen --id-token`)",
            path.display()
        );
    };
    std::fs::create_dir_all(data_dir)?;
    let keys = generate();
    let text = keys.to_secret_text().expect("generated keys");
    match crate::jwt::write_private(&path, text) {
        Ok(()) => Ok(keys),
        // Another process sharing the data dir made them first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read(&path),
        Err(e) => Err(e.into()),
    }
}

#[cfg(all(test, feature = "keygen"))]
mod tests {
    use super::*;

    const ISSUER: &str = "https://id.buddo.test";

    fn claims() -> Value {
        json!({ "iss": ISSUER, "sub": "u1", "aud": "client-1", "iat": 1_000, "exp": 1_600 })
    }

    /// Another key set that reuses the shared RSA key would not prove much: a fresh Ed25519
    /// key with a fresh RSA key is slow, so the tests that need "another key" build one once.
    fn other() -> &'static IdTokenKeys {
        static OTHER: OnceLock<IdTokenKeys> = OnceLock::new();
        OTHER.get_or_init(IdTokenKeys::generate)
    }

    #[test]
    fn alg_names() {
        for alg in IdTokenAlg::ALL {
            assert_eq!(IdTokenAlg::parse(alg.as_str()), Some(alg));
            assert_eq!(
                serde_json::to_value(alg).unwrap(),
                Value::String(alg.as_str().into())
            );
            assert_eq!(
                serde_json::from_value::<IdTokenAlg>(json!(alg.as_str())).unwrap(),
                alg
            );
        }
        assert_eq!(IdTokenAlg::default(), IdTokenAlg::Rs256);
        assert_eq!(IdTokenAlg::parse("rs256"), None);
        assert_eq!(IdTokenAlg::parse("none"), None);
        assert!(serde_json::from_value::<IdTokenAlg>(json!("HS256")).is_err());
    }

    #[test]
    fn round_trip_with_both_algorithms() {
        let keys = IdTokenKeys::generated();
        for alg in IdTokenAlg::ALL {
            let token = keys.sign(alg, &claims()).unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.alg, alg.jose());
            assert_eq!(header.kid.as_deref(), keys.kid(alg));
            assert_eq!(header.typ.as_deref(), Some("JWT"));
            // Expired in 1970: still a valid hint.
            assert_eq!(keys.verify_hint(&token, ISSUER), Some(claims()), "{alg}");
            // Another issuer's token is not.
            assert_eq!(keys.verify_hint(&token, "https://other.test"), None);
            // Neither is a token signed by a key we do not hold.
            let foreign = other().sign(alg, &claims()).unwrap();
            assert_eq!(keys.verify_hint(&foreign, ISSUER), None, "{alg}");
        }
    }

    #[test]
    fn kids_are_distinct_and_the_jwks_has_both_keys() {
        let keys = IdTokenKeys::generated();
        let rsa = keys.kid(IdTokenAlg::Rs256).unwrap();
        let ed = keys.kid(IdTokenAlg::EdDsa).unwrap();
        assert_ne!(rsa, ed);
        assert_ne!(Some(rsa), other().kid(IdTokenAlg::Rs256));
        let jwks = keys.jwks_keys();
        assert_eq!(jwks.len(), 2);
        let r = &jwks[0];
        assert_eq!(
            (r["kty"].as_str(), r["alg"].as_str(), r["use"].as_str()),
            (Some("RSA"), Some("RS256"), Some("sig"))
        );
        assert_eq!(r["kid"], rsa);
        assert_eq!(r["e"], "AQAB");
        assert_eq!(B64.decode(r["n"].as_str().unwrap()).unwrap().len(), 256);
        assert!(r.get("d").is_none(), "a private member is published");
        let e = &jwks[1];
        assert_eq!(
            (e["kty"].as_str(), e["crv"].as_str(), e["alg"].as_str()),
            (Some("OKP"), Some("Ed25519"), Some("EdDSA"))
        );
        assert_eq!(e["kid"], ed);
        assert_eq!(B64.decode(e["x"].as_str().unwrap()).unwrap().len(), 32);
        assert_eq!(e.as_object().unwrap().len(), 6);
        assert_eq!(keys.kids(), [rsa, ed]);
    }

    #[test]
    fn the_secret_text_reads_back_to_the_same_keys() {
        let keys = IdTokenKeys::generated();
        let again = IdTokenKeys::parse(keys.to_secret_text().unwrap()).unwrap();
        assert_eq!(again.jwks_keys(), keys.jwks_keys());
        let token = again.sign(IdTokenAlg::Rs256, &claims()).unwrap();
        assert!(keys.verify_hint(&token, ISSUER).is_some());
        assert!(IdTokenKeys::parse("{}").is_err());
        assert!(IdTokenKeys::parse(r#"{"rsa":"x","ed25519":"k:AAAA"}"#).is_err());
    }

    #[test]
    fn the_public_parts_read_by_ring_are_the_keys_and_weak_keys_are_refused() {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
        use rsa::traits::PublicKeyParts;
        let keys = IdTokenKeys::generated();
        let secret: Value = serde_json::from_str(keys.to_secret_text().unwrap()).unwrap();
        let pem = secret["rsa"].as_str().unwrap();
        let private = rsa::RsaPrivateKey::from_pkcs8_pem(pem).unwrap();
        let jwk = &keys.jwks_keys()[0];
        assert_eq!(jwk["n"], B64.encode(private.n().to_bytes_be()));
        assert_eq!(jwk["e"], B64.encode(private.e().to_bytes_be()));

        let pkcs1 = private.to_pkcs1_pem(LineEnding::LF).unwrap();
        let error = rsa_key(&pkcs1).err().unwrap().to_string();
        assert!(error.contains("not a PKCS#8 PEM key"), "{error}");
        let small = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
        let small = small.to_pkcs8_pem(LineEnding::LF).unwrap();
        let error = rsa_key(&small).err().unwrap().to_string();
        assert!(error.contains("at least 2048 bits"), "{error}");
    }

    #[test]
    fn retired_keys_verify_and_are_published_but_do_not_sign() {
        let old = other();
        let mut text: Value =
            serde_json::from_str(IdTokenKeys::generated().to_secret_text().unwrap()).unwrap();
        text["previous"] = json!(old.jwks_keys());
        let keys = IdTokenKeys::parse(&text.to_string()).unwrap();
        assert_eq!(keys.jwks_keys().len(), 4);
        for alg in IdTokenAlg::ALL {
            let token = old.sign(alg, &claims()).unwrap();
            assert_eq!(keys.verify_hint(&token, ISSUER), Some(claims()));
            let new = keys.sign(alg, &claims()).unwrap();
            assert_eq!(
                jsonwebtoken::decode_header(&new).unwrap().kid.as_deref(),
                IdTokenKeys::generated().kid(alg)
            );
        }
        // The kept text keeps them.
        let again = IdTokenKeys::parse(keys.to_secret_text().unwrap()).unwrap();
        assert_eq!(again.kids(), keys.kids());
    }

    fn unsigned(header: Value, claims: &Value) -> String {
        format!(
            "{}.{}.",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        )
    }

    #[test]
    fn only_our_algorithms_are_accepted() {
        let keys = IdTokenKeys::generated();
        let rsa_kid = keys.kid(IdTokenAlg::Rs256).unwrap();
        let ed_kid = keys.kid(IdTokenAlg::EdDsa).unwrap();
        // `alg: none`, with and without our kid.
        for header in [
            json!({ "alg": "none", "typ": "JWT" }),
            json!({ "alg": "none", "kid": rsa_kid }),
        ] {
            assert_eq!(keys.verify_hint(&unsigned(header, &claims()), ISSUER), None);
        }
        // HS256 with the RSA key's public modulus as the HMAC secret (the key confusion
        // RFC 8725 §2.1 describes), and with any secret.
        let n = keys.jwks_keys()[0]["n"].as_str().unwrap().to_string();
        for secret in [n.as_bytes(), b"secret".as_slice()] {
            let mut header = Header::new(Algorithm::HS256);
            header.kid = Some(rsa_kid.into());
            let token = jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(secret))
                .unwrap();
            assert_eq!(keys.verify_hint(&token, ISSUER), None);
        }
        // A real signature presented under the other key's kid and algorithm.
        let token = keys.sign(IdTokenAlg::Rs256, &claims()).unwrap();
        let (_, rest) = token.split_once('.').unwrap();
        let header = json!({ "alg": "EdDSA", "kid": ed_kid, "typ": "JWT" });
        let swapped = format!("{}.{rest}", B64.encode(header.to_string()));
        assert_eq!(keys.verify_hint(&swapped, ISSUER), None);
        // RS256 named with the Ed25519 key's kid.
        let header = json!({ "alg": "RS256", "kid": ed_kid, "typ": "JWT" });
        let swapped = format!("{}.{rest}", B64.encode(header.to_string()));
        assert_eq!(keys.verify_hint(&swapped, ISSUER), None);
        // No kid, garbage.
        assert_eq!(keys.verify_hint("a.b.c", ISSUER), None);
        assert_eq!(keys.verify_hint("", ISSUER), None);
    }

    #[test]
    fn no_keys_sign_nothing_and_publish_nothing() {
        let keys = IdTokenKeys::none();
        assert!(keys.is_empty());
        assert!(keys.sign(IdTokenAlg::Rs256, &claims()).is_err());
        assert!(keys.jwks_keys().is_empty());
        let token = IdTokenKeys::generated()
            .sign(IdTokenAlg::EdDsa, &claims())
            .unwrap();
        assert_eq!(keys.verify_hint(&token, ISSUER), None);
    }

    #[test]
    fn the_data_dir_keeps_the_keys_private() {
        let dir =
            std::env::temp_dir().join(format!("buddo-id-token-{}", uuid::Uuid::new_v4().simple()));
        let first = load_or_create(&dir, GENERATE).unwrap();
        // Keys that exist are read by a binary that cannot make them; none there is an error.
        let again = load_or_create(&dir, None).unwrap();
        let empty = dir.join("elsewhere");
        let error = load_or_create(&empty, None).unwrap_err().to_string();
        assert!(
            error.contains("cargo feature `keygen`") && error.contains("ID_TOKEN_KEYS"),
            "{error}"
        );
        assert!(!empty.exists());
        assert_eq!(first.kids(), again.kids());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
