//! User moderation for administrators: the filtered, paged user list, roles,
//! verification, bans and deletion.

use super::{db_error, Dialect, SqlRepo};
use crate::domain::Role;
use crate::store::{
    ModerationRepo, StoreResult, Timestamp, User, UserCursor, UserFilter, UserQuery, UserSort,
};
use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

/// The filters of the admin user list, as SQL with `$1` … `$5` (pattern,
/// role, verified, banned, now). Absent filters are NULL and match all.
macro_rules! user_filter {
    () => {
        " WHERE ($1 IS NULL OR email LIKE $1 ESCAPE '\\' OR coalesce(username, '') LIKE $1 ESCAPE '\\' \
         OR lower(coalesce(display_name, '') || ' ' || coalesce(first_name, '') || ' ' || \
         coalesce(last_name, '')) LIKE $1 ESCAPE '\\') \
         AND ($2 IS NULL OR role = $2) \
         AND ($3 IS NULL OR (email_verified_at IS NOT NULL) = $3) \
         AND ($4 IS NULL OR (banned_at IS NOT NULL AND (banned_until IS NULL OR banned_until > $5)) = $4)"
    };
}

/// One query per sort order; `$6`/`$7` is the cursor (NULL: first page),
/// `$8` the page size.
const LIST_CREATED_DESC: &str =
    concat!(
    "SELECT ", user_columns!(), " FROM users", user_filter!(),
    " AND ($6 IS NULL OR (created_at, id) < ($6, $7)) ORDER BY created_at DESC, id DESC LIMIT $8"
);
const LIST_CREATED_ASC: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users",
    user_filter!(),
    " AND ($6 IS NULL OR (created_at, id) > ($6, $7)) ORDER BY created_at, id LIMIT $8"
);
const LIST_EMAIL_ASC: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users",
    user_filter!(),
    " AND ($6 IS NULL OR (email, id) > ($6, $7)) ORDER BY email, id LIMIT $8"
);
const LIST_EMAIL_DESC: &str = concat!(
    "SELECT ",
    user_columns!(),
    " FROM users",
    user_filter!(),
    " AND ($6 IS NULL OR (email, id) < ($6, $7)) ORDER BY email DESC, id DESC LIMIT $8"
);
#[async_trait]
impl<DB> ModerationRepo for SqlRepo<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    User: for<'r> FromRow<'r, DB::Row>,
    (i64,): for<'r> FromRow<'r, DB::Row>,
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Uuid>: Encode<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> Option<bool>: Encode<'q, DB>,
    bool: Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Timestamp: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Timestamp>: Encode<'q, DB>,
{
    async fn list_users(&mut self, query: &UserQuery) -> StoreResult<Vec<User>> {
        let filter = &query.filter;
        let sql = match query.sort {
            UserSort::CreatedDesc => LIST_CREATED_DESC,
            UserSort::CreatedAsc => LIST_CREATED_ASC,
            UserSort::EmailAsc => LIST_EMAIL_ASC,
            UserSort::EmailDesc => LIST_EMAIL_DESC,
        };
        let base = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(filter.pattern.as_deref())
            .bind(filter.role.map(Role::as_str))
            .bind(filter.verified)
            .bind(filter.banned)
            .bind(query.now);
        // The first page binds NULLs of the sort key's own type: PostgreSQL
        // types the comparison from them.
        let with_cursor = match &query.after {
            None if matches!(query.sort, UserSort::CreatedDesc | UserSort::CreatedAsc) => {
                base.bind(None::<Timestamp>).bind(None::<Uuid>)
            }
            None => base.bind(None::<&str>).bind(None::<Uuid>),
            Some(UserCursor::Created(at, id)) => base.bind(Some(*at)).bind(Some(*id)),
            Some(UserCursor::Email(email, id)) => base.bind(Some(email.as_str())).bind(Some(*id)),
        };
        with_cursor
            .bind(query.limit)
            .fetch_all(self.conn())
            .await
            .map_err(db_error::<DB>("list_users"))
    }

    async fn count_users(&mut self, filter: &UserFilter, now: Timestamp) -> StoreResult<i64> {
        let (count,): (i64,) =
            sqlx::query_as(concat!("SELECT count(*) FROM users", user_filter!()))
                .bind(filter.pattern.as_deref())
                .bind(filter.role.map(Role::as_str))
                .bind(filter.verified)
                .bind(filter.banned)
                .bind(now)
                .fetch_one(self.conn())
                .await
                .map_err(db_error::<DB>("count_users"))?;
        Ok(count)
    }

    async fn set_role(&mut self, id: Uuid, role: Role, now: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE users SET role = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(role.as_str())
            .bind(now)
            .execute(self.conn())
            .await
            .map_err(db_error::<DB>("set_role"))?;
        Ok(())
    }

    async fn set_email_verified(
        &mut self,
        id: Uuid,
        verified_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE users SET email_verified_at = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(verified_at)
            .bind(now)
            .execute(self.conn())
            .await
            .map_err(db_error::<DB>("set_email_verified"))?;
        Ok(())
    }

    async fn ban_user(
        &mut self,
        id: Uuid,
        until: Option<Timestamp>,
        reason: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE users SET banned_at = $2, banned_until = $3, ban_reason = $4, updated_at = $2 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(until)
        .bind(reason)
        .execute(self.conn())
        .await
        .map_err(db_error::<DB>("ban_user"))?;
        Ok(())
    }

    async fn unban_user(&mut self, id: Uuid, now: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE users SET banned_at = NULL, banned_until = NULL, ban_reason = NULL, \
             updated_at = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(self.conn())
        .await
        .map_err(db_error::<DB>("unban_user"))?;
        Ok(())
    }

    async fn delete_user(&mut self, id: Uuid) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM users WHERE id = $1")
            .bind(id)
            .execute(self.conn())
            .await
            .map_err(db_error::<DB>("delete_user"))?;
        Ok(DB::rows_affected(&done) > 0)
    }

    async fn count_active_super_admins(&mut self, now: Timestamp) -> StoreResult<i64> {
        let (count,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM users WHERE role = 'SUPER-ADMIN' \
             AND email_verified_at IS NOT NULL \
             AND (banned_at IS NULL OR (banned_until IS NOT NULL AND banned_until <= $1))",
        )
        .bind(now)
        .fetch_one(self.conn())
        .await
        .map_err(db_error::<DB>("count_active_super_admins"))?;
        Ok(count)
    }
}
