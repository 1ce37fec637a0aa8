//! Password hashes made elsewhere, as users moved in bring them (`domain::identity::transfer`):
//! bcrypt, scrypt (PHC), Firebase's modified scrypt, PBKDF2-SHA256 in Django's format, and
//! Argon2 (PHC) with other parameters than ours. The first right password replaces such a hash
//! with our Argon2id one ([`super::Verified::YesRehashed`]).
//!
//! Every cost parameter is bounded — when a hash is imported and again whenever one is checked —
//! so that a hostile import file cannot make a login burn CPU or memory. The bounds sit above
//! what each tool makes by default (bcrypt 10–12, passlib's scrypt ln=16 r=8 p=1, Firebase's
//! mem_cost 14 rounds 8, Django's 1,000,000 iterations).

use aes::cipher::{KeyIvInit, StreamCipher};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;
use sha2::Sha256;

use crate::crypto::constant_time_eq;

/// bcrypt's cost (log2 rounds): 4 to this.
pub const BCRYPT_MAX_COST: u32 = 16;
/// scrypt's and Firebase's log2 N.
pub const SCRYPT_MAX_LOG_N: u8 = 17;
/// scrypt's working memory, 128·N·r bytes: at most 64 MiB.
pub const SCRYPT_MAX_MEMORY: u64 = 64 * 1024 * 1024;
/// scrypt's work, N·r·p: at most 2^20 (twice passlib's default).
pub const SCRYPT_MAX_WORK: u64 = 1 << 20;
/// PBKDF2 iterations.
pub const PBKDF2_MAX_ITERATIONS: u32 = 10_000_000;
/// Argon2's memory in KiB (64 MiB), passes and lanes.
pub const ARGON2_MAX_MEMORY_KIB: u32 = 64 * 1024;
pub const ARGON2_MAX_ITERATIONS: u32 = 16;
pub const ARGON2_MAX_PARALLELISM: u32 = 8;
/// Salts, derived keys and Firebase signer keys: at most this many bytes.
const MAX_BYTES: usize = 256;

/// The kinds of hash accepted, by the name the import report and the README use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Argon2,
    Bcrypt,
    Scrypt,
    FirebaseScrypt,
    DjangoPbkdf2,
}

/// A hash parsed and within bounds, ready to check a password against.
enum Parsed<'a> {
    Argon2,
    Bcrypt(&'a str),
    Scrypt {
        log_n: u8,
        r: u32,
        p: u32,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Firebase {
        log_n: u8,
        r: u32,
        signer_key: Vec<u8>,
        salt_separator: Vec<u8>,
        salt: Vec<u8>,
        hash: Vec<u8>,
    },
    Django {
        iterations: u32,
        salt: &'a str,
        hash: Vec<u8>,
    },
}

/// Checks that `stored` is a hash of a kind accepted, well formed and within the bounds; the
/// error says what is wrong, for the import report.
pub fn validate(stored: &str) -> Result<Kind, String> {
    Ok(match parse(stored)? {
        Parsed::Argon2 => Kind::Argon2,
        Parsed::Bcrypt(_) => Kind::Bcrypt,
        Parsed::Scrypt { .. } => Kind::Scrypt,
        Parsed::Firebase { .. } => Kind::FirebaseScrypt,
        Parsed::Django { .. } => Kind::DjangoPbkdf2,
    })
}

/// Whether `password` matches a stored foreign (non-Argon2) hash. A hash malformed or out of
/// bounds matches nothing.
pub(super) fn verify(password: &str, stored: &str) -> bool {
    let password = password.as_bytes();
    match parse(stored) {
        Err(_) | Ok(Parsed::Argon2) => false,
        Ok(Parsed::Bcrypt(hash)) => bcrypt::verify(password, hash).unwrap_or(false),
        Ok(Parsed::Scrypt {
            log_n,
            r,
            p,
            salt,
            hash,
        }) => scrypt_key(password, &salt, log_n, r, p, hash.len())
            .is_some_and(|key| constant_time_eq(&key, &hash)),
        Ok(Parsed::Firebase {
            log_n,
            r,
            signer_key,
            salt_separator,
            salt,
            hash,
        }) => {
            let mut salted = salt;
            salted.extend_from_slice(&salt_separator);
            let Some(key) = scrypt_key(password, &salted, log_n, r, 1, 32) else {
                return false;
            };
            let mut block = signer_key;
            let mut cipher =
                ctr::Ctr128BE::<aes::Aes256>::new(key.as_slice().into(), &[0u8; 16].into());
            cipher.apply_keystream(&mut block);
            constant_time_eq(&block, &hash)
        }
        Ok(Parsed::Django {
            iterations,
            salt,
            hash,
        }) => {
            let mut out = vec![0u8; hash.len()];
            pbkdf2::pbkdf2_hmac::<Sha256>(password, salt.as_bytes(), iterations, &mut out);
            constant_time_eq(&out, &hash)
        }
    }
}

fn scrypt_key(
    password: &[u8],
    salt: &[u8],
    log_n: u8,
    r: u32,
    p: u32,
    len: usize,
) -> Option<Vec<u8>> {
    let params = scrypt::Params::new(log_n, r, p, len).ok()?;
    let mut out = vec![0u8; len];
    scrypt::scrypt(password, salt, &params, &mut out).ok()?;
    Some(out)
}

fn parse(stored: &str) -> Result<Parsed<'_>, String> {
    if stored.len() > 1024 {
        return Err("the hash is longer than 1024 characters".into());
    }
    if let Some(rest) = stored.strip_prefix("pbkdf2_sha256$") {
        return django(rest);
    }
    if stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$") {
        return bcrypt_hash(stored);
    }
    if stored.starts_with("$argon2i$") || stored.starts_with("$argon2id$") {
        return argon2_hash(stored);
    }
    if let Some(rest) = stored.strip_prefix("$scrypt$") {
        return scrypt_hash(rest);
    }
    if let Some(rest) = stored.strip_prefix("$firebase-scrypt$") {
        return firebase(rest);
    }
    Err("unknown hash format: expected bcrypt ($2a$, $2b$, $2y$), $scrypt$, $firebase-scrypt$, $argon2i$, $argon2id$ or pbkdf2_sha256$".into())
}

fn bcrypt_hash(stored: &str) -> Result<Parsed<'_>, String> {
    // $2b$12$ then 22 characters of salt and 31 of hash.
    let cost: u32 = stored
        .get(4..6)
        .filter(|_| stored.len() == 60 && stored.as_bytes()[6] == b'$')
        .and_then(|c| c.parse().ok())
        .ok_or("a bcrypt hash is $2b$<cost>$ and 53 characters")?;
    if !(4..=BCRYPT_MAX_COST).contains(&cost) {
        return Err(format!(
            "bcrypt cost {cost} is outside 4..={BCRYPT_MAX_COST}"
        ));
    }
    Ok(Parsed::Bcrypt(stored))
}

fn argon2_hash(stored: &str) -> Result<Parsed<'_>, String> {
    use argon2::password_hash::PasswordHash;
    let parsed = PasswordHash::new(stored).map_err(|e| format!("argon2 hash: {e}"))?;
    let params =
        argon2::Params::try_from(&parsed).map_err(|e| format!("argon2 parameters: {e}"))?;
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err("an argon2 hash needs its salt and hash".into());
    }
    if params.m_cost() > ARGON2_MAX_MEMORY_KIB
        || params.t_cost() > ARGON2_MAX_ITERATIONS
        || params.p_cost() > ARGON2_MAX_PARALLELISM
    {
        return Err(format!(
            "argon2 parameters m={},t={},p={} exceed m<={ARGON2_MAX_MEMORY_KIB},t<={ARGON2_MAX_ITERATIONS},p<={ARGON2_MAX_PARALLELISM}",
            params.m_cost(),
            params.t_cost(),
            params.p_cost()
        ));
    }
    Ok(Parsed::Argon2)
}

/// Base64 as the tools write it: standard, padded or not, or passlib's variant with `.` for `+`.
fn b64(what: &str, text: &str) -> Result<Vec<u8>, String> {
    let text = text.replace('.', "+");
    let bytes = STANDARD_NO_PAD
        .decode(text.trim_end_matches('='))
        .or_else(|_| STANDARD.decode(&text))
        .map_err(|_| format!("the {what} is not base64"))?;
    if bytes.is_empty() || bytes.len() > MAX_BYTES {
        return Err(format!("the {what} must be 1 to {MAX_BYTES} bytes"));
    }
    Ok(bytes)
}

/// `name=value` pairs separated by commas, each name once, all of `names` present.
fn params(text: &str, names: &[&str]) -> Result<Vec<u64>, String> {
    let mut values = vec![None; names.len()];
    for pair in text.split(',') {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("parameter {pair:?} is not name=value"))?;
        let i = names
            .iter()
            .position(|n| *n == name)
            .ok_or_else(|| format!("unknown parameter {name:?}"))?;
        let value: u64 = value
            .parse()
            .map_err(|_| format!("parameter {name} is not a whole number"))?;
        if values[i].replace(value).is_some() {
            return Err(format!("parameter {name} given twice"));
        }
    }
    values
        .into_iter()
        .zip(names)
        .map(|(v, n)| v.ok_or_else(|| format!("parameter {n} is missing")))
        .collect()
}

/// scrypt's bounds on log2 N, r and p.
fn scrypt_bounds(log_n: u64, r: u64, p: u64) -> Result<(u8, u32, u32), String> {
    if !(1..=SCRYPT_MAX_LOG_N as u64).contains(&log_n) {
        return Err(format!(
            "scrypt log2 N {log_n} is outside 1..={SCRYPT_MAX_LOG_N}"
        ));
    }
    if r == 0 || p == 0 {
        return Err("scrypt r and p must be at least 1".into());
    }
    let n = 1u64 << log_n;
    let memory = 128u64.saturating_mul(n).saturating_mul(r);
    if memory > SCRYPT_MAX_MEMORY {
        return Err(format!(
            "scrypt memory 128*N*r = {memory} bytes exceeds {SCRYPT_MAX_MEMORY}"
        ));
    }
    let work = n.saturating_mul(r).saturating_mul(p);
    if work > SCRYPT_MAX_WORK {
        return Err(format!(
            "scrypt work N*r*p = {work} exceeds {SCRYPT_MAX_WORK}"
        ));
    }
    Ok((log_n as u8, r as u32, p as u32))
}

/// `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>` (PHC, as passlib writes it).
fn scrypt_hash(rest: &str) -> Result<Parsed<'_>, String> {
    let parts: Vec<&str> = rest.split('$').collect();
    let [params_text, salt, hash] = parts[..] else {
        return Err("a scrypt hash is $scrypt$ln=..,r=..,p=..$<salt>$<hash>".into());
    };
    let values = params(params_text, &["ln", "r", "p"])?;
    let (log_n, r, p) = scrypt_bounds(values[0], values[1], values[2])?;
    let hash = b64("hash", hash)?;
    if !(16..=64).contains(&hash.len()) {
        return Err("a scrypt hash must be 16 to 64 bytes".into());
    }
    Ok(Parsed::Scrypt {
        log_n,
        r,
        p,
        salt: b64("salt", salt)?,
        hash,
    })
}

/// `$firebase-scrypt$rounds=<r>,mem_cost=<log2 N>$<signer key>$<salt separator>$<salt>$<hash>`:
/// the project's parameters (Firebase console, "Password hash parameters") with the user's salt
/// and hash, each in base64 as Firebase gives them.
fn firebase(rest: &str) -> Result<Parsed<'_>, String> {
    let parts: Vec<&str> = rest.split('$').collect();
    let [params_text, signer_key, salt_separator, salt, hash] = parts[..] else {
        return Err("a Firebase scrypt hash is $firebase-scrypt$rounds=..,mem_cost=..$<signer key>$<salt separator>$<salt>$<hash>".into());
    };
    let values = params(params_text, &["rounds", "mem_cost"])?;
    let (log_n, r, _) = scrypt_bounds(values[1], values[0], 1)?;
    let signer_key = b64("signer key", signer_key)?;
    let hash = b64("hash", hash)?;
    if hash.len() != signer_key.len() {
        return Err("a Firebase hash is as long as the signer key".into());
    }
    let salt_separator = if salt_separator.is_empty() {
        Vec::new()
    } else {
        b64("salt separator", salt_separator)?
    };
    Ok(Parsed::Firebase {
        log_n,
        r,
        signer_key,
        salt_separator,
        salt: b64("salt", salt)?,
        hash,
    })
}

/// `pbkdf2_sha256$<iterations>$<salt>$<hash>` (Django): the salt used as it is written.
fn django(rest: &str) -> Result<Parsed<'_>, String> {
    let parts: Vec<&str> = rest.split('$').collect();
    let [iterations, salt, hash] = parts[..] else {
        return Err("a Django hash is pbkdf2_sha256$<iterations>$<salt>$<hash>".into());
    };
    let iterations: u32 = iterations
        .parse()
        .map_err(|_| "the iterations are not a whole number".to_string())?;
    if !(1..=PBKDF2_MAX_ITERATIONS).contains(&iterations) {
        return Err(format!(
            "PBKDF2 iterations {iterations} are outside 1..={PBKDF2_MAX_ITERATIONS}"
        ));
    }
    if salt.is_empty() || salt.len() > MAX_BYTES {
        return Err(format!("the salt must be 1 to {MAX_BYTES} characters"));
    }
    let hash = b64("hash", hash)?;
    if !(16..=64).contains(&hash.len()) {
        return Err("a PBKDF2 hash must be 16 to 64 bytes".into());
    }
    Ok(Parsed::Django {
        iterations,
        salt,
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Firebase's published sample (firebase/scrypt README).
    const FIREBASE: &str = "$firebase-scrypt$rounds=8,mem_cost=14$jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==$Bw==$42xEC+ixf3L2lw==$lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==";

    #[test]
    fn firebase_sample_verifies() {
        assert_eq!(validate(FIREBASE), Ok(Kind::FirebaseScrypt));
        assert!(verify("user1password", FIREBASE));
        assert!(!verify("user2password", FIREBASE));
    }

    #[test]
    fn bcrypt_published_vectors() {
        // crypt_blowfish's test vectors (Openwall).
        let hash = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
        assert_eq!(validate(hash), Ok(Kind::Bcrypt));
        assert!(verify("U*U", hash));
        assert!(!verify("U*V", hash));
        let y = "$2y$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW";
        assert!(verify("U*U", y));
        assert!(
            validate("$2b$17$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")
                .unwrap_err()
                .contains("cost 17")
        );
    }

    #[test]
    fn django_pbkdf2() {
        // Python: base64(hashlib.pbkdf2_hmac("sha256", b"password", b"salt", 1)).
        let hash = "pbkdf2_sha256$1$salt$Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs=";
        assert_eq!(validate(hash), Ok(Kind::DjangoPbkdf2));
        assert!(verify("password", hash));
        assert!(!verify("passwore", hash));
        assert!(validate(
            "pbkdf2_sha256$10000001$salt$Eg+2z/z4syxD5yJSVsT4N6hlSMkszDVICAWYfLcL4Xs="
        )
        .is_err());
    }

    #[test]
    fn scrypt_rfc7914_vector() {
        // RFC 7914 §12: scrypt("password", "NaCl", N=1024, r=8, p=16, 64).
        let salt = STANDARD_NO_PAD.encode(b"NaCl");
        let hash = "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640";
        let bytes: Vec<u8> = (0..hash.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hash[i..i + 2], 16).unwrap())
            .collect();
        let stored = format!(
            "$scrypt$ln=10,r=8,p=16${salt}${}",
            STANDARD_NO_PAD.encode(bytes)
        );
        assert_eq!(validate(&stored), Ok(Kind::Scrypt));
        assert!(verify("password", &stored));
        assert!(!verify("Password", &stored));
        let greedy = stored.replace("ln=10", "ln=18");
        assert!(validate(&greedy).unwrap_err().contains("outside"));
        let wide = stored.replace("r=8,p=16", "r=8,p=1024");
        assert!(validate(&wide).unwrap_err().contains("work"));
    }

    #[test]
    fn argon2_bounds() {
        let ok =
            "$argon2i$v=19$m=4096,t=3,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A";
        assert_eq!(validate(ok), Ok(Kind::Argon2));
        // The reference implementation's README: `argon2 somesalt -t 2 -m 16 -p 4 -l 24`.
        let reference =
            "$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG";
        assert_eq!(validate(reference), Ok(Kind::Argon2));
        let hashing = super::super::PasswordHashing::new(&crate::config::PasswordConfig {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        assert!(matches!(
            hashing.verify("password", reference),
            super::super::Verified::YesRehashed(_)
        ));
        let big = "$argon2id$v=19$m=1048576,t=3,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A";
        assert!(validate(big).unwrap_err().contains("exceed"));
        assert!(validate("md5$abc").is_err());
    }
}
