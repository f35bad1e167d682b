//! Clients already past a request limit, remembered in this process until
//! their window reopens.
//!
//! A limit's window only ever reopens at its start plus its length: hits
//! that come later only add to a count that is over already. So once the
//! shared count has refused a key, every instance would refuse it until
//! then, and this instance can say so without asking the database. A flood
//! from one client then costs no database write per request (on SQLite
//! those would queue behind the one writer with everybody's refreshes).

use crate::store::Timestamp;
use std::collections::HashMap;
use std::sync::Mutex;

/// Keys remembered at most; past it, expired entries are dropped and, if
/// the map is still full, a new key is not remembered (the database still
/// refuses it, at the usual cost).
const CAPACITY: usize = 16_384;

#[derive(Debug, Default)]
pub struct RefusedClients {
    reopens: Mutex<HashMap<String, Timestamp>>,
}

impl RefusedClients {
    /// When the window of a key that is refused at `now` reopens.
    pub fn reopens(&self, key: &str, now: Timestamp) -> Option<Timestamp> {
        let reopens = self.reopens.lock().unwrap_or_else(|e| e.into_inner());
        reopens.get(key).copied().filter(|at| *at > now)
    }

    /// Remembers that `key` stays refused until `reopens`.
    pub fn remember(&self, key: &str, reopens_at: Timestamp, now: Timestamp) {
        let mut reopens = self.reopens.lock().unwrap_or_else(|e| e.into_inner());
        if reopens.len() >= CAPACITY && !reopens.contains_key(key) {
            reopens.retain(|_, at| *at > now);
            if reopens.len() >= CAPACITY {
                return;
            }
        }
        reopens.insert(key.to_string(), reopens_at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_key_is_refused_until_its_window_reopens() {
        let refused = RefusedClients::default();
        let now = Timestamp::now();
        let reopens = now.plus(Duration::from_secs(60));
        assert_eq!(refused.reopens("sign_in:10.0.0.1", now), None);
        refused.remember("sign_in:10.0.0.1", reopens, now);
        assert_eq!(refused.reopens("sign_in:10.0.0.1", now), Some(reopens));
        assert_eq!(refused.reopens("sign_in:10.0.0.2", now), None);
        assert_eq!(refused.reopens("sign_in:10.0.0.1", reopens), None);
    }

    #[test]
    fn a_full_map_drops_expired_keys_and_never_grows_past_its_capacity() {
        let refused = RefusedClients::default();
        let now = Timestamp::now();
        let soon = now.plus(Duration::from_secs(1));
        let later = now.plus(Duration::from_secs(60));
        for n in 0..CAPACITY {
            refused.remember(&format!("k{n}"), soon, now);
        }
        // Full of live keys: a new one is not remembered.
        refused.remember("new", later, now);
        assert_eq!(refused.reopens("new", now), None);
        // Once they have expired, the new one takes their place.
        refused.remember("new", later, soon);
        assert_eq!(refused.reopens("new", soon), Some(later));
        assert_eq!(refused.reopens.lock().unwrap().len(), 1);
    }
}
