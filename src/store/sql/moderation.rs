//! User moderation for administrators: the filtered, paged user list, roles,
//! verification, bans and deletion.

use super::SqlRepo;
use crate::domain::Role;
use crate::store::{
    ModerationRepo, StoreResult, Timestamp, User, UserCursor, UserFilter, UserQuery, UserSort,
};
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

/// A page of the user list: `$after` compares the sort key with the cursor
/// `$6`/`$7` (NULL: first page), `$8` is the page size.
macro_rules! list_users {
    ($after:literal, $order:literal) => {
        concat!(
            "SELECT ",
            columns!(User),
            " FROM users",
            user_filter!(),
            " AND ($6 IS NULL OR ",
            $after,
            ") ORDER BY ",
            $order,
            " LIMIT $8"
        )
    };
}

// One query per sort order.
const LIST_CREATED_DESC: &str =
    list_users!("(created_at, id) < ($6, $7)", "created_at DESC, id DESC");
const LIST_CREATED_ASC: &str = list_users!("(created_at, id) > ($6, $7)", "created_at, id");
const LIST_EMAIL_ASC: &str = list_users!("(email, id) > ($6, $7)", "email, id");
const LIST_EMAIL_DESC: &str = list_users!("(email, id) < ($6, $7)", "email DESC, id DESC");

impl_for_backends! { impl ModerationRepo for SqlRepo<DB> {
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
        self.fetch_all("list_users", with_cursor.bind(query.limit))
            .await
    }

    async fn count_users(&mut self, filter: &UserFilter, now: Timestamp) -> StoreResult<i64> {
        let query = sqlx::query_as(concat!("SELECT count(*) FROM users", user_filter!()))
            .bind(filter.pattern.as_deref())
            .bind(filter.role.map(Role::as_str))
            .bind(filter.verified)
            .bind(filter.banned)
            .bind(now);
        let (count,): (i64,) = self.fetch_one("count_users", query).await?;
        Ok(count)
    }

    async fn set_role(&mut self, id: Uuid, role: Role, now: Timestamp) -> StoreResult<()> {
        let query = sqlx::query("UPDATE users SET role = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(role.as_str())
            .bind(now);
        self.execute("set_role", query).await?;
        Ok(())
    }

    async fn set_email_verified(
        &mut self,
        id: Uuid,
        verified_at: Option<Timestamp>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let query =
            sqlx::query("UPDATE users SET email_verified_at = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(verified_at)
                .bind(now);
        self.execute("set_email_verified", query).await?;
        Ok(())
    }

    async fn ban_user(
        &mut self,
        id: Uuid,
        until: Option<Timestamp>,
        reason: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let query = sqlx::query(
            "UPDATE users SET banned_at = $2, banned_until = $3, ban_reason = $4, updated_at = $2 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .bind(until)
        .bind(reason);
        self.execute("ban_user", query).await?;
        Ok(())
    }

    async fn unban_user(&mut self, id: Uuid, now: Timestamp) -> StoreResult<()> {
        let query = sqlx::query(
            "UPDATE users SET banned_at = NULL, banned_until = NULL, ban_reason = NULL, \
             updated_at = $2 WHERE id = $1",
        )
        .bind(id)
        .bind(now);
        self.execute("unban_user", query).await?;
        Ok(())
    }

    async fn delete_user(&mut self, id: Uuid) -> StoreResult<bool> {
        let query = sqlx::query("DELETE FROM users WHERE id = $1").bind(id);
        Ok(self.execute("delete_user", query).await? > 0)
    }

    async fn count_active_super_admins(&mut self, now: Timestamp) -> StoreResult<i64> {
        let query = sqlx::query_as(
            "SELECT count(*) FROM users WHERE role = 'SUPER-ADMIN' \
             AND email_verified_at IS NOT NULL \
             AND (banned_at IS NULL OR (banned_until IS NOT NULL AND banned_until <= $1))",
        )
        .bind(now);
        let (count,): (i64,) = self.fetch_one("count_active_super_admins", query).await?;
        Ok(count)
    }
}}
