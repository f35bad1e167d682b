//! Fails fast while the database is known to be unreachable.
//!
//! Without it every request that needs the database during an outage waits
//! the whole acquire timeout before its 503, and requests pile up behind
//! each other. Once one acquire has failed while the pool had room for
//! another connection (so it tried to open one for the whole timeout and
//! could not; a pool that is merely busy is full and never trips this),
//! the breaker opens:
//! requests get their 503 at once, and a single background probe keeps
//! trying to connect. The first connection the probe gets closes the
//! breaker; no request waits for that, and no restart is needed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{Database, Pool};

/// Pause between probes, so a database that refuses at once is not hammered.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Default)]
pub(super) struct Breaker {
    open: AtomicBool,
    probing: AtomicBool,
}

impl Breaker {
    /// A connection, or the acquire's error; `PoolTimedOut` at once while open.
    pub(super) async fn acquire<DB: Database>(
        self: &Arc<Self>,
        pool: &Pool<DB>,
    ) -> Result<PoolConnection<DB>, sqlx::Error> {
        if self.open.load(Ordering::Acquire) {
            return Err(sqlx::Error::PoolTimedOut);
        }
        let result = pool.acquire().await;
        let room = pool.size() < pool.options().get_max_connections();
        if result.is_err() && room && !pool.is_closed() {
            self.trip(pool);
        }
        result
    }

    /// Whether requests are being refused without trying.
    pub(super) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    fn trip<DB: Database>(self: &Arc<Self>, pool: &Pool<DB>) {
        if self.open.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!("the database is unreachable: refusing requests until it answers again");
        if self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let breaker = Arc::clone(self);
        let pool = pool.clone();
        tokio::spawn(async move {
            while !pool.is_closed() {
                if pool.acquire().await.is_ok() {
                    tracing::info!("the database answers again");
                    break;
                }
                tokio::time::sleep(PROBE_INTERVAL).await;
            }
            // In this order: a failure in between finds the breaker still
            // open and leaves it be, instead of finding a probe running
            // that is about to end.
            breaker.probing.store(false, Ordering::Release);
            breaker.open.store(false, Ordering::Release);
        });
    }
}
