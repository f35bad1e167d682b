use super::SqlRepo;
use crate::store::{KeyRepo, SigningKeyRecord, StoreResult, Timestamp};

impl_for_backends! { impl KeyRepo for SqlRepo<DB> {
    async fn signing_keys(&mut self) -> StoreResult<Vec<SigningKeyRecord>> {
        let query = sqlx::query_as(concat!(
            "SELECT ",
            columns!(SigningKeyRecord),
            " FROM signing_keys ORDER BY activates_at, kid"
        ));
        self.fetch_all("signing_keys", query).await
    }

    async fn retire_signing_keys(&mut self, at: Timestamp, except: &str) -> StoreResult<()> {
        let query = sqlx::query(
            "UPDATE signing_keys SET retires_at = $1 \
             WHERE kid <> $2 AND (retires_at IS NULL OR retires_at > $1)",
        )
        .bind(at)
        .bind(except);
        self.execute("retire_signing_keys", query).await?;
        Ok(())
    }

    async fn insert_signing_key(&mut self, key: &SigningKeyRecord) -> StoreResult<()> {
        let query = sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, public_key, private_key_enc, created_at, \
             activates_at, retires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(key.kid.as_str())
        .bind(key.algorithm.as_str())
        .bind(key.public_key.as_str())
        .bind(key.private_key_enc.as_str())
        .bind(key.created_at)
        .bind(key.activates_at)
        .bind(key.retires_at);
        self.execute("insert_signing_key", query).await?;
        Ok(())
    }
}}
