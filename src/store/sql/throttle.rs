use super::SqlRepo;
use crate::store::{StoreResult, ThrottleRepo, Timestamp};

impl_for_backends! { impl ThrottleRepo for SqlRepo<DB> {
    async fn hit_rate_limit(
        &mut self,
        key: &str,
        now: Timestamp,
        window_cutoff: Timestamp,
    ) -> StoreResult<(i64, Timestamp)> {
        // One statement: concurrent hits each see the other's increment.
        let query = sqlx::query_as(
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
        .bind(window_cutoff);
        self.fetch_one("hit_rate_limit", query).await
    }

    async fn rate_limit_window(
        &mut self,
        key: &str,
        window_cutoff: Timestamp,
    ) -> StoreResult<Option<(i64, Timestamp)>> {
        let query = sqlx::query_as(
            "SELECT hits, window_started_at FROM rate_limits \
             WHERE key = $1 AND window_started_at > $2",
        )
        .bind(key)
        .bind(window_cutoff);
        self.fetch_optional("rate_limit_window", query).await
    }

    async fn claim_login_attempt(
        &mut self,
        key: &str,
        now: Timestamp,
        window_cutoff: Timestamp,
    ) -> StoreResult<Option<i64>> {
        // The lock is checked and the attempt counted in one statement, so
        // concurrent attempts cannot all slip through before the lock is set.
        let query = sqlx::query_as(
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
        .bind(window_cutoff);
        let row: Option<(i64,)> = self.fetch_optional("claim_login_attempt", query).await?;
        Ok(row.map(|(failures,)| failures))
    }

    async fn lock_login(&mut self, key: &str, until: Timestamp) -> StoreResult<()> {
        let query = sqlx::query(
            "UPDATE login_throttle SET locked_until = $2 \
             WHERE key = $1 AND (locked_until IS NULL OR locked_until < $2)",
        )
        .bind(key)
        .bind(until);
        self.execute("lock_login", query).await?;
        Ok(())
    }

    async fn clear_login_attempts(&mut self, key: &str) -> StoreResult<()> {
        let query = sqlx::query("DELETE FROM login_throttle WHERE key = $1").bind(key);
        self.execute("clear_login_attempts", query).await?;
        Ok(())
    }
}}
