use super::{db_error, Dialect, SqlRepo};
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
        audit_before: Option<Timestamp>,
    ) -> StoreResult<u64> {
        let statements: [(&'static str, Timestamp); 9] = [
            (
                "DELETE FROM email_verification_codes WHERE expires_at <= $1",
                now,
            ),
            (
                "DELETE FROM pending_registrations WHERE expires_at <= $1",
                now,
            ),
            ("DELETE FROM oauth_states WHERE expires_at <= $1", now),
            ("DELETE FROM oauth_handoffs WHERE expires_at <= $1", now),
            ("DELETE FROM pending_links WHERE expires_at <= $1", now),
            (
                "DELETE FROM mail_cooldowns WHERE last_sent_at <= $1",
                throttles_before,
            ),
            // Rate-limit windows and lockout counters outlive their purpose
            // by far at the session retention.
            (
                "DELETE FROM rate_limits WHERE window_started_at <= $1",
                sessions_ended_before,
            ),
            (
                "DELETE FROM login_throttle WHERE last_attempt_at <= $1 \
                 AND (locked_until IS NULL OR locked_until <= $1)",
                sessions_ended_before,
            ),
            // Refresh tokens go with their session (ON DELETE CASCADE).
            (
                "DELETE FROM sessions WHERE expires_at <= $1 OR revoked_at <= $1",
                sessions_ended_before,
            ),
        ];
        let audit =
            audit_before.map(|cutoff| ("DELETE FROM audit_events WHERE occurred_at <= $1", cutoff));
        let mut deleted = 0;
        for (sql, cutoff) in statements.into_iter().chain(audit) {
            let done = sqlx::query(sql)
                .bind(cutoff)
                .execute(self.conn())
                .await
                .map_err(db_error::<DB>("purge_expired"))?;
            deleted += DB::rows_affected(&done);
        }
        Ok(deleted)
    }
}
