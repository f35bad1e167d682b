use super::{db_error, Dialect, SqlRepo};
use crate::store::{RefreshTokenRecord, Session, SessionRepo, StoreResult, Timestamp};
use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

macro_rules! session_columns {
    () => {
        "id, user_id, ip, user_agent, created_at, last_used_at, expires_at, revoked_at"
    };
}

#[async_trait]
impl<DB> SessionRepo for SqlRepo<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    Session: for<'r> FromRow<'r, DB::Row>,
    (Uuid,): for<'r> FromRow<'r, DB::Row>,
    RefreshTokenRecord: for<'r> FromRow<'r, DB::Row>,
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Uuid>: Encode<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> Timestamp: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Timestamp>: Encode<'q, DB>,
{
    async fn insert_session(&mut self, session: &Session) -> StoreResult<()> {
        sqlx::query(concat!(
            "INSERT INTO sessions (",
            session_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(session.id)
        .bind(session.user_id)
        .bind(session.ip.as_deref())
        .bind(session.user_agent.as_deref())
        .bind(session.created_at)
        .bind(session.last_used_at)
        .bind(session.expires_at)
        .bind(session.revoked_at)
        .execute(self.conn())
        .await
        .map_err(db_error::<DB>("insert_session"))?;
        Ok(())
    }

    async fn insert_refresh_token(
        &mut self,
        token_hash: &str,
        session_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO refresh_tokens (token_hash, session_id, issued_at) VALUES ($1, $2, $3)",
        )
        .bind(token_hash)
        .bind(session_id)
        .bind(now)
        .execute(self.conn())
        .await
        .map_err(db_error::<DB>("insert_refresh_token"))?;
        Ok(())
    }

    async fn rotate_refresh_token(
        &mut self,
        token_hash: &str,
        now: Timestamp,
    ) -> StoreResult<Option<Uuid>> {
        let row: Option<(Uuid,)> = sqlx::query_as(
            "UPDATE refresh_tokens SET rotated_at = $2 \
             WHERE token_hash = $1 AND rotated_at IS NULL RETURNING session_id",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(self.conn())
        .await
        .map_err(db_error::<DB>("rotate_refresh_token"))?;
        Ok(row.map(|(id,)| id))
    }

    async fn refresh_token_record(
        &mut self,
        token_hash: &str,
    ) -> StoreResult<Option<RefreshTokenRecord>> {
        sqlx::query_as(
            "SELECT r.session_id, s.user_id, r.rotated_at FROM refresh_tokens r \
             JOIN sessions s ON s.id = r.session_id WHERE r.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(self.conn())
        .await
        .map_err(db_error::<DB>("refresh_token_record"))
    }

    async fn is_current_refresh_token(
        &mut self,
        token_hash: &str,
        session_id: Uuid,
    ) -> StoreResult<bool> {
        let row: Option<(Uuid,)> = sqlx::query_as(
            "SELECT session_id FROM refresh_tokens WHERE token_hash = $1 AND session_id = $2 \
             AND rotated_at IS NULL",
        )
        .bind(token_hash)
        .bind(session_id)
        .fetch_optional(self.conn())
        .await
        .map_err(db_error::<DB>("is_current_refresh_token"))?;
        Ok(row.is_some())
    }

    async fn touch_session(
        &mut self,
        id: Uuid,
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> StoreResult<Option<Session>> {
        sqlx::query_as(concat!(
            "UPDATE sessions SET last_used_at = $2 WHERE id = $1 AND revoked_at IS NULL \
             AND expires_at > $2 AND last_used_at > $3 RETURNING ",
            session_columns!()
        ))
        .bind(id)
        .bind(now)
        .bind(idle_cutoff)
        .fetch_optional(self.conn())
        .await
        .map_err(db_error::<DB>("touch_session"))
    }

    async fn live_session(
        &mut self,
        id: Uuid,
        user_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<Option<Session>> {
        sqlx::query_as(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL \
             AND expires_at > $3"
        ))
        .bind(id)
        .bind(user_id)
        .bind(now)
        .fetch_optional(self.conn())
        .await
        .map_err(db_error::<DB>("live_session"))
    }

    async fn live_sessions_of_user(
        &mut self,
        user_id: Uuid,
        now: Timestamp,
        idle_cutoff: Timestamp,
    ) -> StoreResult<Vec<Session>> {
        sqlx::query_as(concat!(
            "SELECT ",
            session_columns!(),
            " FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
             AND last_used_at > $3 ORDER BY created_at DESC, id"
        ))
        .bind(user_id)
        .bind(now)
        .bind(idle_cutoff)
        .fetch_all(self.conn())
        .await
        .map_err(db_error::<DB>("live_sessions_of_user"))
    }

    async fn revoke_session(
        &mut self,
        id: Uuid,
        owner: Option<Uuid>,
        now: Timestamp,
        reason: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $3, revoked_reason = $4 \
             WHERE id = $1 AND ($2 IS NULL OR user_id = $2) AND revoked_at IS NULL \
             AND expires_at > $3",
        )
        .bind(id)
        .bind(owner)
        .bind(now)
        .bind(reason)
        .execute(self.conn())
        .await
        .map_err(db_error::<DB>("revoke_session"))?;
        Ok(DB::rows_affected(&done) > 0)
    }

    async fn revoke_sessions_of_user(
        &mut self,
        user_id: Uuid,
        keep: Option<Uuid>,
        now: Timestamp,
        reason: &str,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE sessions SET revoked_at = $3, revoked_reason = $4 \
             WHERE user_id = $1 AND revoked_at IS NULL AND ($2 IS NULL OR id <> $2)",
        )
        .bind(user_id)
        .bind(keep)
        .bind(now)
        .bind(reason)
        .execute(self.conn())
        .await
        .map_err(db_error::<DB>("revoke_sessions_of_user"))?;
        Ok(DB::rows_affected(&done))
    }
}
