//! Where "now" comes from. Every lifetime, lockout, cool-down and window is
//! measured against the application's clock, never the wall clock directly,
//! so that tests move time instead of waiting for it.

use crate::store::Timestamp;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The clock every instance shares in production.
pub type SharedClock = Arc<dyn Clock>;

/// The system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// The system's clock moved forward by an offset that a test advances:
/// time still passes on its own (background workers keep working), and a
/// test that needs "an hour later" says so instead of waiting.
#[derive(Debug, Default)]
pub struct ManualClock {
    offset_ms: AtomicI64,
}

impl ManualClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        let offset = Duration::from_millis(self.offset_ms.load(Ordering::SeqCst).max(0) as u64);
        Timestamp::now().plus(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_when_told() {
        let clock = ManualClock::new();
        let before = SystemClock.now();
        clock.advance(Duration::from_secs(3600));
        let later = clock.now();
        assert!(later.unix_millis() - before.unix_millis() >= 3_600_000);
    }
}
