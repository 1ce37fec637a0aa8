//! Argon2id password hashing (OWASP: m=19 MiB, t=2, p=1 by default), PHC strings at rest.
//! Hashes made elsewhere (imported users) are checked by [`foreign`] and replaced by ours at
//! the first right password: every check of a password goes through [`PasswordHashing::verify`].

pub mod foreign;

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use tokio::sync::Semaphore;

use crate::config::PasswordConfig;

#[derive(Clone)]
pub struct PasswordHashing {
    params: Params,
    /// A hash of a random password with the current parameters: unknown accounts are checked
    /// against it so that they cost the same work as known ones.
    dummy: Arc<OnceLock<String>>,
    /// One hash per core at a time. More would only share the cores, thrash their caches and
    /// hold 19 MiB of working memory each; the rest wait their turn without a thread.
    permits: Arc<Semaphore>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Verified {
    No,
    Yes,
    /// Correct, and the stored hash used other parameters: store this new hash.
    YesRehashed(String),
}

impl PasswordHashing {
    pub fn new(config: &PasswordConfig) -> anyhow::Result<Self> {
        let params = Params::new(
            config.memory_kib,
            config.iterations,
            config.parallelism,
            None,
        )
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(PasswordHashing {
            params,
            dummy: Default::default(),
            permits: Arc::new(Semaphore::new(cores)),
        })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    pub fn hash(&self, password: &str) -> anyhow::Result<String> {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt
            .decode_b64(&mut salt_bytes)
            .map_err(|e| anyhow::anyhow!("salt: {e}"))?;
        let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
        compute(
            &self.argon2(),
            &self.params,
            password.as_bytes(),
            salt_bytes,
            &mut out,
        )?;
        let hash = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: ParamsString::try_from(&self.params).map_err(|e| anyhow::anyhow!("{e}"))?,
            salt: Some(salt.as_salt()),
            hash: Some(Output::new(&out).map_err(|e| anyhow::anyhow!("{e}"))?),
        };
        Ok(hash.to_string())
    }

    pub fn verify(&self, password: &str, stored: &str) -> Verified {
        if !stored.starts_with("$argon2") {
            // bcrypt, scrypt, Firebase, Django: right once, then ours.
            if !foreign::verify(password, stored) {
                return Verified::No;
            }
            return match self.hash(password) {
                Ok(new_hash) => Verified::YesRehashed(new_hash),
                Err(_) => Verified::Yes,
            };
        }
        let Ok(parsed) = PasswordHash::new(stored) else {
            return Verified::No;
        };
        // Argon2 of other parameters only within the bounds an import is held to (or ours).
        if !self.is_current(&parsed) && foreign::validate(stored).is_err() {
            return Verified::No;
        }
        // Verify with the parameters recorded in the hash, whatever the current ones are.
        if !matches_stored(password, &parsed) {
            return Verified::No;
        }
        if self.is_current(&parsed) {
            return Verified::Yes;
        }
        match self.hash(password) {
            Ok(new_hash) => Verified::YesRehashed(new_hash),
            Err(_) => Verified::Yes,
        }
    }

    fn is_current(&self, parsed: &PasswordHash<'_>) -> bool {
        parsed.algorithm.as_str() == "argon2id"
            && Params::try_from(parsed).is_ok_and(|p| {
                p.m_cost() == self.params.m_cost()
                    && p.t_cost() == self.params.t_cost()
                    && p.p_cost() == self.params.p_cost()
            })
    }

    /// Spends the same work as [`verify`](Self::verify) for an account that does not exist.
    pub fn verify_dummy(&self, password: &str) {
        let dummy = self.dummy.get_or_init(|| {
            self.hash(&crate::crypto::random_token())
                .unwrap_or_default()
        });
        let _ = self.verify(password, dummy);
    }

    /// Runs `work` on the blocking pool once a core is free: hashing takes milliseconds of CPU
    /// by design and must not hold up the async workers.
    async fn off_the_workers<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Self) -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        let _permit = self.permits.acquire().await?;
        let this = self.clone();
        Ok(tokio::task::spawn_blocking(move || work(&this)).await?)
    }

    pub async fn hash_async(&self, password: String) -> anyhow::Result<String> {
        self.off_the_workers(move |this| this.hash(&password))
            .await?
    }

    pub async fn verify_async(&self, password: String, stored: Option<String>) -> Verified {
        self.off_the_workers(move |this| match stored {
            // An account without a password (made through a sign-in provider) costs the same
            // work as an unknown one, so timing does not tell that it has none.
            Some(stored) if !stored.is_empty() => this.verify(&password, &stored),
            _ => {
                this.verify_dummy(&password);
                Verified::No
            }
        })
        .await
        .unwrap_or(Verified::No)
    }
}

thread_local! {
    /// Argon2's working memory, kept by each (blocking-pool) thread between hashes: allocating
    /// and zeroing 19 MiB for every hash costs about a quarter of its time. Every block is
    /// written before it is read, so what a previous hash left there does not matter.
    static WORK_MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

fn compute(
    argon2: &Argon2<'_>,
    params: &Params,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> anyhow::Result<()> {
    WORK_MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        let blocks = params.block_count();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        argon2
            .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))
    })
}

/// Recomputes a stored PHC hash with its own algorithm, version, parameters and salt.
fn matches_stored(password: &str, stored: &PasswordHash<'_>) -> bool {
    let (Ok(algorithm), Some(salt), Some(expected)) = (
        Algorithm::try_from(stored.algorithm),
        stored.salt,
        stored.hash,
    ) else {
        return false;
    };
    let version = match stored.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(stored) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    if compute(&argon2, &params, password.as_bytes(), salt_bytes, &mut out).is_err() {
        return false;
    }
    // `Output` compares in constant time.
    Output::new(&out).is_ok_and(|actual| actual == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashing(m: u32) -> PasswordHashing {
        PasswordHashing::new(&PasswordConfig {
            memory_kib: m,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
    }

    #[test]
    fn verifies_and_rejects() {
        let h = hashing(1024);
        let stored = h.hash("correct horse").unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert_eq!(h.verify("correct horse", &stored), Verified::Yes);
        assert_eq!(h.verify("wrong horse", &stored), Verified::No);
        assert_eq!(h.verify("correct horse", "not a hash"), Verified::No);
    }

    #[test]
    fn hashes_are_standard_phc_strings() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let h = hashing(1024);
        // Ours verify with the reference implementation, and the other way round.
        let ours = h.hash("interop pw").unwrap();
        assert!(Argon2::default()
            .verify_password(b"interop pw", &PasswordHash::new(&ours).unwrap())
            .is_ok());
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let theirs = Argon2::default()
            .hash_password(b"interop pw", &salt)
            .unwrap()
            .to_string();
        assert_ne!(h.verify("interop pw", &theirs), Verified::No);
        assert_eq!(h.verify("other pw", &theirs), Verified::No);
        // Reused working memory does not leak between hashes of different sizes.
        let big = hashing(4096);
        let a = big.hash("first").unwrap();
        let _ = h.hash("second").unwrap();
        assert_eq!(big.verify("first", &a), Verified::Yes);
    }

    #[test]
    fn rehashes_when_parameters_change() {
        let old = hashing(1024).hash("pw-123456").unwrap();
        match hashing(2048).verify("pw-123456", &old) {
            Verified::YesRehashed(new) => assert!(new.contains("m=2048")),
            other => panic!("expected a rehash, got {other:?}"),
        }
    }
}
