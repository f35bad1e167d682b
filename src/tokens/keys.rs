//! The signing key ring: Ed25519 keys stored in the database with their
//! private half encrypted, loaded into memory, published as a JWKS.

use crate::clock::SharedClock;
use crate::crypto::{DecryptError, EncryptError, KeyCipher};
use crate::store::{SigningKeyRecord, Store, StoreError, Timestamp};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::SigningKey;
use jsonwebtoken::DecodingKey;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

pub const ALGORITHM: &str = "EdDSA";
/// Unknown `kid`s trigger a reload from the database at most this often.
const RELOAD_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key {kid} could not be decrypted")]
    Decrypt {
        kid: String,
        #[source]
        source: DecryptError,
    },
    #[error("signing key {0} is malformed")]
    Malformed(String),
    #[error("no signing key is active")]
    NoActiveKey,
    /// Rotating again would publish more than [`MAX_PUBLISHED_KEYS`] keys.
    #[error("{0} signing keys are published already")]
    TooManyPublished(usize),
    #[error(transparent)]
    Encrypt(#[from] EncryptError),
}

struct SigningEntry {
    kid: String,
    /// Kept parsed: jsonwebtoken's `EncodingKey` holds PKCS#8 bytes and
    /// derives the key again on every signature (a second scalar
    /// multiplication beside the signature's own, half of the signing cost).
    key: SigningKey,
    activates_at: Timestamp,
    retires_at: Option<Timestamp>,
}

/// An immutable snapshot of the keys; replaced as a whole on reload.
struct KeySet {
    signing: Vec<SigningEntry>,
    verifying: HashMap<String, DecodingKey>,
    jwks: Arc<str>,
}

/// The most signing keys the JWKS publishes at once (rotation is refused
/// beyond it until retired keys have expired).
pub const MAX_PUBLISHED_KEYS: usize = 5;

pub struct KeyRing {
    store: Arc<dyn Store>,
    clock: SharedClock,
    cipher: KeyCipher,
    /// How long a retired key stays published and accepted: the longest an
    /// access token it signed can live.
    keep_after_retire: Duration,
    current: RwLock<Arc<KeySet>>,
    last_reload: Mutex<Instant>,
    /// One reload at a time: a periodic reload that read the keys before a
    /// rotation committed must not replace, after it, what the rotation's
    /// own reload read (the JWKS would lose the new key until the next).
    reloading: tokio::sync::Mutex<()>,
}

/// Published keys by state (a metric).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct KeyStates {
    pub pending: u32,
    pub active: u32,
    pub retired: u32,
}

/// What a rotation did.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub kid: String,
    /// The new key is published now and signs from then on.
    pub activates_at: Timestamp,
    /// Keys that stop signing at `activates_at`.
    pub retiring: Vec<String>,
}

impl KeyRing {
    /// Loads the keys, creating the first one if the database has none.
    pub async fn load_or_create(
        store: Arc<dyn Store>,
        clock: SharedClock,
        cipher: KeyCipher,
        keep_after_retire: Duration,
    ) -> Result<Self, KeyRingError> {
        let mut records = read_keys(store.as_ref()).await?;
        if records.is_empty() {
            let record = generate(&cipher, clock.now())?;
            let mut repo = store.connection().await?;
            repo.insert_signing_key(&record).await?;
            tracing::info!(kid = %record.kid, "created the first signing key");
            records = read_keys(store.as_ref()).await?;
        }
        let set = build_set(&records, &cipher, clock.now(), keep_after_retire)?;
        Ok(Self {
            store,
            clock,
            cipher,
            keep_after_retire,
            current: RwLock::new(Arc::new(set)),
            last_reload: Mutex::new(Instant::now()),
            reloading: tokio::sync::Mutex::new(()),
        })
    }

    fn snapshot(&self) -> Arc<KeySet> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// How many published keys are waiting to sign, may sign, and are retired
    /// (kept for the tokens they signed) at `now`.
    pub fn states(&self, now: Timestamp) -> KeyStates {
        let set = self.snapshot();
        let mut states = KeyStates::default();
        for key in &set.signing {
            if key.activates_at > now {
                states.pending += 1;
            } else if key.retires_at.is_some_and(|r| r <= now) {
                states.retired += 1;
            } else {
                states.active += 1;
            }
        }
        states
    }

    /// The key that signs at `now`: the most recently activated one that has
    /// not retired.
    pub fn with_signing_key<T>(
        &self,
        now: Timestamp,
        sign: impl FnOnce(&str, &SigningKey) -> T,
    ) -> Result<T, KeyRingError> {
        let set = self.snapshot();
        let entry = set
            .signing
            .iter()
            .filter(|k| k.activates_at <= now && k.retires_at.is_none_or(|r| r > now))
            .max_by_key(|k| k.activates_at)
            .ok_or(KeyRingError::NoActiveKey)?;
        Ok(sign(&entry.kid, &entry.key))
    }

    /// The verification key for `kid`. An unknown `kid` may be a key another
    /// instance created since we loaded, so the set is reloaded (rate-limited).
    pub async fn decoding_key(&self, kid: &str) -> Option<DecodingKey> {
        if let Some(key) = self.snapshot().verifying.get(kid) {
            return Some(key.clone());
        }
        if !self.reload_due() {
            return None;
        }
        if let Err(error) = self.reload().await {
            tracing::warn!(error = %error, "reloading signing keys failed");
            return None;
        }
        self.snapshot().verifying.get(kid).cloned()
    }

    /// Whether `kid` is still a key tokens may be verified with (without
    /// reloading: a key that left the ring stays gone).
    pub fn verifies_with(&self, kid: &str) -> bool {
        self.snapshot().verifying.contains_key(kid)
    }

    /// The JWKS document, pre-serialised.
    pub fn jwks(&self) -> Arc<str> {
        self.snapshot().jwks.clone()
    }

    fn reload_due(&self) -> bool {
        let Ok(mut last) = self.last_reload.lock() else {
            return false;
        };
        if last.elapsed() < RELOAD_INTERVAL {
            return false;
        }
        *last = Instant::now();
        true
    }

    /// Creates the next key, published at once and signing after `lead`
    /// (long enough for verifiers to refetch the JWKS); the keys signing now
    /// retire at that moment and stay published until their last token has
    /// expired. Concurrent rotations queue on a lock row.
    /// Refused while [`MAX_PUBLISHED_KEYS`] keys are published: a retired key
    /// stays until its last token has expired, so rotating in a loop would
    /// otherwise grow the JWKS without bound.
    pub async fn rotate(&self, lead: Duration) -> Result<Rotation, KeyRingError> {
        let now = self.clock.now();
        let record = generate(&self.cipher, now)?;
        let activates_at = now.plus(lead);
        let record = SigningKeyRecord {
            activates_at,
            ..record
        };
        let mut tx = self.store.transaction().await?;
        tx.lock("signing_keys").await?;
        let keys = tx.signing_keys().await?;
        let published = keys
            .iter()
            .filter(|k| {
                k.retires_at
                    .is_none_or(|at| at.plus(self.keep_after_retire) > now)
            })
            .count();
        if published >= MAX_PUBLISHED_KEYS {
            return Err(KeyRingError::TooManyPublished(published));
        }
        let retiring: Vec<String> = keys
            .into_iter()
            .filter(|k| k.retires_at.is_none_or(|r| r > activates_at))
            .map(|k| k.kid)
            .collect();
        tx.insert_signing_key(&record).await?;
        tx.retire_signing_keys(activates_at, &record.kid).await?;
        tx.commit().await?;
        self.reload().await?;
        tracing::info!(kid = %record.kid, activates_at = %activates_at.unix_seconds(), "signing key rotation scheduled");
        Ok(Rotation {
            kid: record.kid,
            activates_at,
            retiring,
        })
    }

    /// Reloads the key set every `every`, so that a rotation made by any
    /// instance (or `portcullis keys rotate`) reaches this one in time.
    pub fn keep_fresh(self: &Arc<Self>, every: Duration) {
        let ring = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(every);
            ticker.tick().await;
            loop {
                ticker.tick().await;
                let Some(ring) = ring.upgrade() else { break };
                if let Err(error) = ring.reload().await {
                    tracing::warn!(error = %error, "reloading signing keys failed");
                }
            }
        });
    }

    pub async fn reload(&self) -> Result<(), KeyRingError> {
        let _one_at_a_time = self.reloading.lock().await;
        let records = read_keys(self.store.as_ref()).await?;
        let set = Arc::new(build_set(
            &records,
            &self.cipher,
            self.clock.now(),
            self.keep_after_retire,
        )?);
        match self.current.write() {
            Ok(mut guard) => *guard = set,
            Err(poisoned) => *poisoned.into_inner() = set,
        }
        Ok(())
    }
}

async fn read_keys(store: &dyn Store) -> Result<Vec<SigningKeyRecord>, StoreError> {
    store.connection().await?.signing_keys().await
}

/// A fresh Ed25519 key; its `kid` is the RFC 7638 thumbprint of its JWK.
pub fn generate(cipher: &KeyCipher, now: Timestamp) -> Result<SigningKeyRecord, EncryptError> {
    let mut seed = [0u8; 32];
    rand::rng().fill_bytes(&mut seed);
    let signing = SigningKey::from_bytes(&seed);
    let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().to_bytes());
    let kid = thumbprint(&x);
    Ok(SigningKeyRecord {
        private_key_enc: cipher.encrypt(&seed, &kid)?,
        kid,
        algorithm: ALGORITHM.to_string(),
        public_key: x,
        created_at: now,
        activates_at: now,
        retires_at: None,
    })
}

fn thumbprint(x: &str) -> String {
    // Members in lexicographic order, no whitespace (RFC 7638 §3.2).
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

fn build_set(
    records: &[SigningKeyRecord],
    cipher: &KeyCipher,
    now: Timestamp,
    keep_after_retire: Duration,
) -> Result<KeySet, KeyRingError> {
    let mut signing = Vec::new();
    let mut verifying = HashMap::new();
    let mut jwks = Vec::new();
    // A retired key is dropped once every token it signed has expired.
    let still_needed = |r: &&SigningKeyRecord| {
        r.retires_at
            .is_none_or(|at| at.plus(keep_after_retire) > now)
    };
    for record in records
        .iter()
        .filter(|r| r.algorithm == ALGORITHM)
        .filter(still_needed)
    {
        let seed = cipher
            .decrypt(&record.private_key_enc, &record.kid)
            .map_err(|source| KeyRingError::Decrypt {
                kid: record.kid.clone(),
                source,
            })?;
        let seed: [u8; 32] = seed
            .try_into()
            .map_err(|_| KeyRingError::Malformed(record.kid.clone()))?;
        signing.push(SigningEntry {
            kid: record.kid.clone(),
            key: SigningKey::from_bytes(&seed),
            activates_at: record.activates_at,
            retires_at: record.retires_at,
        });
        let decoding = DecodingKey::from_ed_components(&record.public_key)
            .map_err(|_| KeyRingError::Malformed(record.kid.clone()))?;
        verifying.insert(record.kid.clone(), decoding);
        jwks.push(json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": record.public_key,
            "kid": record.kid,
            "alg": ALGORITHM,
            "use": "sig",
        }));
    }
    let jwks = json!({ "keys": jwks }).to_string();
    Ok(KeySet {
        signing,
        verifying,
        jwks: jwks.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::ServerSecret;

    #[test]
    fn generated_keys_round_trip_through_encryption() {
        let cipher = ServerSecret::new("test secret").key_cipher();
        let record = generate(&cipher, Timestamp::now()).unwrap();
        let keep = Duration::from_secs(60);
        assert_eq!(record.kid.len(), 43);
        let set = build_set(
            std::slice::from_ref(&record),
            &cipher,
            Timestamp::now(),
            keep,
        )
        .unwrap();
        assert!(set.verifying.contains_key(&record.kid));
        let jwks: serde_json::Value = serde_json::from_str(&set.jwks).unwrap();
        let key = &jwks["keys"][0];
        assert_eq!(key["kid"], record.kid.as_str());
        assert!(key.get("d").is_none());
        let other = ServerSecret::new("other secret").key_cipher();
        assert!(matches!(
            build_set(
                std::slice::from_ref(&record),
                &other,
                Timestamp::now(),
                keep
            ),
            Err(KeyRingError::Decrypt { .. })
        ));
        // Retired long enough ago: no longer published.
        let retired = SigningKeyRecord {
            retires_at: Some(Timestamp::now().minus(Duration::from_secs(61))),
            ..record
        };
        let set = build_set(&[retired], &cipher, Timestamp::now(), keep).unwrap();
        assert!(set.verifying.is_empty());
    }
}
