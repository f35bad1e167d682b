use super::{db_error, Dialect, SqlRepo};
use crate::store::{OutboxMail, OutboxRepo, StoreResult, Timestamp};
use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

#[async_trait]
impl<DB> OutboxRepo for SqlRepo<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    OutboxMail: for<'r> FromRow<'r, DB::Row>,
    (Uuid,): for<'r> FromRow<'r, DB::Row>,
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Timestamp: Encode<'q, DB> + Type<DB>,
{
    async fn enqueue_mail(&mut self, mail: &OutboxMail) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO mail_outbox (id, sealed, created_at, next_attempt_at, attempts, \
             discard_after) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(mail.id)
        .bind(mail.sealed.as_str())
        .bind(mail.created_at)
        .bind(mail.next_attempt_at)
        .bind(mail.attempts)
        .bind(mail.discard_after)
        .execute(self.conn())
        .await
        .map_err(db_error::<DB>("enqueue_mail"))?;
        Ok(())
    }

    async fn claim_mail(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<OutboxMail>> {
        let due: Vec<(Uuid,)> = sqlx::query_as(
            "SELECT id FROM mail_outbox WHERE next_attempt_at <= $1 AND discard_after > $1 \
             AND (locked_until IS NULL OR locked_until <= $1) \
             ORDER BY next_attempt_at LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(self.conn())
        .await
        .map_err(db_error::<DB>("claim_mail"))?;
        // The lease is taken row by row with a conditional UPDATE: when two
        // instances saw the same row, only one of them gets it back.
        let mut claimed = Vec::with_capacity(due.len());
        for (id,) in due {
            let mail: Option<OutboxMail> = sqlx::query_as(
                "UPDATE mail_outbox SET locked_until = $3, attempts = attempts + 1 \
                 WHERE id = $1 AND (locked_until IS NULL OR locked_until <= $2) \
                 RETURNING id, sealed, created_at, next_attempt_at, attempts, discard_after",
            )
            .bind(id)
            .bind(now)
            .bind(lease_until)
            .fetch_optional(self.conn())
            .await
            .map_err(db_error::<DB>("claim_mail"))?;
            claimed.extend(mail);
        }
        Ok(claimed)
    }

    async fn delete_mail(&mut self, id: Uuid) -> StoreResult<()> {
        sqlx::query("DELETE FROM mail_outbox WHERE id = $1")
            .bind(id)
            .execute(self.conn())
            .await
            .map_err(db_error::<DB>("delete_mail"))?;
        Ok(())
    }

    async fn reschedule_mail(
        &mut self,
        id: Uuid,
        next_attempt_at: Timestamp,
        error: &str,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE mail_outbox SET next_attempt_at = $2, locked_until = NULL, last_error = $3 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(next_attempt_at)
        .bind(error)
        .execute(self.conn())
        .await
        .map_err(db_error::<DB>("reschedule_mail"))?;
        Ok(())
    }

    async fn discard_stale_mail(&mut self, now: Timestamp) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM mail_outbox WHERE discard_after <= $1")
            .bind(now)
            .execute(self.conn())
            .await
            .map_err(db_error::<DB>("discard_stale_mail"))?;
        Ok(DB::rows_affected(&done))
    }
}
