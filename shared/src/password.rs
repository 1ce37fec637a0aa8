//! Argon2id password hashing (OWASP: m=19 MiB, t=2, p=1 by default), PHC strings at rest.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::config::PasswordConfig;

#[derive(Clone)]
pub struct PasswordHashing {
    params: Params,
    /// A hash of a random password with the current parameters: unknown accounts are checked
    /// against it so that they cost the same work as known ones.
    dummy: std::sync::Arc<OnceLock<String>>,
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
        Ok(PasswordHashing {
            params,
            dummy: Default::default(),
        })
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    pub fn hash(&self, password: &str) -> anyhow::Result<String> {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        self.argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))
    }

    pub fn verify(&self, password: &str, stored: &str) -> Verified {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return Verified::No;
        };
        // Verify with the parameters recorded in the hash, whatever the current ones are.
        if Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_err()
        {
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

    /// Runs hashing off the async workers: it takes tens of milliseconds by design.
    pub async fn hash_async(&self, password: String) -> anyhow::Result<String> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.hash(&password)).await?
    }

    pub async fn verify_async(&self, password: String, stored: Option<String>) -> Verified {
        let this = self.clone();
        tokio::task::spawn_blocking(move || match stored {
            Some(stored) => this.verify(&password, &stored),
            None => {
                this.verify_dummy(&password);
                Verified::No
            }
        })
        .await
        .unwrap_or(Verified::No)
    }
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
    fn rehashes_when_parameters_change() {
        let old = hashing(1024).hash("pw-123456").unwrap();
        match hashing(2048).verify("pw-123456", &old) {
            Verified::YesRehashed(new) => assert!(new.contains("m=2048")),
            other => panic!("expected a rehash, got {other:?}"),
        }
    }
}
