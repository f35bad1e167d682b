use super::SqlRepo;
use crate::domain::{CodeAction, Email};
use crate::store::{PendingRegistration, RegistrationRepo, StoreResult, Timestamp};

impl_for_backends! { impl RegistrationRepo for SqlRepo<DB> {
    async fn put_pending_registration(
        &mut self,
        pending: &PendingRegistration,
    ) -> StoreResult<bool> {
        // Only an expired registration is replaced: whoever signs up second
        // for a live one must not decide its password. The conflict decides,
        // not a read before the write, so two racing sign-ups cannot both win.
        let query = sqlx::query(
            "INSERT INTO pending_registrations \
             (id, email, password_hash, username, first_name, last_name, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (email) DO UPDATE SET id = excluded.id, \
             password_hash = excluded.password_hash, username = excluded.username, \
             first_name = excluded.first_name, last_name = excluded.last_name, \
             created_at = excluded.created_at, expires_at = excluded.expires_at \
             WHERE pending_registrations.expires_at <= excluded.created_at",
        )
        .bind(pending.id)
        .bind(pending.email.as_str())
        .bind(pending.password_hash.as_str())
        .bind(pending.username.as_deref())
        .bind(pending.first_name.as_deref())
        .bind(pending.last_name.as_deref())
        .bind(pending.created_at)
        .bind(pending.expires_at);
        Ok(self.execute("put_pending_registration", query).await? > 0)
    }

    async fn pending_registration(
        &mut self,
        email: &Email,
        now: Timestamp,
    ) -> StoreResult<Option<PendingRegistration>> {
        let query = sqlx::query_as(concat!(
            "SELECT ",
            columns!(PendingRegistration),
            " FROM pending_registrations WHERE email = $1 AND expires_at > $2"
        ))
        .bind(email.as_str())
        .bind(now);
        self.fetch_optional("pending_registration", query).await
    }

    async fn take_pending_registration(
        &mut self,
        email: &Email,
        now: Timestamp,
    ) -> StoreResult<Option<PendingRegistration>> {
        let query = sqlx::query_as(concat!(
            "DELETE FROM pending_registrations WHERE email = $1 AND expires_at > $2 RETURNING ",
            columns!(PendingRegistration)
        ))
        .bind(email.as_str())
        .bind(now);
        self.fetch_optional("take_pending_registration", query)
            .await
    }

    async fn claim_mail_slot(
        &mut self,
        email: &Email,
        action: CodeAction,
        now: Timestamp,
        not_after: Timestamp,
    ) -> StoreResult<bool> {
        // The conditional upsert returns a row only when it inserted or the
        // last mail is old enough: two racing requests cannot both win.
        let query = sqlx::query_as(
            "INSERT INTO mail_cooldowns (email, action, last_sent_at) VALUES ($1, $4, $2) \
             ON CONFLICT (email, action) DO UPDATE SET last_sent_at = excluded.last_sent_at \
             WHERE mail_cooldowns.last_sent_at <= $3 RETURNING email",
        )
        .bind(email.as_str())
        .bind(now)
        .bind(not_after)
        .bind(action.as_str());
        let claimed: Option<(String,)> = self.fetch_optional("claim_mail_slot", query).await?;
        Ok(claimed.is_some())
    }
}}
