//! Argon2id password hashing on dedicated threads, with bounded
//! concurrency and bounded memory: each hash needs `m_cost` KiB (19 MiB by
//! default) and ~8 ms of one core, so a sign-in storm must queue here instead
//! of exhausting memory or starving the async workers that serve token
//! validation.
//!
//! The computation itself is in [`engine`]; it runs on the dedicated
//! low-priority threads of [`workers`]; two slots per thread (see [`slots_for`]).

mod engine;
mod workers;

use crate::metrics::HashRefusal;
use engine::Engine;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, SemaphorePermit};

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot is busy and the queue is full.
    #[error("password hashing is overloaded")]
    Overloaded,
    /// No hashing slot came free within the queue's wait limit.
    #[error("no password hashing slot came free in time")]
    WaitedTooLong,
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

#[derive(Clone)]
pub struct PasswordHasher {
    engine: Arc<Engine>,
    permits: Arc<Semaphore>,
    /// Requests waiting for a permit, bounded by `queue_limit`.
    waiting: Arc<AtomicUsize>,
    queue_limit: usize,
    /// The longest a request waits for a slot before its 503; `None`: no bound.
    queue_wait: Option<std::time::Duration>,
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
        thread_nice: i8,
    ) -> Result<Self, HashError> {
        let concurrency = if concurrency == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            concurrency
        };
        let engine = Arc::new(Engine::new(
            memory_kib,
            iterations,
            parallelism,
            concurrency,
            thread_nice,
        )?);
        let dummy = engine.run_now(|hasher| hasher.hash(b"portcullis-dummy-password"))?;
        let slots = slots_for(concurrency);
        let capacity = slots + queue_limit;
        let client_share = (capacity * usize::from(client_share_percent.min(100)))
            .div_ceil(100)
            .max(1);
        Ok(Self {
            engine,
            permits: Arc::new(Semaphore::new(slots)),
            waiting: Arc::new(AtomicUsize::new(0)),
            queue_limit,
            queue_wait: None,
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

    /// Bounds how long a request waits in the queue for a slot.
    ///
    /// Why a wait and not only a short queue: a waiting sign-in costs no CPU
    /// and little memory (its parsed request, no Argon2 arena), while a
    /// refusal that a client retries at once costs a whole request. With a
    /// queue of 64, bench/run's storm (200 connections signing in) turned
    /// into ~36 000 refusals a second that took the cores from token
    /// validation (SQLite: p99 9.3 ms, 8 100 req/s); with a queue of 512
    /// that holds the storm, each for at most this long, validation kept
    /// p99 5.1 ms and 28 600 req/s, and more people signed in. A client
    /// that ignores `Retry-After` gets at most one refusal per wait while
    /// the queue has room; beyond `queue_limit` (or its share) refusals
    /// are immediate again.
    pub fn with_queue_wait(mut self, wait: std::time::Duration) -> Self {
        self.queue_wait = Some(wait);
        self
    }

    /// Waits for a hashing slot, or fails at once with `Overloaded` when the
    /// queue is full, or with `WaitedTooLong` once the queue's wait limit
    /// has passed: a burst degrades into 503s, not unbounded waits.
    /// With a `client` (its rate-limit key), fails at once with
    /// `ClientOverShare` when that client already holds its share.
    pub async fn slot(&self, client: Option<&str>) -> Result<HashSlot<'_>, HashError> {
        let slot = self.wait_for_slot(client).await;
        if let Some(metrics) = &self.metrics {
            let refusal = match &slot {
                Err(HashError::Overloaded) => Some(HashRefusal::queue_full),
                Err(HashError::WaitedTooLong) => Some(HashRefusal::waited_too_long),
                Err(HashError::ClientOverShare) => Some(HashRefusal::client_share),
                _ => None,
            };
            if let Some(reason) = refusal {
                metrics.refused(reason);
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
        let permit = match self.queue_wait {
            Some(wait) => tokio::time::timeout(wait, self.permits.acquire()).await,
            None => Ok(self.permits.acquire().await),
        };
        // A wait that ran out is recorded too: it is the tail that matters.
        if let Some(metrics) = &self.metrics {
            metrics.waited(started.elapsed());
        }
        let permit = permit.map_err(|_| HashError::WaitedTooLong)?;
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

    /// A slot only if one is free right now, for work that may be skipped
    /// (the rehash after a sign-in): it never waits, and a refusal here is
    /// not counted as one.
    pub fn slot_now(&self) -> Option<HashSlot<'_>> {
        let permit = self.permits.try_acquire().ok()?;
        Some(HashSlot {
            hasher: self,
            _permit: permit,
            _claim: None,
        })
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

/// Two slots per hashing thread. A sign-in holds its slot from before its
/// database work (the user read, the lockout claim: a write) until its hash
/// ends; with one slot per thread, each thread idled through that work. The
/// spare slot lets the next sign-in do it while the thread hashes, and its
/// job waits at most one hash in the threads' queue. Threads, and so Argon2's
/// memory, stay at `concurrency`. The price: more sign-ins of one account in
/// flight at once, and the lockout counts each from its claim until a
/// success clears the count, so a client that signs one account in many
/// times in parallel meets the lockout sooner. A guesser gains nothing: every
/// attempt is counted, and the lock checked, before its hash.
fn slots_for(concurrency: usize) -> usize {
    concurrency.saturating_mul(2)
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

/// A place in the queue for a hashing slot. Given back on drop: a request
/// refused after its wait, or dropped while waiting, does not keep it.
/// (actix-web does not drop a handler whose client went away, so such a
/// request keeps its place until its wait runs out.)
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
        let password = password.to_owned();
        self.hasher
            .engine
            .run(move |hasher| hasher.hash(password.as_bytes()))
            .await?
    }

    /// Checks `password` against `stored`, or against the dummy hash when there
    /// is nothing stored; in that case the answer is always `Mismatch`.
    pub async fn verify(self, password: &str, stored: Option<&str>) -> Result<Verdict, HashError> {
        let is_real = stored.is_some();
        let stored: String = stored.unwrap_or(&self.hasher.dummy_hash).to_string();
        let password = password.to_owned();
        let verdict = self
            .hasher
            .engine
            .run(move |hasher| hasher.verify(password.as_bytes(), &stored))
            .await?;
        Ok(if is_real { verdict } else { Verdict::Mismatch })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> PasswordHasher {
        PasswordHasher::new(1024, 1, 1, 2, 8, 100, 0).unwrap()
    }

    async fn hold_every_slot(hasher: &PasswordHasher, threads: usize) -> Vec<HashSlot<'_>> {
        let mut held = Vec::new();
        for _ in 0..slots_for(threads) {
            held.push(hasher.slot(None).await.unwrap());
        }
        held
    }

    #[tokio::test]
    async fn each_thread_has_two_slots() {
        let hasher = PasswordHasher::new(1024, 1, 1, 1, 0, 100, 0).unwrap();
        let held = hold_every_slot(&hasher, 1).await;
        assert_eq!(held.len(), 2);
        // No queue: a third sign-in is refused while both slots are held.
        assert!(matches!(
            hasher.slot(None).await.map(|_| ()),
            Err(HashError::Overloaded)
        ));
        drop(held);
        assert!(hasher.hash(None, "free again").await.is_ok());
    }

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_with_unique_salts() {
        let hasher = PasswordHasher::new(19_456, 2, 1, 2, 8, 100, 0).unwrap();
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
        use argon2::{Algorithm, Argon2, Params, Version};
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
        let hasher = PasswordHasher::new(1024, 1, 1, 1, 1, 100, 0).unwrap();
        let running = hold_every_slot(&hasher, 1).await;
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
    async fn a_wait_past_the_limit_is_refused_and_gives_its_place_back() {
        let wait = std::time::Duration::from_millis(50);
        let hasher = PasswordHasher::new(1024, 1, 1, 1, 1, 100, 0)
            .unwrap()
            .with_queue_wait(wait);
        let running = hold_every_slot(&hasher, 1).await;
        let started = std::time::Instant::now();
        assert!(matches!(
            hasher.hash(None, "waited too long").await,
            Err(HashError::WaitedTooLong)
        ));
        assert!(started.elapsed() >= wait);
        // The one queue place is free again: the next request may wait, and
        // gets its slot when one comes free within the limit.
        let next = tokio::spawn({
            let hasher = hasher.clone();
            async move { hasher.hash(None, "next in line").await }
        });
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        drop(running);
        assert!(next.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn a_wait_past_the_limit_gives_the_clients_share_back() {
        // One thread (2 slots) + 2 queue places, 50 %: 2 per client.
        let hasher = PasswordHasher::new(1024, 1, 1, 1, 2, 50, 0)
            .unwrap()
            .with_queue_wait(std::time::Duration::from_millis(50));
        let first = hasher.slot(Some("198.51.100.1")).await.unwrap();
        let second = hasher.slot(Some("198.51.100.1")).await.unwrap();
        let client = Some("203.0.113.7");
        assert!(matches!(
            hasher.slot(client).await.map(|_| ()),
            Err(HashError::WaitedTooLong)
        ));
        // Had the refused wait kept its claim, the second of these would be
        // over the share at once; both wait, and run out of time.
        let (a, b) = tokio::join!(hasher.slot(client), hasher.slot(client));
        for result in [a.map(|_| ()), b.map(|_| ())] {
            assert!(
                matches!(result, Err(HashError::WaitedTooLong)),
                "{result:?}"
            );
        }
        drop((first, second));
        assert!(hasher.slot(client).await.is_ok());
    }

    #[tokio::test]
    async fn a_slot_now_never_waits() {
        let hasher = PasswordHasher::new(1024, 1, 1, 1, 4, 100, 0).unwrap();
        let held = hold_every_slot(&hasher, 1).await;
        assert!(hasher.slot_now().is_none());
        drop(held);
        let slot = hasher.slot_now().expect("a free slot");
        assert!(slot.hash("now").await.is_ok());
    }

    #[tokio::test]
    async fn an_abandoned_wait_gives_its_place_back() {
        let hasher = PasswordHasher::new(1024, 1, 1, 1, 1, 100, 0).unwrap();
        let running = hold_every_slot(&hasher, 1).await;
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
    async fn changed_parameters_ask_for_a_rehash() {
        let old = fast().hash(None, "password for rehash").await.unwrap();
        let stronger = PasswordHasher::new(2048, 2, 1, 2, 8, 100, 0).unwrap();
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
        // One thread (2 slots) + 6 queue places, 25 %: 2 per client.
        let hasher = PasswordHasher::new(1024, 1, 1, 1, 6, 25, 0).unwrap();
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
