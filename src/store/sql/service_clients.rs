//! Service clients: the callers of token introspection.

use super::SqlRepo;
use crate::store::{ServiceClient, ServiceClientRepo, StoreResult, Timestamp};
use uuid::Uuid;

impl_for_backends! { impl ServiceClientRepo for SqlRepo<DB> {
    async fn insert_service_client(&mut self, client: &ServiceClient) -> StoreResult<()> {
        let query = sqlx::query(
            "INSERT INTO service_clients (id, client_id, secret_hash, name, created_by, \
             created_at, last_used_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(client.id)
        .bind(client.client_id.as_str())
        .bind(client.secret_hash.as_str())
        .bind(client.name.as_str())
        .bind(client.created_by)
        .bind(client.created_at);
        self.execute("insert_service_client", query).await?;
        Ok(())
    }

    async fn service_clients(&mut self) -> StoreResult<Vec<ServiceClient>> {
        let query = sqlx::query_as(concat!(
            "SELECT ",
            columns!(ServiceClient),
            " FROM service_clients ORDER BY created_at, id"
        ));
        self.fetch_all("service_clients", query).await
    }

    async fn service_client_by_client_id(
        &mut self,
        client_id: &str,
    ) -> StoreResult<Option<ServiceClient>> {
        let query = sqlx::query_as(concat!(
            "SELECT ",
            columns!(ServiceClient),
            " FROM service_clients WHERE client_id = $1"
        ))
        .bind(client_id);
        self.fetch_optional("service_client_by_client_id", query)
            .await
    }

    async fn delete_service_client(&mut self, id: Uuid) -> StoreResult<bool> {
        let query = sqlx::query("DELETE FROM service_clients WHERE id = $1").bind(id);
        Ok(self.execute("delete_service_client", query).await? > 0)
    }

    async fn touch_service_client(&mut self, id: Uuid, now: Timestamp) -> StoreResult<()> {
        let query = sqlx::query("UPDATE service_clients SET last_used_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now);
        self.execute("touch_service_client", query).await?;
        Ok(())
    }
}}
