//! Service clients: the callers of token introspection.

use super::{db_error, Dialect, SqlRepo};
use crate::store::{ServiceClient, ServiceClientRepo, StoreResult, Timestamp};
use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

#[async_trait]
impl<DB> ServiceClientRepo for SqlRepo<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    ServiceClient: for<'r> FromRow<'r, DB::Row>,
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Uuid>: Encode<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Timestamp: Encode<'q, DB> + Type<DB>,
{
    async fn insert_service_client(&mut self, client: &ServiceClient) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO service_clients (id, client_id, secret_hash, name, created_by, \
             created_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(client.id)
        .bind(client.client_id.as_str())
        .bind(client.secret_hash.as_str())
        .bind(client.name.as_str())
        .bind(client.created_by)
        .bind(client.created_at)
        .execute(self.conn())
        .await
        .map_err(db_error::<DB>("insert_service_client"))?;
        Ok(())
    }

    async fn service_clients(&mut self) -> StoreResult<Vec<ServiceClient>> {
        sqlx::query_as(
            "SELECT id, client_id, secret_hash, name, created_by, created_at, last_used_at \
             FROM service_clients ORDER BY created_at, id",
        )
        .fetch_all(self.conn())
        .await
        .map_err(db_error::<DB>("service_clients"))
    }

    async fn service_client_by_client_id(
        &mut self,
        client_id: &str,
    ) -> StoreResult<Option<ServiceClient>> {
        sqlx::query_as(
            "SELECT id, client_id, secret_hash, name, created_by, created_at, last_used_at \
             FROM service_clients WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(self.conn())
        .await
        .map_err(db_error::<DB>("service_client_by_client_id"))
    }

    async fn delete_service_client(&mut self, id: Uuid) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM service_clients WHERE id = $1")
            .bind(id)
            .execute(self.conn())
            .await
            .map_err(db_error::<DB>("delete_service_client"))?;
        Ok(DB::rows_affected(&done) > 0)
    }

    async fn touch_service_client(&mut self, id: Uuid, now: Timestamp) -> StoreResult<()> {
        sqlx::query("UPDATE service_clients SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(self.conn())
            .await
            .map_err(db_error::<DB>("touch_service_client"))?;
        Ok(())
    }
}
