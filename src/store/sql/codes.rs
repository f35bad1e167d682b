use super::SqlRepo;
use crate::domain::{CodeAction, Email};
use crate::store::{CodeRepo, ConsumedCode, NewCode, StoreError, StoreResult, Timestamp};
use uuid::Uuid;

/// A new code's row; an `ON CONFLICT` clause follows.
macro_rules! insert_code {
    () => {
        "INSERT INTO email_verification_codes \
         (id, email, action, user_id, code_hash, token_hash, attempts, created_at, \
         expires_at, sealed) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9) "
    };
}

/// What a new request overwrites in the row of the code it replaces.
macro_rules! replace_code {
    () => {
        "id = excluded.id, user_id = excluded.user_id, code_hash = excluded.code_hash, \
         token_hash = excluded.token_hash, attempts = 0, created_at = excluded.created_at, \
         expires_at = excluded.expires_at, consumed_at = NULL, sealed = excluded.sealed"
    };
}

/// The code `$3` for the address `$1` and action `$2`, if it is unused,
/// unexpired at `$4` and has attempts left (fewer than `$5`).
macro_rules! live_code {
    () => {
        " WHERE email = $1 AND action = $2 AND code_hash = $3 AND consumed_at IS NULL \
         AND expires_at > $4 AND attempts < $5"
    };
}

impl_for_backends! { impl CodeRepo for SqlRepo<DB> {
    async fn put_code(&mut self, code: &NewCode) -> StoreResult<()> {
        // One live code per (email, action): a new request replaces the row,
        // which kills the previous code and resets the attempt counter.
        // An email change is keyed on its user instead (partial indexes).
        let sql = if code.action == CodeAction::ChangeEmail {
            concat!(
                insert_code!(),
                "ON CONFLICT (user_id) WHERE action = 'change_email' \
                 DO UPDATE SET email = excluded.email, ",
                replace_code!()
            )
        } else {
            concat!(
                insert_code!(),
                "ON CONFLICT (email, action) WHERE action <> 'change_email' DO UPDATE SET ",
                replace_code!()
            )
        };
        let query = sqlx::query(sql)
            .bind(code.id)
            .bind(code.email.as_str())
            .bind(code.action.as_str())
            .bind(code.user_id)
            .bind(code.code_hash.as_str())
            .bind(code.token_hash.as_str())
            .bind(code.created_at)
            .bind(code.expires_at)
            .bind(code.sealed.as_deref());
        self.execute("put_code", query).await?;
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
        let query = sqlx::query_as(concat!(
            "UPDATE email_verification_codes SET consumed_at = $4, attempts = attempts + 1",
            live_code!(),
            " RETURNING email, user_id"
        ))
        .bind(email.as_str())
        .bind(action.as_str())
        .bind(code_hash)
        .bind(now)
        .bind(i64::from(max_attempts));
        self.fetch_optional("consume_code", query).await
    }

    async fn count_failed_attempt(&mut self, email: &Email, action: CodeAction) -> StoreResult<()> {
        let query = sqlx::query(
            "UPDATE email_verification_codes SET attempts = attempts + 1 \
             WHERE email = $1 AND action = $2 AND consumed_at IS NULL",
        )
        .bind(email.as_str())
        .bind(action.as_str());
        self.execute("count_failed_attempt", query).await?;
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
        let query = sqlx::query_as(concat!(
            "SELECT email FROM email_verification_codes",
            live_code!()
        ))
        .bind(email.as_str())
        .bind(action.as_str())
        .bind(code_hash)
        .bind(now)
        .bind(i64::from(max_attempts));
        let row: Option<(String,)> = self.fetch_optional("code_is_live", query).await?;
        Ok(row.is_some())
    }

    async fn live_code_email(
        &mut self,
        token_hash: &str,
        action: CodeAction,
        now: Timestamp,
    ) -> StoreResult<Option<Email>> {
        let query = sqlx::query_as(
            "SELECT email FROM email_verification_codes WHERE token_hash = $1 AND action = $2 \
             AND consumed_at IS NULL AND expires_at > $3",
        )
        .bind(token_hash)
        .bind(action.as_str())
        .bind(now);
        let row: Option<(String,)> = self.fetch_optional("live_code_email", query).await?;
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
        let query = sqlx::query_as(
            "UPDATE email_verification_codes SET consumed_at = $3 \
             WHERE token_hash = $1 AND action = $2 AND consumed_at IS NULL \
             AND expires_at > $3 AND attempts < $4 RETURNING email, user_id",
        )
        .bind(token_hash)
        .bind(action.as_str())
        .bind(now)
        .bind(i64::from(max_attempts));
        self.fetch_optional("consume_link_token", query).await
    }

    async fn resendable_code(
        &mut self,
        email: &Email,
        action: CodeAction,
        now: Timestamp,
        max_attempts: u32,
    ) -> StoreResult<Option<(String, Timestamp)>> {
        let query = sqlx::query_as(
            "SELECT sealed, expires_at FROM email_verification_codes WHERE email = $1 AND action = $2 \
             AND sealed IS NOT NULL AND consumed_at IS NULL AND expires_at > $3 \
             AND attempts < $4",
        )
        .bind(email.as_str())
        .bind(action.as_str())
        .bind(now)
        .bind(i64::from(max_attempts));
        self.fetch_optional("resendable_code", query).await
    }

    async fn end_email_changes(&mut self, user_id: Uuid) -> StoreResult<u64> {
        let query = sqlx::query(
            "DELETE FROM email_verification_codes WHERE user_id = $1 AND action = 'change_email'",
        )
        .bind(user_id);
        self.execute("end_email_changes", query).await
    }
}}
