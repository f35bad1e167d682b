//! SQLite opens a file it may not write (a read-only mount, an immutable
//! file) read-only, silently, and such a connection refuses every write for
//! its whole life, long after the file is writable again. A connection the
//! pool opened during such an outage kept being handed out, and kept
//! answering 503. Each new connection is checked once; once one turns out
//! read-only, every connection opened until then is replaced on its next use
//! (a healthy one among them costs one reconnect).

use futures_util::future::BoxFuture;
use sqlx::Database;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Whether a new connection can write (`Ok(false)`: opened read-only).
pub(super) type WriteCheck<DB> =
    for<'c> fn(&'c mut <DB as Database>::Connection) -> BoxFuture<'c, Result<bool, sqlx::Error>>;

/// How long after the check the pool may stamp a connection as created: the
/// rest of one poll, longer only if its thread is descheduled meanwhile.
const STAMP_LAG: Duration = Duration::from_secs(1);

/// When the latest read-only connection was opened.
pub(super) struct ReadOnlyOpenings {
    base: Instant,
    /// Nanoseconds after `base`, plus one; 0 while there has been none.
    latest: AtomicU64,
    /// `STAMP_LAG`; shorter in tests.
    lag: Duration,
}

impl ReadOnlyOpenings {
    pub(super) fn new() -> Self {
        Self::with_lag(STAMP_LAG)
    }

    fn with_lag(lag: Duration) -> Self {
        Self {
            base: Instant::now(),
            latest: AtomicU64::new(0),
            lag,
        }
    }

    /// A connection opened just now is read-only.
    pub(super) fn record(&self) {
        // The pool stamps a connection's creation only after this check has
        // run, so the read-only connection itself looks opened a moment
        // after it was recorded: count connections opened up to `STAMP_LAG`
        // later as opened before (a healthy one among them costs one
        // reconnect). Without it the last read-only connection of an outage
        // stayed in the pool and answered 503 after the outage.
        let now = nanos(self.base.elapsed() + self.lag);
        self.latest.fetch_max(now, Ordering::SeqCst);
    }

    /// Whether a connection of this `age` was opened at or before the latest
    /// read-only one (that one included), and so is to be replaced.
    pub(super) fn outdate(&self, age: Duration) -> bool {
        let latest = self.latest.load(Ordering::SeqCst);
        latest != 0 && nanos(self.base.elapsed().saturating_sub(age)) <= latest
    }
}

fn nanos(since_base: Duration) -> u64 {
    u64::try_from(since_base.as_nanos())
        .unwrap_or(u64::MAX - 1)
        .saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_opened_up_to_a_read_only_one_are_replaced() {
        let lag = Duration::from_millis(50);
        let openings = ReadOnlyOpenings::with_lag(lag);
        std::thread::sleep(Duration::from_millis(30));
        assert!(!openings.outdate(Duration::from_millis(20)), "none yet");
        // The read-only connection is recorded, then stamped by the pool.
        openings.record();
        let stamped = Instant::now();
        std::thread::sleep(Duration::from_millis(5));
        // Opened before the read-only one, and the read-only one itself.
        assert!(openings.outdate(Duration::from_millis(20)));
        assert!(openings.outdate(stamped.elapsed()));
        std::thread::sleep(lag);
        // Opened well after it: kept.
        assert!(!openings.outdate(Duration::from_millis(1)));
    }
}
