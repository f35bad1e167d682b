use super::SqlRepo;
use crate::domain::Email;
use crate::store::{NewUser, ProfileUpdate, StoreResult, Timestamp, User, UserRepo};
use uuid::Uuid;

impl_for_backends! { impl UserRepo for SqlRepo<DB> {
    async fn user_by_id(&mut self, id: Uuid) -> StoreResult<Option<User>> {
        let sql = concat!("SELECT ", columns!(User), " FROM users WHERE id = $1");
        let query = sqlx::query_as(sql).bind(id);
        self.fetch_optional("user_by_id", query).await
    }

    async fn user_for_update(&mut self, id: Uuid) -> StoreResult<Option<User>> {
        let sql = concat!(
            "UPDATE users SET updated_at = updated_at WHERE id = $1 RETURNING ",
            columns!(User)
        );
        let query = sqlx::query_as(sql).bind(id);
        self.fetch_optional("user_for_update", query).await
    }

    async fn user_by_email(&mut self, email: &Email) -> StoreResult<Option<User>> {
        let sql = concat!("SELECT ", columns!(User), " FROM users WHERE email = $1");
        let query = sqlx::query_as(sql).bind(email.as_str());
        self.fetch_optional("user_by_email", query).await
    }

    async fn user_by_username(&mut self, username: &str) -> StoreResult<Option<User>> {
        let sql = concat!("SELECT ", columns!(User), " FROM users WHERE username = $1");
        let query = sqlx::query_as(sql).bind(username);
        self.fetch_optional("user_by_username", query).await
    }

    async fn insert_user(&mut self, user: &NewUser) -> StoreResult<User> {
        let sql = concat!(
            "INSERT INTO users (id, email, email_verified_at, username, display_name, first_name, \
             last_name, avatar_url, role, auth_provider, password_hash, locale, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13) \
             RETURNING ",
            columns!(User)
        );
        let query = sqlx::query_as(sql)
            .bind(user.id)
            .bind(user.email.as_str())
            .bind(user.email_verified_at)
            .bind(user.username.as_deref())
            .bind(user.display_name.as_deref())
            .bind(user.first_name.as_deref())
            .bind(user.last_name.as_deref())
            .bind(user.avatar_url.as_deref())
            .bind(user.role.as_str())
            .bind(user.auth_provider.as_str())
            .bind(user.password_hash.as_deref())
            .bind(user.locale.as_deref())
            .bind(user.created_at);
        self.fetch_one("insert_user", query).await
    }

    async fn update_profile(
        &mut self,
        id: Uuid,
        update: &ProfileUpdate,
        now: Timestamp,
    ) -> StoreResult<Option<User>> {
        // Each field is a (present, value) pair, so that absent fields keep
        // their value in the same statement: no read-modify-write race.
        let sql = concat!(
            "UPDATE users SET \
             username = CASE WHEN $2 THEN $3 ELSE username END, \
             display_name = CASE WHEN $4 THEN $5 ELSE display_name END, \
             first_name = CASE WHEN $6 THEN $7 ELSE first_name END, \
             last_name = CASE WHEN $8 THEN $9 ELSE last_name END, \
             phone = CASE WHEN $10 THEN $11 ELSE phone END, \
             city = CASE WHEN $12 THEN $13 ELSE city END, \
             info = CASE WHEN $14 THEN $15 ELSE info END, \
             avatar_url = CASE WHEN $16 THEN $17 ELSE avatar_url END, \
             locale = CASE WHEN $18 THEN $19 ELSE locale END, \
             updated_at = $20 \
             WHERE id = $1 RETURNING ",
            columns!(User)
        );
        let mut query = sqlx::query_as(sql).bind(id);
        for field in [
            &update.username,
            &update.display_name,
            &update.first_name,
            &update.last_name,
            &update.phone,
            &update.city,
            &update.info,
            &update.avatar_url,
            &update.locale,
        ] {
            query = query
                .bind(field.is_some())
                .bind(field.as_ref().and_then(|v| v.as_deref()));
        }
        self.fetch_optional("update_profile", query.bind(now)).await
    }

    async fn set_password_hash(&mut self, id: Uuid, hash: &str, now: Timestamp) -> StoreResult<()> {
        let query =
            sqlx::query("UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(hash)
                .bind(now);
        self.execute("set_password_hash", query).await?;
        Ok(())
    }

    async fn upgrade_password_hash(
        &mut self,
        id: Uuid,
        from: &str,
        to: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let query = sqlx::query(
            "UPDATE users SET password_hash = $3, updated_at = $4 \
             WHERE id = $1 AND password_hash = $2",
        )
        .bind(id)
        .bind(from)
        .bind(to)
        .bind(now);
        Ok(self.execute("upgrade_password_hash", query).await? == 1)
    }

    async fn set_email(&mut self, id: Uuid, email: &Email, now: Timestamp) -> StoreResult<()> {
        // The address was proven by the code that brought us here.
        let query = sqlx::query(
            "UPDATE users SET email = $2, email_verified_at = $3, updated_at = $3 WHERE id = $1",
        )
        .bind(id)
        .bind(email.as_str())
        .bind(now);
        self.execute("set_email", query).await?;
        Ok(())
    }
}}
