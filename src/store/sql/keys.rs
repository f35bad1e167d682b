use super::{db_error, Dialect, SqlRepo};
use crate::store::{KeyRepo, SigningKeyRecord, StoreResult, Timestamp};
use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};

#[async_trait]
impl<DB> KeyRepo for SqlRepo<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    SigningKeyRecord: for<'r> FromRow<'r, DB::Row>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> Timestamp: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Timestamp>: Encode<'q, DB>,
{
    async fn signing_keys(&mut self) -> StoreResult<Vec<SigningKeyRecord>> {
        sqlx::query_as(
            "SELECT kid, algorithm, public_key, private_key_enc, created_at, activates_at, \
             retires_at FROM signing_keys ORDER BY activates_at, kid",
        )
        .fetch_all(self.conn())
        .await
        .map_err(db_error::<DB>("signing_keys"))
    }

    async fn retire_signing_keys(&mut self, at: Timestamp, except: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE signing_keys SET retires_at = $1 \
             WHERE kid <> $2 AND (retires_at IS NULL OR retires_at > $1)",
        )
        .bind(at)
        .bind(except)
        .execute(self.conn())
        .await
        .map_err(db_error::<DB>("retire_signing_keys"))?;
        Ok(())
    }

    async fn insert_signing_key(&mut self, key: &SigningKeyRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, algorithm, public_key, private_key_enc, created_at, \
             activates_at, retires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(key.kid.as_str())
        .bind(key.algorithm.as_str())
        .bind(key.public_key.as_str())
        .bind(key.private_key_enc.as_str())
        .bind(key.created_at)
        .bind(key.activates_at)
        .bind(key.retires_at)
        .execute(self.conn())
        .await
        .map_err(db_error::<DB>("insert_signing_key"))?;
        Ok(())
    }
}
