//! The cached key set: fetched as `Cache-Control` says, and again for an
//! unknown `kid` no more often than the refetch interval allows.

use crate::VerifyError;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::DecodingKey;
use reqwest::header::CACHE_CONTROL;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};
use tokio::sync::{Mutex, RwLock};

/// Kept at least this long (`no-cache`, `max-age=0`): every token would
/// otherwise cost a fetch.
const MIN_AGE: Duration = Duration::from_secs(1);
/// Kept at most this long, whatever `Cache-Control` says.
const MAX_AGE_CAP: Duration = Duration::from_secs(24 * 3600);

struct KeySet {
    keys: HashMap<String, DecodingKey>,
    fresh_until: SystemTime,
}

pub(crate) struct KeyCache {
    url: String,
    default_max_age: Duration,
    min_refetch_interval: Duration,
    current: RwLock<Option<KeySet>>,
    /// Held while fetching (one fetch at a time); the time of the last one.
    last_fetch: Mutex<Option<SystemTime>>,
}

impl KeyCache {
    pub(crate) fn new(
        url: String,
        default_max_age: Duration,
        min_refetch_interval: Duration,
    ) -> Self {
        Self {
            url,
            default_max_age,
            min_refetch_interval,
            current: RwLock::new(None),
            last_fetch: Mutex::new(None),
        }
    }

    /// The key with id `kid`, fetching the set when it is stale or lacks
    /// the key. A fetch for an unknown `kid`, or after a failed fetch, waits
    /// for `min_refetch_interval` since the last one: a stream of made-up
    /// `kid`s, or an outage, costs Portcullis one request per interval.
    pub(crate) async fn key(
        &self,
        http: &reqwest::Client,
        kid: &str,
        now: SystemTime,
    ) -> Result<DecodingKey, VerifyError> {
        if let Some(key) = self.fresh(kid, now).await {
            return Ok(key);
        }
        let mut last_fetch = self.last_fetch.lock().await;
        // Another task may have fetched while this one waited for the lock.
        if let Some(key) = self.fresh(kid, now).await {
            return Ok(key);
        }
        let recently = last_fetch.is_some_and(|at| {
            now.duration_since(at).unwrap_or_default() < self.min_refetch_interval
        });
        let have_fresh_set = self
            .current
            .read()
            .await
            .as_ref()
            .is_some_and(|set| now < set.fresh_until);
        // Fresh without the key: an unknown kid. No set at all: the last
        // fetch failed. Either way, not again so soon.
        if recently && (have_fresh_set || self.current.read().await.is_none()) {
            return self.last_known(kid).await;
        }
        *last_fetch = Some(now);
        match self.fetch(http, now).await {
            Ok(set) => {
                let key = set.keys.get(kid).cloned();
                *self.current.write().await = Some(set);
                key.ok_or(VerifyError::UnknownKey)
            }
            // Keys outlive their cache entry: the last set keeps verifying
            // while Portcullis cannot be reached, and is asked for again
            // after the interval.
            Err(error) => {
                tracing::warn!(%error, "fetching the key set failed");
                if let Some(set) = self.current.write().await.as_mut() {
                    set.fresh_until = now + self.min_refetch_interval;
                }
                self.last_known(kid).await.map_err(|_| error)
            }
        }
    }

    async fn fresh(&self, kid: &str, now: SystemTime) -> Option<DecodingKey> {
        let current = self.current.read().await;
        let set = current.as_ref().filter(|set| now < set.fresh_until)?;
        set.keys.get(kid).cloned()
    }

    /// The key from the last set fetched, fresh or not.
    async fn last_known(&self, kid: &str) -> Result<DecodingKey, VerifyError> {
        match self.current.read().await.as_ref() {
            Some(set) => set.keys.get(kid).cloned().ok_or(VerifyError::UnknownKey),
            None => Err(VerifyError::Unavailable("no key set fetched yet".into())),
        }
    }

    async fn fetch(&self, http: &reqwest::Client, now: SystemTime) -> Result<KeySet, VerifyError> {
        let unavailable = |e: reqwest::Error| VerifyError::Unavailable(format!("key set: {e}"));
        let response = http
            .get(&self.url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unavailable)?;
        let max_age = response
            .headers()
            .get(CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(max_age)
            .unwrap_or(self.default_max_age)
            .clamp(MIN_AGE, MAX_AGE_CAP);
        let set: JwkSet = response.json().await.map_err(unavailable)?;
        let keys = set
            .keys
            .iter()
            .filter(|jwk| is_ed25519_public_key(&jwk.algorithm))
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                DecodingKey::from_jwk(jwk).ok().map(|key| (kid, key))
            })
            .collect();
        Ok(KeySet {
            keys,
            fresh_until: now + max_age,
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
