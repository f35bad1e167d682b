use super::{db_error, Dialect, SqlRepo};
use crate::domain::{CodeAction, Email};
use crate::store::{CodeRepo, ConsumedCode, NewCode, StoreError, StoreResult, Timestamp};
use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

/// What a new request overwrites in the row of the code it replaces.
macro_rules! replace_code {
    () => {
        "id = excluded.id, user_id = excluded.user_id, code_hash = excluded.code_hash, \
         token_hash = excluded.token_hash, attempts = 0, created_at = excluded.created_at, \
         expires_at = excluded.expires_at, consumed_at = NULL, sealed = excluded.sealed"
    };
}

#[async_trait]
impl<DB> CodeRepo for SqlRepo<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    ConsumedCode: for<'r> FromRow<'r, DB::Row>,
    (String,): for<'r> FromRow<'r, DB::Row>,
    (String, Timestamp): for<'r> FromRow<'r, DB::Row>,
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Uuid>: Encode<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Timestamp: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Timestamp>: Encode<'q, DB>,
{
    async fn put_code(&mut self, code: &NewCode) -> StoreResult<()> {
        // One live code per (email, action): a new request replaces the row,
        // which kills the previous code and resets the attempt counter.
        // An email change is keyed on its user instead (partial indexes).
        let sql = if code.action == CodeAction::ChangeEmail {
            concat!(
                "INSERT INTO email_verification_codes \
                 (id, email, action, user_id, code_hash, token_hash, attempts, created_at, \
                 expires_at, sealed) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9) \
                 ON CONFLICT (user_id) WHERE action = 'change_email' DO UPDATE SET email = excluded.email, ",
                replace_code!()
            )
        } else {
            concat!(
                "INSERT INTO email_verification_codes \
                 (id, email, action, user_id, code_hash, token_hash, attempts, created_at, \
                 expires_at, sealed) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9) \
                 ON CONFLICT (email, action) WHERE action <> 'change_email' DO UPDATE SET ",
                replace_code!()
            )
        };
        sqlx::query(sql)
            .bind(code.id)
            .bind(code.email.as_str())
            .bind(code.action.as_str())
            .bind(code.user_id)
            .bind(code.code_hash.as_str())
            .bind(code.token_hash.as_str())
            .bind(code.created_at)
            .bind(code.expires_at)
            .bind(code.sealed.as_deref())
            .execute(self.conn())
            .await
            .map_err(db_error::<DB>("put_code"))?;
        Ok(())
    }

    async fn consume_code(
        &mut self,
        email: &Email,
        action: CodeAction,
        code_hash: &str,
        now: Timestamp,
        max_attempts: u32,
    ) -> StoreResult<Option<ConsumedCode>> {
        // A single conditional UPDATE: of many concurrent confirms exactly one
        // sees `consumed_at IS NULL` and wins.
        sqlx::query_as(
            "UPDATE email_verification_codes SET consumed_at = $4, attempts = attempts + 1 \
             WHERE email = $1 AND action = $2 AND code_hash = $3 AND consumed_at IS NULL \
             AND expires_at > $4 AND attempts < $5 RETURNING email, user_id",
        )
        .bind(email.as_str())
        .bind(action.as_str())
        .bind(code_hash)
        .bind(now)
        .bind(i64::from(max_attempts))
        .fetch_optional(self.conn())
        .await
        .map_err(db_error::<DB>("consume_code"))
    }

    async fn count_failed_attempt(&mut self, email: &Email, action: CodeAction) -> StoreResult<()> {
        sqlx::query(
            "UPDATE email_verification_codes SET attempts = attempts + 1 \
             WHERE email = $1 AND action = $2 AND consumed_at IS NULL",
        )
        .bind(email.as_str())
        .bind(action.as_str())
        .execute(self.conn())
        .await
        .map_err(db_error::<DB>("count_failed_attempt"))?;
        Ok(())
    }

    async fn code_is_live(
        &mut self,
        email: &Email,
        action: CodeAction,
        code_hash: &str,
        now: Timestamp,
        max_attempts: u32,
    ) -> StoreResult<bool> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT email FROM email_verification_codes WHERE email = $1 AND action = $2 \
             AND code_hash = $3 AND consumed_at IS NULL AND expires_at > $4 AND attempts < $5",
        )
        .bind(email.as_str())
        .bind(action.as_str())
        .bind(code_hash)
        .bind(now)
        .bind(i64::from(max_attempts))
        .fetch_optional(self.conn())
        .await
        .map_err(db_error::<DB>("code_is_live"))?;
        Ok(row.is_some())
    }

    async fn live_code_email(
        &mut self,
        token_hash: &str,
        action: CodeAction,
        now: Timestamp,
    ) -> StoreResult<Option<Email>> {
        let row: Option<(String,)> = sqlx::query_as(
            "SELECT email FROM email_verification_codes WHERE token_hash = $1 AND action = $2 \
             AND consumed_at IS NULL AND expires_at > $3",
        )
        .bind(token_hash)
        .bind(action.as_str())
        .bind(now)
        .fetch_optional(self.conn())
        .await
        .map_err(db_error::<DB>("live_code_email"))?;
        row.map(|(email,)| Email::try_from(email))
            .transpose()
            .map_err(|_| StoreError::Corrupt {
                op: "live_code_email",
                detail: "a stored address does not parse".into(),
            })
    }

    async fn consume_link_token(
        &mut self,
        token_hash: &str,
        action: CodeAction,
        now: Timestamp,
        max_attempts: u32,
    ) -> StoreResult<Option<ConsumedCode>> {
        sqlx::query_as(
            "UPDATE email_verification_codes SET consumed_at = $3 \
             WHERE token_hash = $1 AND action = $2 AND consumed_at IS NULL \
             AND expires_at > $3 AND attempts < $4 RETURNING email, user_id",
        )
        .bind(token_hash)
        .bind(action.as_str())
        .bind(now)
        .bind(i64::from(max_attempts))
        .fetch_optional(self.conn())
        .await
        .map_err(db_error::<DB>("consume_link_token"))
    }

    async fn resendable_code(
        &mut self,
        email: &Email,
        action: CodeAction,
        now: Timestamp,
        max_attempts: u32,
    ) -> StoreResult<Option<(String, Timestamp)>> {
        sqlx::query_as(
            "SELECT sealed, expires_at FROM email_verification_codes WHERE email = $1 AND action = $2 \
             AND sealed IS NOT NULL AND consumed_at IS NULL AND expires_at > $3 \
             AND attempts < $4",
        )
        .bind(email.as_str())
        .bind(action.as_str())
        .bind(now)
        .bind(i64::from(max_attempts))
        .fetch_optional(self.conn())
        .await
        .map_err(db_error::<DB>("resendable_code"))
    }

    async fn end_email_changes(&mut self, user_id: Uuid) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM email_verification_codes WHERE user_id = $1 AND action = 'change_email'",
        )
        .bind(user_id)
        .execute(self.conn())
        .await
        .map_err(db_error::<DB>("end_email_changes"))?;
        Ok(DB::rows_affected(&done))
    }
}
