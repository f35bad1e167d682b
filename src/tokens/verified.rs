//! Access tokens that verified, remembered until they expire: the same
//! token on the next request skips the Ed25519 verification (about a tenth
//! of a validation's CPU time).
//!
//! Keyed by the whole token string, and filled only after a full
//! verification, so a forged or altered token can never hit: it is a
//! different key. The map's hasher is keyed per process (SipHash with a
//! random key), so an attacker cannot aim a guess at a stored token's
//! bucket and time the comparison. An entry names its signing key: a token
//! whose key has left the key ring since is verified again (and refused).
//! Whether the session is alive is still read on every request.

use super::access::AccessClaims;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Room for this many tokens (each under 1 KiB with its claims).
const CAPACITY: usize = 8192;

pub(super) struct VerifiedTokens {
    entries: Mutex<HashMap<Box<str>, Verified>>,
}

struct Verified {
    claims: AccessClaims,
    kid: Box<str>,
}

impl VerifiedTokens {
    pub(super) fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The claims and key id of `token`, if it verified before.
    pub(super) fn get(&self, token: &str) -> Option<(AccessClaims, Box<str>)> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(token)
            .map(|hit| (hit.claims.clone(), hit.kid.clone()))
    }

    /// Remembers a token that has just verified. When full, tokens past
    /// `expired_before` go first, then all (a burst of fresh tokens costs
    /// one verification each again, never unbounded memory).
    pub(super) fn insert(
        &self,
        token: &str,
        claims: &AccessClaims,
        kid: &str,
        expired_before: i64,
    ) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= CAPACITY {
            entries.retain(|_, v| v.claims.exp >= expired_before);
            if entries.len() >= CAPACITY {
                entries.clear();
            }
        }
        entries.insert(
            token.into(),
            Verified {
                claims: claims.clone(),
                kid: kid.into(),
            },
        );
    }

    /// Forgets the token (it was found expired or its key is gone).
    pub(super) fn remove(&self, token: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries.remove(token);
    }
}
