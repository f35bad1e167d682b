//! Argon2id password hashing on the blocking thread pool, with bounded
//! concurrency and bounded memory: each hash needs `m_cost` KiB (19 MiB by
//! default) and ~40 ms of one core, so a sign-in storm must queue here instead
//! of exhausting memory or starving the async workers that serve token
//! validation.
//!
//! The working memory is reused: a freshly allocated 19 MiB buffer per hash,
//! freed on whichever blocking thread ran it, was kept by the allocator's
//! per-thread arenas and drove the process to ~800 MiB under a sign-in burst.
//! A pool with one buffer per permit keeps it at `permits × m_cost`.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, SemaphorePermit};

const SALT_LEN: usize = 16;
const OUTPUT_LEN: usize = 32;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot is busy and the queue is full.
    #[error("password hashing is overloaded")]
    Overloaded,
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

/// Argon2 working memory, handed from one hash to the next.
struct MemoryPool {
    buffers: Mutex<Vec<Vec<Block>>>,
    capacity: usize,
}

impl MemoryPool {
    fn take(&self, blocks: usize) -> Vec<Block> {
        let reused = self.buffers.lock().ok().and_then(|mut free| free.pop());
        match reused {
            Some(buffer) if buffer.len() >= blocks => buffer,
            _ => vec![Block::new(); blocks],
        }
    }

    fn give_back(&self, buffer: Vec<Block>) {
        if let Ok(mut free) = self.buffers.lock() {
            if free.len() < self.capacity {
                free.push(buffer);
            }
        }
    }
}

#[derive(Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// Requests waiting for a permit, bounded by `queue_limit`.
    waiting: Arc<AtomicUsize>,
    queue_limit: usize,
    memory: Arc<MemoryPool>,
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
        queue_limit: usize,
    ) -> Result<Self, HashError> {
        let params = Params::new(memory_kib, iterations, parallelism, Some(OUTPUT_LEN))
            .map_err(|e| HashError::Params(e.to_string()))?;
        let concurrency = if concurrency == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            concurrency
        };
        let memory = Arc::new(MemoryPool {
            buffers: Mutex::new(Vec::new()),
            capacity: concurrency,
        });
        let dummy = hash_blocking(&params, &memory, b"portcullis-dummy-password")?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency)),
            waiting: Arc::new(AtomicUsize::new(0)),
            queue_limit,
            memory,
            dummy_hash: dummy.into(),
        })
    }

    /// Waits for a hashing slot, or fails at once with `Overloaded` when the
    /// queue is full: a burst degrades into quick 503s, not unbounded waits.
    pub async fn slot(&self) -> Result<HashSlot<'_>, HashError> {
        if let Ok(permit) = self.permits.try_acquire() {
            return Ok(HashSlot {
                hasher: self,
                _permit: permit,
            });
        }
        let place = QueuePlace::take(&self.waiting, self.queue_limit)?;
        let permit = self.permits.acquire().await;
        drop(place);
        let permit = permit.map_err(|_| HashError::Cancelled)?;
        Ok(HashSlot {
            hasher: self,
            _permit: permit,
        })
    }

    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        self.slot().await?.hash(password).await
    }

    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<Verdict, HashError> {
        self.slot().await?.verify(password, stored).await
    }
}

/// A place in the queue for a hashing slot. Given back on drop, so a request
/// abandoned while it waits (the client went away) does not keep it.
struct QueuePlace<'a>(&'a AtomicUsize);

impl<'a> QueuePlace<'a> {
    fn take(waiting: &'a AtomicUsize, limit: usize) -> Result<Self, HashError> {
        let place = QueuePlace(waiting);
        if waiting.fetch_add(1, Ordering::SeqCst) >= limit {
            return Err(HashError::Overloaded);
        }
        Ok(place)
    }
}

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// The right to run one Argon2 computation now.
pub struct HashSlot<'a> {
    hasher: &'a PasswordHasher,
    _permit: SemaphorePermit<'a>,
}

impl HashSlot<'_> {
    pub async fn hash(self, password: &str) -> Result<String, HashError> {
        let params = self.hasher.params.clone();
        let memory = self.hasher.memory.clone();
        let password = password.to_owned();
        run(move || hash_blocking(&params, &memory, password.as_bytes())).await?
    }

    /// Checks `password` against `stored`, or against the dummy hash when there
    /// is nothing stored; in that case the answer is always `Mismatch`.
    pub async fn verify(self, password: &str, stored: Option<&str>) -> Result<Verdict, HashError> {
        let is_real = stored.is_some();
        let stored: String = stored.unwrap_or(&self.hasher.dummy_hash).to_string();
        let params = self.hasher.params.clone();
        let memory = self.hasher.memory.clone();
        let password = password.to_owned();
        let verdict =
            run(move || verify_blocking(&params, &memory, password.as_bytes(), &stored)).await?;
        Ok(if is_real { verdict } else { Verdict::Mismatch })
    }
}

/// Runs on the blocking pool, keeping the caller's span.
async fn run<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(|_| HashError::Cancelled)
}

/// Argon2id over pooled memory, written as a PHC string.
fn hash_blocking(params: &Params, pool: &MemoryPool, password: &[u8]) -> Result<String, HashError> {
    let failed = |e: &dyn std::fmt::Display| HashError::Hash(e.to_string());
    let mut salt = [0u8; SALT_LEN];
    rand::rng().fill_bytes(&mut salt);
    let mut out = [0u8; OUTPUT_LEN];
    let mut memory = pool.take(params.block_count());
    let result = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password, &salt, &mut out, &mut memory[..]);
    pool.give_back(memory);
    result.map_err(|e| failed(&e))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| failed(&e))?,
        salt: Some(Salt::new(&salt).map_err(|e| failed(&e))?),
        hash: Some(Output::new(&out).map_err(|e| failed(&e))?),
    };
    Ok(phc.to_string())
}

/// Recomputes the stored hash with its own algorithm, version and parameters
/// and compares in constant time (`Output`'s equality).
fn verify_blocking(
    configured: &Params,
    pool: &MemoryPool,
    password: &[u8],
    stored: &str,
) -> Verdict {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verdict::Mismatch;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return Verdict::Mismatch;
    };
    let Ok(version) = parsed.version.map_or(Ok(Version::V0x13), Version::try_from) else {
        return Verdict::Mismatch;
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return Verdict::Mismatch;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return Verdict::Mismatch;
    };
    let mut out = vec![0u8; expected.len()];
    let mut memory = pool.take(params.block_count());
    let computed = Argon2::new(algorithm, version, params.clone()).hash_password_into_with_memory(
        password,
        &salt,
        &mut out,
        &mut memory[..],
    );
    pool.give_back(memory);
    let matches = computed.is_ok() && Output::new(&out).is_ok_and(|o| o == expected);
    if !matches {
        return Verdict::Mismatch;
    }
    let current = algorithm == Algorithm::Argon2id
        && version == Version::V0x13
        && params.m_cost() == configured.m_cost()
        && params.t_cost() == configured.t_cost()
        && params.p_cost() == configured.p_cost();
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
        PasswordHasher::new(1024, 1, 1, 2, 8).unwrap()
    }

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_with_unique_salts() {
        let hasher = PasswordHasher::new(19_456, 2, 1, 2, 8).unwrap();
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
    async fn verifies_hashes_made_by_the_reference_implementation() {
        use argon2::password_hash::PasswordHasher as _;
        let reference = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(1024, 1, 1, None).unwrap(),
        )
        .hash_password(b"reference password")
        .unwrap()
        .to_string();
        let ours = fast().hash("reference password").await.unwrap();
        assert_eq!(
            reference.split('$').nth(3),
            ours.split('$').nth(3),
            "same parameter encoding"
        );
        assert_eq!(
            fast()
                .verify("reference password", Some(&reference))
                .await
                .unwrap(),
            Verdict::Match
        );
        assert_eq!(
            fast()
                .verify("other password", Some(&reference))
                .await
                .unwrap(),
            Verdict::Mismatch
        );
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once() {
        let hasher = PasswordHasher::new(1024, 1, 1, 1, 1).unwrap();
        let running = hasher.slot().await.unwrap();
        // One may wait...
        let waiting = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.hash("queued password").await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // ...the next is turned away.
        assert!(matches!(
            hasher.hash("one too many").await,
            Err(HashError::Overloaded)
        ));
        drop(running);
        assert!(waiting.await.unwrap().is_ok());
        assert!(hasher.hash("capacity again").await.is_ok());
    }

    #[tokio::test]
    async fn an_abandoned_wait_gives_its_place_back() {
        let hasher = PasswordHasher::new(1024, 1, 1, 1, 1).unwrap();
        let running = hasher.slot().await.unwrap();
        let waiting = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.hash("abandoned").await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // The client goes away while its request waits in the queue.
        waiting.abort();
        assert!(waiting.await.unwrap_err().is_cancelled());
        // Its place is free again: the next request may wait.
        let next = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.hash("next in line").await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        drop(running);
        assert!(next.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn memory_is_reused_across_hashes() {
        let hasher = fast();
        for _ in 0..8 {
            hasher.hash("some password").await.unwrap();
        }
        let pooled = hasher.memory.buffers.lock().unwrap().len();
        assert!(pooled <= 2, "{pooled} buffers kept for 2 permits");
    }

    #[tokio::test]
    async fn changed_parameters_ask_for_a_rehash() {
        let old = fast().hash("password for rehash").await.unwrap();
        let stronger = PasswordHasher::new(2048, 2, 1, 2, 8).unwrap();
        assert_eq!(
            stronger
                .verify("password for rehash", Some(&old))
                .await
                .unwrap(),
            Verdict::MatchNeedsRehash
        );
    }
}
