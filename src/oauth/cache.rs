//! A value fetched from a provider and kept for a while. Safe to keep per
//! instance: discovery documents and key sets are public and change rarely.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

pub struct Cached<T> {
    slot: Mutex<Option<(Instant, Arc<T>)>>,
    ttl: Duration,
}

impl<T> Cached<T> {
    pub fn new(ttl: Duration) -> Self {
        Self {
            slot: Mutex::new(None),
            ttl,
        }
    }

    /// The cached value, or a fresh one from `fetch` when it is older than
    /// the TTL or `refresh` asks for it (and the last fetch is older than
    /// `min_age`, so a flood of unknown key ids cannot hammer the provider).
    pub async fn get<E, F, Fut>(
        &self,
        refresh: bool,
        min_age: Duration,
        fetch: F,
    ) -> Result<Arc<T>, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T, E>>,
    {
        let mut slot = self.slot.lock().await;
        if let Some((fetched, value)) = slot.as_ref() {
            let age = fetched.elapsed();
            if age < self.ttl && !(refresh && age >= min_age) {
                return Ok(value.clone());
            }
        }
        let value = Arc::new(fetch().await?);
        *slot = Some((Instant::now(), value.clone()));
        Ok(value)
    }
}
