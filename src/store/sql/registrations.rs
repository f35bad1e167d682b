use super::{db_error, Dialect, SqlRepo};
use crate::domain::{CodeAction, Email};
use crate::store::{PendingRegistration, RegistrationRepo, StoreResult, Timestamp};
use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

#[async_trait]
impl<DB> RegistrationRepo for SqlRepo<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    PendingRegistration: for<'r> FromRow<'r, DB::Row>,
    (String,): for<'r> FromRow<'r, DB::Row>,
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> Timestamp: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Timestamp>: Encode<'q, DB>,
{
    async fn put_pending_registration(
        &mut self,
        pending: &PendingRegistration,
    ) -> StoreResult<bool> {
        // Only an expired registration is replaced: whoever signs up second
        // for a live one must not decide its password. The conflict decides,
        // not a read before the write, so two racing sign-ups cannot both win.
        let done = sqlx::query(
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
        .bind(pending.expires_at)
        .execute(self.conn())
        .await
        .map_err(db_error::<DB>("put_pending_registration"))?;
        Ok(DB::rows_affected(&done) > 0)
    }

    async fn pending_registration(
        &mut self,
        email: &Email,
        now: Timestamp,
    ) -> StoreResult<Option<PendingRegistration>> {
        sqlx::query_as(
            "SELECT id, email, password_hash, username, first_name, last_name, created_at, \
             expires_at FROM pending_registrations WHERE email = $1 AND expires_at > $2",
        )
        .bind(email.as_str())
        .bind(now)
        .fetch_optional(self.conn())
        .await
        .map_err(db_error::<DB>("pending_registration"))
    }

    async fn take_pending_registration(
        &mut self,
        email: &Email,
        now: Timestamp,
    ) -> StoreResult<Option<PendingRegistration>> {
        sqlx::query_as(
            "DELETE FROM pending_registrations WHERE email = $1 AND expires_at > $2 \
             RETURNING id, email, password_hash, username, first_name, last_name, created_at, \
             expires_at",
        )
        .bind(email.as_str())
        .bind(now)
        .fetch_optional(self.conn())
        .await
        .map_err(db_error::<DB>("take_pending_registration"))
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
        let claimed: Option<(String,)> = sqlx::query_as(
            "INSERT INTO mail_cooldowns (email, action, last_sent_at) VALUES ($1, $4, $2) \
             ON CONFLICT (email, action) DO UPDATE SET last_sent_at = excluded.last_sent_at \
             WHERE mail_cooldowns.last_sent_at <= $3 RETURNING email",
        )
        .bind(email.as_str())
        .bind(now)
        .bind(not_after)
        .bind(action.as_str())
        .fetch_optional(self.conn())
        .await
        .map_err(db_error::<DB>("claim_mail_slot"))?;
        Ok(claimed.is_some())
    }
}
