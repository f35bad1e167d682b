use super::SqlRepo;
use crate::store::{HousekeepingRepo, StoreResult, Timestamp};

impl_for_backends! { impl HousekeepingRepo for SqlRepo<DB> {
    async fn purge_expired(
        &mut self,
        now: Timestamp,
        sessions_ended_before: Timestamp,
        throttles_before: Timestamp,
        audit_before: Option<Timestamp>,
    ) -> StoreResult<u64> {
        let statements: [(&'static str, Timestamp); 12] = [
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
            ("DELETE FROM mfa_challenges WHERE expires_at <= $1", now),
            ("DELETE FROM webauthn_ceremonies WHERE expires_at <= $1", now),
            // An enrolment not finished within a day is abandoned.
            (
                "DELETE FROM mfa_factors WHERE verified_at IS NULL AND created_at <= $1",
                now.minus(std::time::Duration::from_secs(24 * 3600)),
            ),
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
            deleted += self
                .execute("purge_expired", sqlx::query(sql).bind(cutoff))
                .await?;
        }
        Ok(deleted)
    }
}}
