//! The cached key set: fetched as `Cache-Control` says, and again for an
//! unknown `kid` no more often than the refetch interval allows.

use crate::http::read_json;
use crate::VerifyError;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::DecodingKey;
use reqwest::header::CACHE_CONTROL;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;

/// Kept at least this long (`no-cache`, `max-age=0`): every token would
/// otherwise cost a fetch.
const MIN_AGE: Duration = Duration::from_secs(1);
/// Kept at most this long, whatever `Cache-Control` says.
const MAX_AGE_CAP: Duration = Duration::from_secs(24 * 3600);
/// A key set larger than this is not Portcullis's.
const MAX_BODY: usize = 256 * 1024;

struct KeySet {
    keys: HashMap<String, DecodingKey>,
    fresh_until: SystemTime,
}

impl KeySet {
    /// Past freshness, a set still verifies for `max_stale` while it cannot
    /// be replaced.
    fn usable_until(&self, max_stale: Duration) -> SystemTime {
        self.fresh_until
            .checked_add(max_stale)
            .unwrap_or(self.fresh_until)
    }
}

#[derive(Default)]
struct State {
    set: Option<Arc<KeySet>>,
    /// When the last fetch started; whether the last one to finish brought
    /// a set, or failed (neither before the first finished).
    last_attempt: Option<SystemTime>,
    last_ok: bool,
    last_failed: bool,
    in_flight: bool,
    /// Fetches started so far; the watch says up to which one has finished.
    generation: u64,
}

/// The key set, shared with the task that refreshes it.
#[derive(Clone)]
pub(crate) struct KeyCache {
    inner: Arc<Inner>,
}

struct Inner {
    url: reqwest::Url,
    http: reqwest::Client,
    default_max_age: Duration,
    min_refetch_interval: Duration,
    max_stale: Duration,
    /// Never held across an await: a verification waits on the network only
    /// when it has no usable key at all.
    state: Mutex<State>,
    /// The generation of the last finished fetch; waiters watch it.
    finished: watch::Sender<u64>,
    timeout: Duration,
}

pub(crate) struct KeyCacheSettings {
    pub(crate) url: reqwest::Url,
    pub(crate) http: reqwest::Client,
    pub(crate) default_max_age: Duration,
    pub(crate) min_refetch_interval: Duration,
    pub(crate) max_stale: Duration,
    /// The longest one fetch may take, whatever the client's own settings.
    pub(crate) timeout: Duration,
}

enum Next {
    Ready(DecodingKey),
    /// For the fetch of this generation to finish.
    Wait(watch::Receiver<u64>, u64),
    Fail(VerifyError),
}

impl KeyCache {
    pub(crate) fn new(settings: KeyCacheSettings) -> Self {
        let inner = Inner {
            url: settings.url,
            http: settings.http,
            default_max_age: settings.default_max_age,
            min_refetch_interval: settings.min_refetch_interval,
            max_stale: settings.max_stale,
            state: Mutex::default(),
            finished: watch::Sender::new(0),
            timeout: settings.timeout,
        };
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The key with id `kid`.
    ///
    /// A fresh set answers at once. A stale set that has the key still
    /// answers at once (for up to `max_stale` past its freshness) while one
    /// background fetch replaces it: an unreachable Portcullis never slows
    /// verification down. Only a token whose key is not known (a new key
    /// after a rotation, or no set yet) waits, for one shared fetch; during
    /// an outage (the last fetch failed) nobody waits: the answer is
    /// "unavailable" at once while a retry runs. Fetches start at most once
    /// per `min_refetch_interval`: a stream of made-up `kid`s, or an outage,
    /// costs Portcullis one request per interval.
    pub(crate) async fn key(
        &self,
        kid: &str,
        now: SystemTime,
        wait: Duration,
    ) -> Result<DecodingKey, VerifyError> {
        let (mut finished, generation) = match self.next(kid, now, true) {
            Next::Ready(key) => return Ok(key),
            Next::Fail(error) => return Err(error),
            Next::Wait(finished, generation) => (finished, generation),
        };
        let done = finished.wait_for(|done| *done >= generation);
        if !matches!(tokio::time::timeout(wait, done).await, Ok(Ok(_))) {
            return Err(VerifyError::Unavailable("key set: fetch timed out".into()));
        }
        match self.next(kid, now, false) {
            Next::Ready(key) => Ok(key),
            Next::Fail(error) => Err(error),
            Next::Wait(..) => Err(VerifyError::Unavailable("key set: fetch failed".into())),
        }
    }

    fn next(&self, kid: &str, now: SystemTime, may_fetch: bool) -> Next {
        let inner = &self.inner;
        let mut state = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
        let set = state.set.clone();
        if let Some(set) = &set {
            if let Some(key) = set.keys.get(kid) {
                if now < set.fresh_until {
                    return Next::Ready(key.clone());
                }
                if now < set.usable_until(inner.max_stale) {
                    if may_fetch && self.may_start(&state, now) {
                        self.start(&mut state, now);
                    }
                    return Next::Ready(key.clone());
                }
            }
        }
        // An outage: retry in the background, answer now.
        let outage = state.last_failed;
        if may_fetch && outage {
            if self.may_start(&state, now) {
                self.start(&mut state, now);
            }
        } else if may_fetch && state.in_flight {
            return Next::Wait(inner.finished.subscribe(), state.generation);
        } else if may_fetch && self.may_start(&state, now) {
            let generation = self.start(&mut state, now);
            return Next::Wait(inner.finished.subscribe(), generation);
        }
        // No fetch to wait for. The set we have answered for this kid,
        // unless the last fetch failed: then the key may well exist (503,
        // not 401).
        match (&set, state.last_ok) {
            (Some(set), true) if now < set.usable_until(inner.max_stale) => {
                Next::Fail(VerifyError::UnknownKey)
            }
            (None, _) | (Some(_), _) => Next::Fail(VerifyError::Unavailable(
                "key set: Portcullis could not be reached".into(),
            )),
        }
    }

    /// A set past its `max-age` is fetched again when it went stale after a
    /// good fetch (Portcullis's `Cache-Control` sets that pace); otherwise
    /// (after a failure, or for a kid a fresh set lacks) once per interval.
    fn may_start(&self, state: &State, now: SystemTime) -> bool {
        let stale_after_success =
            state.last_ok && state.set.as_ref().is_some_and(|set| now >= set.fresh_until);
        // A clock that stepped back behind the last attempt does not stop
        // fetches until it catches up.
        let interval_passed = state.last_attempt.is_none_or(|at| {
            now.duration_since(at)
                .map_or(true, |since| since >= self.inner.min_refetch_interval)
        });
        !state.in_flight && (stale_after_success || interval_passed)
    }

    /// One fetch, in its own task (a verification that gives up waiting, or
    /// is dropped, does not cancel it), bounded by the timeout even with a
    /// caller's own client. Returns its generation; waiters wait for it.
    fn start(&self, state: &mut State, now: SystemTime) -> u64 {
        state.in_flight = true;
        state.last_attempt = Some(now);
        state.generation += 1;
        let finish = Finish {
            inner: Arc::clone(&self.inner),
            generation: state.generation,
            set: None,
        };
        tokio::spawn(async move {
            let mut finish = finish;
            let fetched = tokio::time::timeout(finish.inner.timeout, finish.inner.fetch(now)).await;
            match fetched {
                Ok(Ok(set)) => finish.set = Some(set),
                Ok(Err(error)) => tracing::warn!(%error, "fetching the key set failed"),
                Err(_) => tracing::warn!("fetching the key set timed out"),
            }
            // `finish` is dropped here, and also when the runtime drops the
            // task half-way: either way the fetch is over for the waiters.
        });
        state.generation
    }
}

/// Ends a fetch: stores its set (or marks the failure), clears the
/// in-flight mark and wakes the waiters, on every path out of the task.
struct Finish {
    inner: Arc<Inner>,
    generation: u64,
    set: Option<KeySet>,
}

impl Drop for Finish {
    fn drop(&mut self) {
        {
            let mut state = self
                .inner
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            state.in_flight = false;
            // Keys outlive their cache entry: on a failure the last set keeps
            // verifying (up to `max_stale`), and is asked for again after
            // the interval.
            state.last_ok = self.set.is_some();
            state.last_failed = self.set.is_none();
            if let Some(set) = self.set.take() {
                state.set = Some(Arc::new(set));
            }
        }
        let generation = self.generation;
        self.inner
            .finished
            .send_modify(|done| *done = (*done).max(generation));
    }
}

impl Inner {
    async fn fetch(&self, now: SystemTime) -> Result<KeySet, VerifyError> {
        let response = self
            .http
            .get(self.url.clone())
            .send()
            .await
            .map_err(|e| VerifyError::Unavailable(format!("key set: {e}")))?;
        // A caller's own client may follow redirects: only the configured
        // URL is trusted to publish keys.
        if *response.url() != self.url {
            return Err(VerifyError::Unavailable(format!(
                "key set: redirected to {}; configure the final URL",
                response.url()
            )));
        }
        let max_age = response
            .headers()
            .get(CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .unwrap_or(self.default_max_age)
            .clamp(MIN_AGE, MAX_AGE_CAP);
        let set: JwkSet = read_json(response, MAX_BODY, "key set").await?;
        let keys = set
            .keys
            .iter()
            .filter(|jwk| is_ed25519_public_key(&jwk.algorithm))
            // A key published for something else is not a token key.
            .filter(|jwk| {
                jwk.common
                    .public_key_use
                    .as_ref()
                    .is_none_or(|u| *u == PublicKeyUse::Signature)
            })
            .filter(|jwk| {
                jwk.common
                    .key_algorithm
                    .is_none_or(|alg| alg == KeyAlgorithm::EdDSA)
            })
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
            })
            .collect::<HashMap<_, _>>();
        if keys.len() < set.keys.len() {
            tracing::warn!(
                published = set.keys.len(),
                usable = keys.len(),
                "the key set has keys this verifier cannot use (not Ed25519 signing keys with a kid)"
            );
        }
        // Treated as a failed fetch: it would refuse every token as signed
        // by an unknown key, while the last good set may still verify them.
        if keys.is_empty() {
            return Err(VerifyError::Unavailable("key set: no usable key".into()));
        }
        Ok(KeySet {
            keys,
            fresh_until: now.checked_add(max_age).unwrap_or(now),
        })
    }
}

/// An Ed25519 key whose `x` is 32 bytes (43 base64url characters):
/// jsonwebtoken 11.1 slices `x[..32]` when verifying, so a shorter key in a
/// hostile or broken key set would panic on the first token naming it.
fn is_ed25519_public_key(params: &AlgorithmParameters) -> bool {
    matches!(params, AlgorithmParameters::OctetKeyPair(p)
        if p.curve == EllipticCurve::Ed25519
            && p.x.len() == 43
            && p.x.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// `max-age` of a `Cache-Control` value; none under `no-store`/`no-cache`.
fn max_age(value: &str) -> Option<Duration> {
    let mut age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(secs) = lower.strip_prefix("max-age=") {
            age = secs.trim_matches('"').parse().ok().map(Duration::from_secs);
        }
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_full_length_ed25519_keys_are_used() {
        let key = |x: &str| {
            let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(serde_json::json!(
                {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "k"}
            ))
            .unwrap();
            is_ed25519_public_key(&jwk.algorithm)
        };
        assert!(key("PJeLIV7qmnmglBCbA-jWeEKNOzH-t3iK1ox5ZaPcJjs"));
        assert!(
            !key("PJeLIV7qmnmglBCbA"),
            "short: would panic in jsonwebtoken"
        );
        assert!(!key("PJeLIV7qmnmglBCbA-jWeEKNOzH-t3iK1ox5ZaPcJjsAAAA"));
        assert!(!key("PJeLIV7qmnmglBCbA+jWeEKNOzH/t3iK1ox5ZaPcJjs"));
    }

    #[test]
    fn reads_max_age() {
        assert_eq!(
            max_age("public, max-age=300"),
            Some(Duration::from_secs(300))
        );
        assert_eq!(max_age("Max-Age=\"60\""), Some(Duration::from_secs(60)));
        assert_eq!(
            max_age("public, no-cache, max-age=300"),
            Some(Duration::ZERO)
        );
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=soon"), None);
    }
}
