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
use std::time::Duration;

/// Keys remembered at most; past it, expired entries are dropped and, if
/// the map is still full, a new key is not remembered (the database still
/// refuses it, at the usual cost).
const CAPACITY: usize = 16_384;

/// A full map is swept at most this often. Without the bound, a flood from
/// more addresses than the map holds would scan it on every new address,
/// which costs as much as the database write the map is there to save.
const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub struct RefusedClients {
    inner: Mutex<Remembered>,
}

#[derive(Debug, Default)]
struct Remembered {
    reopens: HashMap<String, Timestamp>,
    /// When a full map may next be swept: no earlier than the first entry
    /// expires, and no more often than `SWEEP_INTERVAL`.
    next_sweep: Option<Timestamp>,
}

impl RefusedClients {
    /// When the window of a key that is refused at `now` reopens.
    pub fn reopens(&self, key: &str, now: Timestamp) -> Option<Timestamp> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.reopens.get(key).copied().filter(|at| *at > now)
    }

    /// Remembers that `key` stays refused until `reopens`.
    pub fn remember(&self, key: &str, reopens_at: Timestamp, now: Timestamp) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.reopens.len() >= CAPACITY && !inner.reopens.contains_key(key) {
            if inner.next_sweep.is_some_and(|at| now < at) {
                return;
            }
            inner.reopens.retain(|_, at| *at > now);
            let earliest = inner.reopens.values().min().copied();
            let soonest_allowed = now.plus(SWEEP_INTERVAL);
            inner.next_sweep = Some(earliest.map_or(soonest_allowed, |e| e.max(soonest_allowed)));
            if inner.reopens.len() >= CAPACITY {
                return;
            }
        }
        inner.reopens.insert(key.to_string(), reopens_at);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner.lock().unwrap().reopens.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let soon = now.plus(Duration::from_secs(5));
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
        assert_eq!(refused.len(), 1);
    }

    #[test]
    fn a_full_map_is_not_swept_again_before_an_entry_can_have_expired() {
        let refused = RefusedClients::default();
        let now = Timestamp::now();
        let first_expiry = now.plus(Duration::from_secs(30));
        for n in 0..CAPACITY {
            refused.remember(&format!("k{n}"), first_expiry, now);
        }
        refused.remember("a", first_expiry, now);
        // The sweep found nothing expired and dated the next one at the
        // first expiry: entries that expire before then stay until it.
        let sweep = refused.inner.lock().unwrap().next_sweep;
        assert_eq!(sweep, Some(first_expiry));
        let mid = now.plus(Duration::from_secs(10));
        refused.remember("b", mid, mid);
        assert_eq!(refused.reopens("b", mid), None);
        assert_eq!(refused.len(), CAPACITY);
        refused.remember("c", first_expiry.plus(SWEEP_INTERVAL), first_expiry);
        assert_eq!(refused.len(), 1);
    }
}
