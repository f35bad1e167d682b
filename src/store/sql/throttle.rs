use super::{db_error, Dialect, SqlRepo};
use crate::store::{StoreResult, ThrottleRepo, Timestamp};
use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

#[async_trait]
impl<DB> ThrottleRepo for SqlRepo<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    (i64, Timestamp): for<'r> FromRow<'r, DB::Row>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Timestamp: Encode<'q, DB> + Type<DB>,
{
    async fn hit_rate_limit(
        &mut self,
        key: &str,
        now: Timestamp,
        window_cutoff: Timestamp,
    ) -> StoreResult<(i64, Timestamp)> {
        // One statement: concurrent hits each see the other's increment.
        sqlx::query_as(
            "INSERT INTO rate_limits (key, window_started_at, hits) VALUES ($1, $2, 1) \
             ON CONFLICT (key) DO UPDATE SET \
             hits = CASE WHEN rate_limits.window_started_at <= $3 THEN 1 \
                    ELSE rate_limits.hits + 1 END, \
             window_started_at = CASE WHEN rate_limits.window_started_at <= $3 THEN $2 \
                    ELSE rate_limits.window_started_at END \
             RETURNING hits, window_started_at",
        )
        .bind(key)
        .bind(now)
        .bind(window_cutoff)
        .fetch_one(self.conn())
        .await
        .map_err(db_error::<DB>("hit_rate_limit"))
    }

    async fn rate_limit_window(
        &mut self,
        key: &str,
        window_cutoff: Timestamp,
    ) -> StoreResult<Option<(i64, Timestamp)>> {
        sqlx::query_as(
            "SELECT hits, window_started_at FROM rate_limits \
             WHERE key = $1 AND window_started_at > $2",
        )
        .bind(key)
        .bind(window_cutoff)
        .fetch_optional(self.conn())
        .await
        .map_err(db_error::<DB>("rate_limit_window"))
    }

    async fn claim_login_attempt(
        &mut self,
        key: &str,
        now: Timestamp,
        window_cutoff: Timestamp,
    ) -> StoreResult<Option<i64>> {
        // The lock is checked and the attempt counted in one statement, so
        // concurrent attempts cannot all slip through before the lock is set.
        let row: Option<(i64,)> = sqlx::query_as(
            "INSERT INTO login_throttle (key, failures, last_attempt_at, locked_until) \
             VALUES ($1, 1, $2, NULL) \
             ON CONFLICT (key) DO UPDATE SET \
             failures = CASE WHEN login_throttle.last_attempt_at <= $3 THEN 1 \
                        ELSE login_throttle.failures + 1 END, \
             last_attempt_at = $2 \
             WHERE login_throttle.locked_until IS NULL OR login_throttle.locked_until <= $2 \
             RETURNING failures",
        )
        .bind(key)
        .bind(now)
        .bind(window_cutoff)
        .fetch_optional(self.conn())
        .await
        .map_err(db_error::<DB>("claim_login_attempt"))?;
        Ok(row.map(|(failures,)| failures))
    }

    async fn lock_login(&mut self, key: &str, until: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE login_throttle SET locked_until = $2 \
             WHERE key = $1 AND (locked_until IS NULL OR locked_until < $2)",
        )
        .bind(key)
        .bind(until)
        .execute(self.conn())
        .await
        .map_err(db_error::<DB>("lock_login"))?;
        Ok(())
    }

    async fn clear_login_attempts(&mut self, key: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM login_throttle WHERE key = $1")
            .bind(key)
            .execute(self.conn())
            .await
            .map_err(db_error::<DB>("clear_login_attempts"))?;
        Ok(())
    }
}
