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
use std::collections::HashMap;
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
    /// This client already holds its share of the hashing slots and queue.
    #[error("this client has too many password checks in progress")]
    ClientOverShare,
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
    /// Hashing slots held or awaited per client: one client (one address)
    /// gets at most `client_share` of them, so that a single client cannot
    /// fill the queue and turn everybody else's sign-in into a 503.
    per_client: Arc<Mutex<HashMap<String, usize>>>,
    /// `None` when the share is the whole capacity: then no per-client bound.
    client_share: Option<usize>,
    /// Verified against when an account does not exist or has no password, so
    /// that every sign-in costs one Argon2 computation.
    dummy_hash: Arc<str>,
    /// Waits for a slot and refusals, when the instance counts them.
    metrics: Option<crate::metrics::HashMetrics>,
}

impl PasswordHasher {
    /// Builds the hasher and computes the dummy hash (one Argon2 run).
    pub fn new(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        concurrency: usize,
        queue_limit: usize,
        client_share_percent: u8,
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
        let capacity = concurrency + queue_limit;
        let client_share = (capacity * usize::from(client_share_percent.min(100)))
            .div_ceil(100)
            .max(1);
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(concurrency)),
            waiting: Arc::new(AtomicUsize::new(0)),
            queue_limit,
            memory,
            per_client: Arc::new(Mutex::new(HashMap::new())),
            client_share: (client_share < capacity).then_some(client_share),
            dummy_hash: dummy.into(),
            metrics: None,
        })
    }

    /// Counts waits for a slot and refusals in these metrics.
    pub fn with_metrics(mut self, metrics: crate::metrics::HashMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Waits for a hashing slot, or fails at once with `Overloaded` when the
    /// queue is full: a burst degrades into quick 503s, not unbounded waits.
    /// With a `client` (its rate-limit key), fails at once with
    /// `ClientOverShare` when that client already holds its share.
    pub async fn slot(&self, client: Option<&str>) -> Result<HashSlot<'_>, HashError> {
        let slot = self.wait_for_slot(client).await;
        if let Some(metrics) = &self.metrics {
            if let Err(error @ (HashError::Overloaded | HashError::ClientOverShare)) = &slot {
                metrics.refused(matches!(error, HashError::Overloaded));
            }
        }
        slot
    }

    async fn wait_for_slot(&self, client: Option<&str>) -> Result<HashSlot<'_>, HashError> {
        // A share of the whole capacity is no limit: the queue bound decides.
        let claim = client
            .zip(self.client_share)
            .map(|(key, share)| ClientClaim::take(&self.per_client, key, share))
            .transpose()?;
        if let Ok(permit) = self.permits.try_acquire() {
            if let Some(metrics) = &self.metrics {
                metrics.waited(std::time::Duration::ZERO);
            }
            return Ok(HashSlot {
                hasher: self,
                _permit: permit,
                _claim: claim,
            });
        }
        let place = QueuePlace::take(&self.waiting, self.queue_limit)?;
        let started = std::time::Instant::now();
        let permit = self.permits.acquire().await;
        if let Some(metrics) = &self.metrics {
            metrics.waited(started.elapsed());
        }
        drop(place);
        let permit = permit.map_err(|_| HashError::Cancelled)?;
        Ok(HashSlot {
            hasher: self,
            _permit: permit,
            _claim: claim,
        })
    }

    /// Requests waiting for a hashing slot right now (a metric).
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    pub async fn hash(&self, client: Option<&str>, password: &str) -> Result<String, HashError> {
        self.slot(client).await?.hash(password).await
    }

    pub async fn verify(
        &self,
        client: Option<&str>,
        password: &str,
        stored: Option<&str>,
    ) -> Result<Verdict, HashError> {
        self.slot(client).await?.verify(password, stored).await
    }
}

/// One client's use of the hashing slots; given back on drop.
struct ClientClaim {
    counts: Arc<Mutex<HashMap<String, usize>>>,
    key: String,
}

impl ClientClaim {
    fn take(
        counts: &Arc<Mutex<HashMap<String, usize>>>,
        key: &str,
        share: usize,
    ) -> Result<Self, HashError> {
        // A poisoned lock only means another thread panicked mid-update of a
        // counter; the map is still usable.
        let mut map = counts.lock().unwrap_or_else(|e| e.into_inner());
        let held = map.entry(key.to_string()).or_insert(0);
        if *held >= share {
            return Err(HashError::ClientOverShare);
        }
        *held += 1;
        Ok(ClientClaim {
            counts: counts.clone(),
            key: key.to_string(),
        })
    }
}

impl Drop for ClientClaim {
    fn drop(&mut self) {
        let mut map = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(held) = map.get_mut(&self.key) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                map.remove(&self.key);
            }
        }
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
    _claim: Option<ClientClaim>,
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

/// Runs on the blocking pool, in a span of its own under the caller's (the
/// hash's share of a request shows in a trace).
async fn run<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
    let span = tracing::info_span!("password_hash", algorithm = "argon2id");
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
        PasswordHasher::new(1024, 1, 1, 2, 8, 100).unwrap()
    }

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_with_unique_salts() {
        let hasher = PasswordHasher::new(19_456, 2, 1, 2, 8, 100).unwrap();
        let a = hasher.hash(None, "correct horse").await.unwrap();
        let b = hasher.hash(None, "correct horse").await.unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn verifies_exactly_the_same_password() {
        let hasher = fast();
        let hash = hasher.hash(None, "Tr0ub4dor&3 ünïcödé").await.unwrap();
        assert_eq!(
            hasher
                .verify(None, "Tr0ub4dor&3 ünïcödé", Some(&hash))
                .await
                .unwrap(),
            Verdict::Match
        );
        for wrong in ["Tr0ub4dor&3 ünïcödé ", "tr0ub4dor&3 ünïcödé", "Tr0ub4dor&3"] {
            assert_eq!(
                hasher.verify(None, wrong, Some(&hash)).await.unwrap(),
                Verdict::Mismatch
            );
        }
    }

    #[tokio::test]
    async fn missing_hash_never_matches() {
        let hasher = fast();
        assert_eq!(
            hasher.verify(None, "anything", None).await.unwrap(),
            Verdict::Mismatch
        );
        assert_eq!(
            hasher
                .verify(None, "x", Some("not a phc string"))
                .await
                .unwrap(),
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
        let ours = fast().hash(None, "reference password").await.unwrap();
        assert_eq!(
            reference.split('$').nth(3),
            ours.split('$').nth(3),
            "same parameter encoding"
        );
        assert_eq!(
            fast()
                .verify(None, "reference password", Some(&reference))
                .await
                .unwrap(),
            Verdict::Match
        );
        assert_eq!(
            fast()
                .verify(None, "other password", Some(&reference))
                .await
                .unwrap(),
            Verdict::Mismatch
        );
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once() {
        let hasher = PasswordHasher::new(1024, 1, 1, 1, 1, 100).unwrap();
        let running = hasher.slot(None).await.unwrap();
        // One may wait...
        let waiting = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.hash(None, "queued password").await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // ...the next is turned away.
        assert!(matches!(
            hasher.hash(None, "one too many").await,
            Err(HashError::Overloaded)
        ));
        drop(running);
        assert!(waiting.await.unwrap().is_ok());
        assert!(hasher.hash(None, "capacity again").await.is_ok());
    }

    #[tokio::test]
    async fn an_abandoned_wait_gives_its_place_back() {
        let hasher = PasswordHasher::new(1024, 1, 1, 1, 1, 100).unwrap();
        let running = hasher.slot(None).await.unwrap();
        let waiting = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.hash(None, "abandoned").await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        // The client goes away while its request waits in the queue.
        waiting.abort();
        assert!(waiting.await.unwrap_err().is_cancelled());
        // Its place is free again: the next request may wait.
        let next = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.hash(None, "next in line").await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        drop(running);
        assert!(next.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn memory_is_reused_across_hashes() {
        let hasher = fast();
        for _ in 0..8 {
            hasher.hash(None, "some password").await.unwrap();
        }
        let pooled = hasher.memory.buffers.lock().unwrap().len();
        assert!(pooled <= 2, "{pooled} buffers kept for 2 permits");
    }

    #[tokio::test]
    async fn changed_parameters_ask_for_a_rehash() {
        let old = fast().hash(None, "password for rehash").await.unwrap();
        let stronger = PasswordHasher::new(2048, 2, 1, 2, 8, 100).unwrap();
        assert_eq!(
            stronger
                .verify(None, "password for rehash", Some(&old))
                .await
                .unwrap(),
            Verdict::MatchNeedsRehash
        );
    }

    #[tokio::test]
    async fn one_client_gets_only_its_share() {
        // 2 slots + 6 queue places, 25 %: 2 per client.
        let hasher = PasswordHasher::new(1024, 1, 1, 2, 6, 25).unwrap();
        let first = hasher.slot(Some("198.51.100.1")).await.unwrap();
        let second = hasher.slot(Some("198.51.100.1")).await.unwrap();
        assert!(matches!(
            hasher.slot(Some("198.51.100.1")).await.map(|_| ()),
            Err(HashError::ClientOverShare)
        ));
        // Another client still gets in line, and the share comes back on drop.
        let other = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.hash(Some("203.0.113.7"), "someone else").await }
        });
        drop(first);
        assert!(other.await.unwrap().is_ok());
        drop(second);
        assert!(hasher.slot(Some("198.51.100.1")).await.is_ok());
    }
}
