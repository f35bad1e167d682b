//! The transactional outbox: mail is stored (sealed) in the transaction that
//! causes it and delivered by a worker on every instance. A worker leases a
//! mail before sending it, so instances sharing a database send each mail
//! once; a failed attempt is retried with exponential backoff until the mail
//! is no longer worth sending (`discard_after`, e.g. its code has expired).

use super::{Mail, MailTransport};
use crate::clock::{Clock, SharedClock};
use crate::config::Settings;
use crate::crypto::KeyCipher;
use crate::metrics::{MailResult, Metrics};
use crate::store::{OutboxMail, Repo, Store, StoreError, StoreResult, Timestamp};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use uuid::Uuid;

/// Mails one worker takes per round.
const BATCH: usize = 20;

#[derive(Clone)]
pub struct Outbox {
    cipher: KeyCipher,
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(cipher: KeyCipher) -> Self {
        Self {
            cipher,
            wake: Arc::default(),
        }
    }

    /// Writes the mail into the caller's transaction; call [`Outbox::wake`]
    /// once it has committed.
    pub async fn put(
        &self,
        repo: &mut dyn Repo,
        mail: &Mail,
        now: Timestamp,
        discard_after: Timestamp,
    ) -> StoreResult<()> {
        let id = Uuid::now_v7();
        let plain = serde_json::to_vec(mail).map_err(|_| StoreError::Corrupt {
            op: "enqueue_mail",
            detail: "mail could not be serialised".into(),
        })?;
        let sealed =
            self.cipher
                .encrypt(&plain, &id.to_string())
                .map_err(|_| StoreError::Corrupt {
                    op: "enqueue_mail",
                    detail: "mail could not be sealed".into(),
                })?;
        repo.enqueue_mail(&OutboxMail {
            id,
            sealed,
            created_at: now,
            next_attempt_at: now,
            attempts: 0,
            discard_after,
        })
        .await
    }

    /// Tells this instance's worker that there is mail (others find it on
    /// their next poll).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    fn open(&self, stored: &OutboxMail) -> Option<Mail> {
        let plain = self
            .cipher
            .decrypt(&stored.sealed, &stored.id.to_string())
            .ok()?;
        serde_json::from_slice(&plain).ok()
    }
}

/// How long to wait after the `attempts`-th failure.
fn backoff(attempts: i64, settings: &Settings) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let secs = settings
        .mail_retry_base_secs
        .saturating_mul(1 << exponent)
        .min(settings.mail_retry_max_secs);
    Duration::from_secs(secs)
}

pub fn spawn_worker(
    store: Arc<dyn Store>,
    transport: Arc<dyn MailTransport>,
    (outbox, metrics): (Outbox, Arc<Metrics>),
    settings: Arc<Settings>,
    (clock, workers): (SharedClock, &crate::workers::Workers),
) {
    let poll = Duration::from_millis(settings.mail_poll_interval_ms.max(10));
    workers.spawn(|mut stop| async move {
        while !stop.is_set() {
            let full = match deliver_due(
                store.as_ref(),
                transport.as_ref(),
                (&outbox, &metrics),
                &settings,
                (clock.as_ref(), &stop),
            )
            .await
            {
                Ok(count) => count >= BATCH,
                Err(error) => {
                    tracing::warn!(error = ?error, "mail outbox unavailable; retrying later");
                    false
                }
            };
            if !full {
                let wake = outbox.wake.notified();
                stop.idle(async {
                    let _ = tokio::time::timeout(poll, wake).await;
                })
                .await;
            }
        }
    });
}

/// How long one send may take before it counts as failed. Lettre's own
/// timeout bounds each SMTP command, not a whole conversation with a server
/// that answers slowly.
fn send_limit(settings: &Settings) -> Duration {
    Duration::from_secs(settings.smtp_timeout_secs.saturating_mul(2).max(1))
}

/// One round: drops stale mail, then leases and sends due mail one at a
/// time, up to `BATCH`. Each mail is leased just before its own send, for
/// longer than that send may take, so a slow SMTP server cannot make a
/// lease run out while the mail waits behind others (another instance
/// would send it again), and a stop leaves nothing leased that was not
/// being sent. Returns how many mails were leased.
async fn deliver_due(
    store: &dyn Store,
    transport: &dyn MailTransport,
    (outbox, metrics): (&Outbox, &Metrics),
    settings: &Settings,
    (clock, stop): (&dyn Clock, &crate::workers::StopSignal),
) -> StoreResult<usize> {
    let stale = store
        .connection()
        .await?
        .discard_stale_mail(clock.now())
        .await?;
    for _ in 0..stale {
        metrics.count_mail(MailResult::dropped);
    }
    if stale > 0 {
        tracing::error!(
            count = stale,
            "undelivered mail discarded: it is out of date"
        );
    }
    let limit = send_limit(settings);
    let lease = limit + Duration::from_secs(5);
    let mut leased = 0;
    while leased < BATCH && !stop.is_set() {
        let now = clock.now();
        let claimed = store
            .connection()
            .await?
            .claim_mail(now, now.plus(lease), 1)
            .await?;
        let Some(stored) = claimed.into_iter().next() else {
            break;
        };
        leased += 1;
        deliver_one(
            store,
            transport,
            (outbox, metrics),
            settings,
            clock,
            &stored,
        )
        .await?;
    }
    Ok(leased)
}

async fn deliver_one(
    store: &dyn Store,
    transport: &dyn MailTransport,
    (outbox, metrics): (&Outbox, &Metrics),
    settings: &Settings,
    clock: &dyn Clock,
    stored: &OutboxMail,
) -> StoreResult<()> {
    let Some(mail) = outbox.open(stored) else {
        tracing::error!(mail_id = %stored.id, "sealed mail cannot be opened; dropped");
        metrics.count_mail(MailResult::dropped);
        return store.connection().await?.delete_mail(stored.id).await;
    };
    let result = match tokio::time::timeout(send_limit(settings), transport.deliver(&mail)).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err("the SMTP conversation took longer than twice the SMTP timeout".into()),
    };
    let mut repo = store.connection().await?;
    match result {
        Ok(()) => {
            repo.delete_mail(stored.id).await?;
            metrics.count_mail(MailResult::sent);
            tracing::info!(mail_id = %stored.id, subject = %mail.subject, "mail sent");
        }
        Err(error) => {
            let retry = backoff(stored.attempts, settings);
            metrics.count_mail(MailResult::retried);
            tracing::warn!(
                mail_id = %stored.id,
                attempts = stored.attempts,
                retry_in_secs = retry.as_secs(),
                error = %error,
                "mail delivery failed; will retry"
            );
            repo.reschedule_mail(stored.id, clock.now().plus(retry), &error)
                .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let settings = Settings {
            mail_retry_base_secs: 5,
            mail_retry_max_secs: 300,
            ..Settings::default()
        };
        let secs: Vec<u64> = [1, 2, 3, 7, 50, i64::MAX]
            .into_iter()
            .map(|a| backoff(a, &settings).as_secs())
            .collect();
        assert_eq!(secs, [5, 10, 20, 300, 300, 300]);
    }
}
