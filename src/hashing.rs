//! Argon2id password hashing on the blocking thread pool, with bounded
//! concurrency: each hash takes ~19 MiB and ~40 ms of one core, so a sign-in
//! storm must queue here instead of exhausting memory or starving the async
//! workers that serve token validation.

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::Arc;
use tokio::sync::Semaphore;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("invalid Argon2 parameters: {0}")]
    Params(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("the hashing task was cancelled")]
    Cancelled,
}

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Mismatch,
    Match,
    /// Correct, but stored with parameters other than the configured ones.
    MatchNeedsRehash,
}

impl Verdict {
    pub fn is_match(self) -> bool {
        !matches!(self, Verdict::Mismatch)
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// Verified against when an account does not exist or has no password, so
    /// that every sign-in costs one Argon2 computation.
    dummy_hash: Arc<str>,
}

impl PasswordHasher {
    /// Builds the hasher and computes the dummy hash (one Argon2 run).
    pub fn new(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        concurrency: usize,
    ) -> Result<Self, HashError> {
        let params = Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|e| HashError::Params(e.to_string()))?;
        let concurrency = if concurrency == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            concurrency
        };
        let dummy = hash_blocking(&params, b"portcullis-dummy-password")?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency)),
            dummy_hash: dummy.into(),
        })
    }

    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let params = self.params.clone();
        let password = password.to_owned();
        self.run(move || hash_blocking(&params, password.as_bytes()))
            .await?
    }

    /// Checks `password` against `stored`, or against the dummy hash when there
    /// is nothing stored; in that case the answer is always `Mismatch`.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<Verdict, HashError> {
        let is_real = stored.is_some();
        let stored: String = stored.unwrap_or(&self.dummy_hash).to_string();
        let params = self.params.clone();
        let password = password.to_owned();
        let verdict = self
            .run(move || verify_blocking(&params, password.as_bytes(), &stored))
            .await?;
        Ok(if is_real { verdict } else { Verdict::Mismatch })
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| HashError::Cancelled)?;
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(work))
            .await
            .map_err(|_| HashError::Cancelled)
    }
}

fn argon2(params: &Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
}

fn hash_blocking(params: &Params, password: &[u8]) -> Result<String, HashError> {
    argon2(params)
        .hash_password(password)
        .map(|hash| hash.to_string())
        .map_err(|e| HashError::Hash(e.to_string()))
}

fn verify_blocking(params: &Params, password: &[u8], stored: &str) -> Verdict {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verdict::Mismatch;
    };
    if argon2(params).verify_password(password, &parsed).is_err() {
        return Verdict::Mismatch;
    }
    let current = parsed.algorithm.as_str() == Algorithm::Argon2id.as_str()
        && Params::try_from(&parsed).is_ok_and(|p| {
            p.m_cost() == params.m_cost()
                && p.t_cost() == params.t_cost()
                && p.p_cost() == params.p_cost()
        });
    if current {
        Verdict::Match
    } else {
        Verdict::MatchNeedsRehash
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> PasswordHasher {
        PasswordHasher::new(1024, 1, 1, 2).unwrap()
    }

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_with_unique_salts() {
        let hasher = PasswordHasher::new(19_456, 2, 1, 2).unwrap();
        let a = hasher.hash("correct horse").await.unwrap();
        let b = hasher.hash("correct horse").await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn verifies_exactly_the_same_password() {
        let hasher = fast();
        let hash = hasher.hash("Tr0ub4dor&3 ünïcödé").await.unwrap();
        assert_eq!(
            hasher
                .verify("Tr0ub4dor&3 ünïcödé", Some(&hash))
                .await
                .unwrap(),
            Verdict::Match
        );
        for wrong in ["Tr0ub4dor&3 ünïcödé ", "tr0ub4dor&3 ünïcödé", "Tr0ub4dor&3"] {
            assert_eq!(
                hasher.verify(wrong, Some(&hash)).await.unwrap(),
                Verdict::Mismatch
            );
        }
    }

    #[tokio::test]
    async fn missing_hash_never_matches() {
        let hasher = fast();
        assert_eq!(
            hasher.verify("anything", None).await.unwrap(),
            Verdict::Mismatch
        );
        assert_eq!(
            hasher.verify("x", Some("not a phc string")).await.unwrap(),
            Verdict::Mismatch
        );
    }

    #[tokio::test]
    async fn changed_parameters_ask_for_a_rehash() {
        let old = fast().hash("password for rehash").await.unwrap();
        let stronger = PasswordHasher::new(2048, 2, 1, 2).unwrap();
        assert_eq!(
            stronger
                .verify("password for rehash", Some(&old))
                .await
                .unwrap(),
            Verdict::MatchNeedsRehash
        );
    }
}
