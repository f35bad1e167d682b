//! Fails fast while the database is known to be unreachable.
//!
//! Without it every request that needs the database during an outage waits
//! the whole acquire timeout before its 503, and requests pile up behind
//! each other. When an acquire fails, one connection is tried outside the
//! pool: if the database does not answer it either, the breaker opens,
//! requests get their 503 at once, and a single background probe keeps
//! trying to connect. The first connection the probe gets closes the
//! breaker; no request waits for that, and no restart is needed. A pool
//! that is merely busy times out too, but the direct connection then
//! succeeds and nothing trips. (Judging by the pool's size instead is
//! unreliable under load: connections being opened count towards the size,
//! so an outage with more waiting requests than the pool holds can look
//! like a busy pool.)

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{ConnectOptions, Connection, Database, Pool};

/// Pause between probes, so a database that refuses at once is not hammered.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);

/// How long the direct connection after a failed acquire may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

#[derive(Default)]
pub(super) struct Breaker {
    open: AtomicBool,
    probing: AtomicBool,
    /// A failed acquire is checking whether the database answers at all;
    /// the others that fail meanwhile leave it to that one.
    checking: AtomicBool,
    /// Requests waiting for a connection right now (a gauge).
    waiting: AtomicUsize,
}

/// Counts a request as waiting for a connection until dropped.
pub(super) struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn start(count: &'a AtomicUsize) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

/// Clears a flag when dropped.
struct Reset<'a>(&'a AtomicBool);

impl Drop for Reset<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
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
        let result = {
            let _waiting = self.waiting_guard();
            pool.acquire().await
        };
        if result.is_err() && !pool.is_closed() && !self.checking.swap(true, Ordering::AcqRel) {
            // Cleared on drop: a request cancelled during the check (its
            // client went away) must not leave the flag set for good.
            let _checking = Reset(&self.checking);
            if !answers(pool).await {
                self.trip(pool);
            }
        }
        result
    }

    /// Counts the caller as waiting (for a connection, or for the writer)
    /// until the guard is dropped.
    pub(super) fn waiting_guard(&self) -> Waiting<'_> {
        Waiting::start(&self.waiting)
    }

    /// Requests waiting for a connection (or the writer) right now.
    pub(super) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
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

/// Whether the database accepts a connection opened beside the pool. An
/// error from the database itself (too many connections, say) is an answer.
async fn answers<DB: Database>(pool: &Pool<DB>) -> bool {
    let options = pool.connect_options();
    match tokio::time::timeout(CHECK_TIMEOUT, options.connect()).await {
        Ok(Ok(connection)) => {
            let _ = connection.close().await;
            true
        }
        Ok(Err(sqlx::Error::Database(_))) => true,
        Ok(Err(_)) | Err(_) => false,
    }
}
