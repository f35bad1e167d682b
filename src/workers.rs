//! The background workers of an instance (mail outbox, webhook deliveries,
//! housekeeping) and their stop: when the HTTP server has drained, each
//! worker finishes the round it is in (a mail or delivery it leased is sent
//! and recorded, or its lease is given back by the round's own bookkeeping)
//! and starts no new one. So a rolling restart leaves nothing leased by a
//! process that is gone.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Clone)]
pub struct Workers {
    stop: Arc<watch::Sender<bool>>,
    running: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

/// What a worker waits on between rounds.
#[derive(Clone)]
pub struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits for `idle` (a poll interval, or a wake-up) unless the stop
    /// comes first.
    pub async fn idle(&mut self, idle: impl Future<Output = ()>) {
        tokio::select! {
            () = idle => {}
            _ = self.0.changed() => {}
        }
    }
}

impl Default for Workers {
    fn default() -> Self {
        Self::new()
    }
}

impl Workers {
    pub fn new() -> Self {
        let (stop, _) = watch::channel(false);
        Self {
            stop: Arc::new(stop),
            running: Arc::default(),
        }
    }

    /// Runs a worker: `work` gets the stop signal and ends when it is set.
    pub fn spawn<F, Fut>(&self, work: F)
    where
        F: FnOnce(StopSignal) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::spawn(work(StopSignal(self.stop.subscribe())));
        self.running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(handle);
    }

    /// Sets the stop and waits, at most `within`, for every worker to end
    /// its round.
    pub async fn stop(&self, within: Duration) {
        let _ = self.stop.send(true);
        let running: Vec<JoinHandle<()>> = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        let all = futures_util::future::join_all(running);
        if tokio::time::timeout(within, all).await.is_err() {
            tracing::warn!("background workers did not finish their round in time");
        }
    }
}
