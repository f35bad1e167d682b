//! A background task that deletes what can no longer be used, so that tables
//! do not grow without bound. Every instance may run it: the deletes are
//! idempotent.

use crate::clock::SharedClock;
use crate::config::Settings;
use crate::store::{Store, Timestamp};
use std::sync::Arc;
use std::time::Duration;

const INTERVAL: Duration = Duration::from_secs(600);
/// Ended sessions stay listed for a week (for support questions), then go.
const SESSION_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

pub fn spawn(
    store: Arc<dyn Store>,
    settings: Arc<Settings>,
    (clock, workers): (SharedClock, &crate::workers::Workers),
) {
    workers.spawn(|mut stop| async move {
        let mut ticker = tokio::time::interval(INTERVAL);
        loop {
            stop.idle(async {
                ticker.tick().await;
            })
            .await;
            if stop.is_set() {
                break;
            }
            if let Err(error) = purge_once(store.as_ref(), &settings, clock.now()).await {
                tracing::warn!(error = ?error, "housekeeping failed; retrying later");
            }
        }
    });
}

/// Keeps the lease on remembered live sessions (`store::liveness`): the
/// counter of changes is read four times per lease, one read at a time.
/// While it cannot be read the lease lapses and requests read the database.
pub fn renew_liveness(store: Arc<dyn Store>, workers: &crate::workers::Workers) {
    let Some(lease) = store.liveness_lease() else {
        return;
    };
    workers.spawn(|mut stop| async move {
        let mut ticker = tokio::time::interval(lease / 4);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            stop.idle(async {
                ticker.tick().await;
            })
            .await;
            if stop.is_set() {
                break;
            }
            // Said once per outage, not forty times a second.
            match store.renew_liveness().await {
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(error = ?error, "cannot read the liveness counter: \
                        every request reads its session until it can");
                }
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("the liveness counter is read again");
                }
                _ => {}
            }
        }
    });
}

pub async fn purge_once(
    store: &dyn Store,
    settings: &Settings,
    now: Timestamp,
) -> Result<u64, crate::store::StoreError> {
    let mut repo = store.connection().await?;
    let deleted = repo
        .purge_expired(
            now,
            now.minus(SESSION_RETENTION),
            now.minus(settings.mail_cooldown()),
            // 0 keeps the audit log forever.
            (settings.audit_retention_days > 0).then(|| {
                now.minus(Duration::from_secs(
                    settings.audit_retention_days * 24 * 3600,
                ))
            }),
        )
        .await?;
    let webhook_retention = Duration::from_secs(settings.webhooks.retention_days * 24 * 3600);
    let deleted = deleted
        + repo
            .purge_webhook_deliveries(now.minus(webhook_retention))
            .await?;
    if deleted > 0 {
        tracing::info!(deleted, "housekeeping removed expired rows");
    }
    Ok(deleted)
}
