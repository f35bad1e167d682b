use super::SqlRepo;
use crate::store::{Ceremony, PasskeyRecord, PasskeyRepo, StoreResult, Timestamp};
use uuid::Uuid;

impl_for_backends! { impl PasskeyRepo for SqlRepo<DB> {
    async fn passkey_handle(&mut self, user_id: Uuid) -> StoreResult<Option<Uuid>> {
        let query = sqlx::query_as("SELECT handle FROM passkey_user_handles WHERE user_id = $1")
            .bind(user_id);
        let row: Option<(Uuid,)> = self.fetch_optional("passkey_handle", query).await?;
        Ok(row.map(|(handle,)| handle))
    }

    async fn insert_passkey_handle(&mut self, user_id: Uuid, handle: Uuid) -> StoreResult<()> {
        let query = sqlx::query("INSERT INTO passkey_user_handles (user_id, handle) VALUES ($1, $2)")
            .bind(user_id)
            .bind(handle);
        self.execute("insert_passkey_handle", query).await?;
        Ok(())
    }

    async fn user_of_passkey_handle(&mut self, handle: Uuid) -> StoreResult<Option<Uuid>> {
        let query = sqlx::query_as("SELECT user_id FROM passkey_user_handles WHERE handle = $1")
            .bind(handle);
        let row: Option<(Uuid,)> = self.fetch_optional("user_of_passkey_handle", query).await?;
        Ok(row.map(|(user_id,)| user_id))
    }

    async fn insert_passkey(&mut self, passkey: &PasskeyRecord) -> StoreResult<()> {
        let query = sqlx::query(
            "INSERT INTO passkeys (id, user_id, credential_id, name, credential, backup_eligible, \
             created_at, last_used_at, flagged_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(passkey.id)
        .bind(passkey.user_id)
        .bind(passkey.credential_id.as_str())
        .bind(passkey.name.as_str())
        .bind(passkey.credential.as_str())
        .bind(passkey.backup_eligible)
        .bind(passkey.created_at)
        .bind(passkey.last_used_at)
        .bind(passkey.flagged_at);
        self.execute("insert_passkey", query).await?;
        Ok(())
    }

    async fn passkeys_of_user(&mut self, user_id: Uuid) -> StoreResult<Vec<PasskeyRecord>> {
        let query = sqlx::query_as(concat!(
            "SELECT ",
            columns!(PasskeyRecord),
            " FROM passkeys WHERE user_id = $1 ORDER BY created_at, id"
        ))
        .bind(user_id);
        self.fetch_all("passkeys_of_user", query).await
    }

    async fn rename_passkey(&mut self, id: Uuid, user_id: Uuid, name: &str) -> StoreResult<bool> {
        let query = sqlx::query("UPDATE passkeys SET name = $3 WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id)
            .bind(name);
        Ok(self.execute("rename_passkey", query).await? == 1)
    }

    async fn delete_passkey(&mut self, id: Uuid, user_id: Uuid) -> StoreResult<bool> {
        let query = sqlx::query("DELETE FROM passkeys WHERE id = $1 AND user_id = $2")
            .bind(id)
            .bind(user_id);
        Ok(self.execute("delete_passkey", query).await? == 1)
    }

    async fn record_passkey_use(
        &mut self,
        id: Uuid,
        (credential, sign_count): (&str, u32),
        now: Timestamp,
    ) -> StoreResult<bool> {
        let query = sqlx::query(
            "UPDATE passkeys SET credential = $2, sign_count = $3, last_used_at = $4 \
             WHERE id = $1 AND flagged_at IS NULL AND ($3 = 0 OR sign_count < $3)",
        )
        .bind(id)
        .bind(credential)
        .bind(i64::from(sign_count))
        .bind(now);
        Ok(self.execute("record_passkey_use", query).await? == 1)
    }

    async fn flag_passkey(&mut self, id: Uuid, now: Timestamp) -> StoreResult<bool> {
        let query = sqlx::query(
            "UPDATE passkeys SET flagged_at = $2 WHERE id = $1 AND flagged_at IS NULL",
        )
        .bind(id)
        .bind(now);
        Ok(self.execute("flag_passkey", query).await? == 1)
    }

    async fn insert_ceremony(&mut self, ceremony: &Ceremony) -> StoreResult<()> {
        let query = sqlx::query(
            "INSERT INTO webauthn_ceremonies (id, purpose, user_id, binding, state_enc, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(ceremony.id)
        .bind(ceremony.purpose.as_str())
        .bind(ceremony.user_id)
        .bind(ceremony.binding.as_deref())
        .bind(ceremony.state_enc.as_str())
        .bind(ceremony.created_at)
        .bind(ceremony.expires_at);
        self.execute("insert_ceremony", query).await?;
        Ok(())
    }

    async fn take_ceremony(&mut self, id: Uuid, now: Timestamp) -> StoreResult<Option<Ceremony>> {
        let query = sqlx::query_as(concat!(
            "DELETE FROM webauthn_ceremonies WHERE id = $1 AND expires_at > $2 RETURNING ",
            columns!(Ceremony)
        ))
        .bind(id)
        .bind(now);
        self.fetch_optional("take_ceremony", query).await
    }
}}
