use super::SqlRepo;
use crate::store::{OutboxMail, OutboxRepo, StoreResult, Timestamp};
use uuid::Uuid;

impl_for_backends! { impl OutboxRepo for SqlRepo<DB> {
    async fn enqueue_mail(&mut self, mail: &OutboxMail) -> StoreResult<()> {
        let query = sqlx::query(
            "INSERT INTO mail_outbox (id, sealed, created_at, next_attempt_at, attempts, \
             discard_after) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(mail.id)
        .bind(mail.sealed.as_str())
        .bind(mail.created_at)
        .bind(mail.next_attempt_at)
        .bind(mail.attempts)
        .bind(mail.discard_after);
        self.execute("enqueue_mail", query).await?;
        Ok(())
    }

    async fn claim_mail(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<OutboxMail>> {
        let query = sqlx::query_as(
            "SELECT id FROM mail_outbox WHERE next_attempt_at <= $1 AND discard_after > $1 \
             AND (locked_until IS NULL OR locked_until <= $1) \
             ORDER BY next_attempt_at LIMIT $2",
        )
        .bind(now)
        .bind(limit);
        let due: Vec<(Uuid,)> = self.fetch_all("claim_mail", query).await?;
        // The lease is taken row by row with a conditional UPDATE: when two
        // instances saw the same row, only one of them gets it back.
        let mut claimed = Vec::with_capacity(due.len());
        for (id,) in due {
            let query = sqlx::query_as(concat!(
                "UPDATE mail_outbox SET locked_until = $3, attempts = attempts + 1 \
                 WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $2) \
                 RETURNING ",
                columns!(OutboxMail)
            ))
            .bind(id)
            .bind(now)
            .bind(lease_until);
            claimed.extend(self.fetch_optional("claim_mail", query).await?);
        }
        Ok(claimed)
    }

    async fn delete_mail(&mut self, id: Uuid) -> StoreResult<()> {
        let query = sqlx::query("DELETE FROM mail_outbox WHERE id = $1").bind(id);
        self.execute("delete_mail", query).await?;
        Ok(())
    }

    async fn reschedule_mail(
        &mut self,
        id: Uuid,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> StoreResult<()> {
        let query = sqlx::query(
            "UPDATE mail_outbox SET next_attempt_at = $2, locked_until = NULL, last_error = $3 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(next_attempt_at)
        .bind(error);
        self.execute("reschedule_mail", query).await?;
        Ok(())
    }

    async fn discard_stale_mail(&mut self, now: Timestamp) -> StoreResult<u64> {
        let query = sqlx::query("DELETE FROM mail_outbox WHERE discard_after <= $1").bind(now);
        self.execute("discard_stale_mail", query).await
    }

    async fn backlog(&mut self) -> StoreResult<(i64, i64)> {
        let query = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM mail_outbox), \
             (SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending')",
        );
        self.fetch_one("backlog", query).await
    }
}}
