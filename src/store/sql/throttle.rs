use super::SqlRepo;
use crate::config::LockoutSettings;
use crate::store::{StoreResult, ThrottleRepo, Timestamp};

/// The attempts without a success, this one included: a count from
/// before the window (`$3`) starts over.
macro_rules! failures {
    () => {
        "(CASE WHEN login_throttle.last_attempt_at <= $3 THEN 1 \
         ELSE login_throttle.failures + 1 END)"
    };
}

/// [`LockoutSettings::lock_after`] of the count, in seconds, NULL for none:
/// the hard cap's lock (`$8`, `$9`), or past the free attempts (`$4`) the
/// first lock (`$5`) doubled once per further failure, up to the longest
/// (`$6`); never shifted by more than the doublings that reach it (`$7`).
macro_rules! lock_secs {
    () => {
        concat!(
            "(CASE WHEN ",
            failures!(),
            " >= $8 THEN $9 \
             WHEN ",
            failures!(),
            " >= $4 THEN LEAST($5 << LEAST(",
            failures!(),
            " - $4, $7)::int, $6) END)"
        )
    };
}

/// The attempt claimed and the lock it earns set in one statement
/// (PostgreSQL): the upsert holds the key's row, so a concurrent attempt
/// waits for it and then finds the lock. `$10` is a first attempt's lock.
pub(super) const CLAIM_AND_LOCK_POSTGRES: &str = concat!(
    "INSERT INTO login_throttle (key, failures, last_attempt_at, locked_until) \
     VALUES ($1, 1, $2, $10) \
     ON CONFLICT (key) DO UPDATE SET failures = ",
    failures!(),
    ", last_attempt_at = $2, locked_until = COALESCE($2 + make_interval(secs => ",
    lock_secs!(),
    "::double precision), login_throttle.locked_until) \
     WHERE login_throttle.locked_until IS NULL OR login_throttle.locked_until <= $2 \
     RETURNING failures"
);

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
        lockout: &LockoutSettings,
    ) -> StoreResult<Option<i64>> {
        if let Some(sql) = <DB as crate::store::sql::Dialect>::CLAIM_AND_LOCK {
            // A first attempt's lock, if the schedule gives one at once.
            let first_lock = lockout.lock_after(1).map(|lock| now.plus(lock));
            let secs = |s: u64| i64::try_from(s).unwrap_or(i64::MAX);
            let query = sqlx::query_as(sql)
                .bind(key)
                .bind(now)
                .bind(window_cutoff)
                .bind(i64::from(lockout.free_attempts))
                .bind(secs(lockout.base_delay_secs()))
                .bind(secs(lockout.max_delay_secs()))
                .bind(i32::try_from(lockout.doublings_to_max()).unwrap_or(62))
                .bind(i64::from(lockout.hard_cap))
                .bind(secs(lockout.hard_lock_secs()))
                .bind(first_lock);
            let row: Option<(i64,)> = self.fetch_optional("claim_login_attempt", query).await?;
            return Ok(row.map(|(failures,)| failures));
        }
        // The lock is checked and the attempt counted in one statement, so
        // concurrent attempts cannot all slip through before the lock is
        // set; the lock follows in the caller's transaction, the key's row
        // still locked.
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
        let Some((failures,)) = row else {
            return Ok(None);
        };
        if let Some(lock) = lockout.lock_after(failures) {
            self.lock_login(key, now.plus(lock)).await?;
        }
        Ok(Some(failures))
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
