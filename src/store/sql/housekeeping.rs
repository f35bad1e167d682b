use super::{map_err, Dialect, SqlRepo};
use crate::store::{HousekeepingRepo, StoreResult, Timestamp};
use async_trait::async_trait;
use sqlx::{Encode, Executor, IntoArguments, Type};

#[async_trait]
impl<DB> HousekeepingRepo for SqlRepo<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> Timestamp: Encode<'q, DB> + Type<DB>,
{
    async fn purge_expired(
        &mut self,
        now: Timestamp,
        sessions_ended_before: Timestamp,
        throttles_before: Timestamp,
    ) -> StoreResult<u64> {
        let statements: [(&'static str, Timestamp); 4] = [
            (
                "DELETE FROM email_verification_codes WHERE expires_at <= $1",
                now,
            ),
            (
                "DELETE FROM pending_registrations WHERE expires_at <= $1",
                now,
            ),
            (
                "DELETE FROM mail_throttle WHERE last_sent_at <= $1",
                throttles_before,
            ),
            // Refresh tokens go with their session (ON DELETE CASCADE).
            (
                "DELETE FROM sessions WHERE expires_at <= $1 OR revoked_at <= $1",
                sessions_ended_before,
            ),
        ];
        let mut deleted = 0;
        for (sql, cutoff) in statements {
            let done = sqlx::query(sql)
                .bind(cutoff)
                .execute(self.conn())
                .await
                .map_err(map_err::<DB>)?;
            deleted += DB::rows_affected(&done);
        }
        Ok(deleted)
    }
}
