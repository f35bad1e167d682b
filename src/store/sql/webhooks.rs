use super::SqlRepo;
use crate::store::{
    DeliveryAttempt, DeliveryQuery, StoreResult, Timestamp, WebhookDelivery, WebhookEndpoint,
    WebhookRepo,
};
use uuid::Uuid;

impl_for_backends! { impl WebhookRepo for SqlRepo<DB> {
    async fn insert_webhook_delivery(&mut self, delivery: &WebhookDelivery) -> StoreResult<()> {
        let query = sqlx::query(
            "INSERT INTO webhook_deliveries (event_id, endpoint_id, event_type, payload, status, \
             attempts, next_attempt_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(delivery.event_id)
        .bind(delivery.endpoint_id)
        .bind(delivery.event_type.as_str())
        .bind(delivery.payload.as_str())
        .bind(delivery.status.as_str())
        .bind(delivery.attempts)
        .bind(delivery.next_attempt_at)
        .bind(delivery.created_at);
        self.execute("insert_webhook_delivery", query).await?;
        Ok(())
    }

    async fn insert_webhook_endpoint(&mut self, endpoint: &WebhookEndpoint) -> StoreResult<()> {
        let query = sqlx::query(
            "INSERT INTO webhook_endpoints (id, url, description, events, enabled, \
             disabled_reason, secret_enc, previous_secret_enc, previous_secret_expires_at, \
             failure_streak, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(endpoint.id)
        .bind(endpoint.url.as_str())
        .bind(endpoint.description.as_deref())
        .bind(endpoint.events.as_str())
        .bind(endpoint.enabled)
        .bind(endpoint.disabled_reason.as_deref())
        .bind(endpoint.secret_enc.as_str())
        .bind(endpoint.previous_secret_enc.as_deref())
        .bind(endpoint.previous_secret_expires_at)
        .bind(endpoint.failure_streak)
        .bind(endpoint.created_at)
        .bind(endpoint.updated_at);
        self.execute("insert_webhook_endpoint", query).await?;
        Ok(())
    }

    async fn webhook_endpoints(&mut self) -> StoreResult<Vec<WebhookEndpoint>> {
        let query = sqlx::query_as(concat!(
            "SELECT ",
            columns!(WebhookEndpoint),
            " FROM webhook_endpoints ORDER BY created_at, id"
        ));
        self.fetch_all("webhook_endpoints", query).await
    }

    async fn webhook_endpoint(&mut self, id: Uuid) -> StoreResult<Option<WebhookEndpoint>> {
        let query = sqlx::query_as(concat!(
            "SELECT ",
            columns!(WebhookEndpoint),
            " FROM webhook_endpoints WHERE id = $1"
        ))
        .bind(id);
        self.fetch_optional("webhook_endpoint", query).await
    }

    async fn update_webhook_endpoint(
        &mut self,
        endpoint: &WebhookEndpoint,
    ) -> StoreResult<bool> {
        let query = sqlx::query(
            "UPDATE webhook_endpoints SET url = $2, description = $3, events = $4, enabled = $5, \
             disabled_reason = $6, secret_enc = $7, previous_secret_enc = $8, \
             previous_secret_expires_at = $9, failure_streak = $10, updated_at = $11 \
             WHERE id = $1",
        )
        .bind(endpoint.id)
        .bind(endpoint.url.as_str())
        .bind(endpoint.description.as_deref())
        .bind(endpoint.events.as_str())
        .bind(endpoint.enabled)
        .bind(endpoint.disabled_reason.as_deref())
        .bind(endpoint.secret_enc.as_str())
        .bind(endpoint.previous_secret_enc.as_deref())
        .bind(endpoint.previous_secret_expires_at)
        .bind(endpoint.failure_streak)
        .bind(endpoint.updated_at);
        Ok(self.execute("update_webhook_endpoint", query).await? == 1)
    }

    async fn delete_webhook_endpoint(&mut self, id: Uuid) -> StoreResult<bool> {
        let query = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1").bind(id);
        Ok(self.execute("delete_webhook_endpoint", query).await? == 1)
    }

    async fn claim_webhook_endpoint(
        &mut self,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<Option<WebhookEndpoint>> {
        let query = sqlx::query_as(
            "SELECT e.id FROM webhook_endpoints e WHERE e.enabled \
             AND (e.leased_until IS NULL OR e.leased_until <= $1) \
             AND EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.endpoint_id = e.id \
             AND d.status = 'pending' AND d.next_attempt_at <= $1) \
             ORDER BY e.leased_until NULLS FIRST, e.id LIMIT 4",
        )
        .bind(now);
        let candidates: Vec<(Uuid,)> = self.fetch_all("claim_webhook_endpoint", query).await?;
        // The lease is a conditional UPDATE: when two instances saw the same
        // endpoint, only one of them gets it.
        for (id,) in candidates {
            let query = sqlx::query_as(concat!(
                "UPDATE webhook_endpoints SET leased_until = $3 WHERE id = $1 AND enabled \
                 AND (leased_until IS NULL OR leased_until <= $2) RETURNING ",
                columns!(WebhookEndpoint)
            ))
            .bind(id)
            .bind(now)
            .bind(lease_until);
            if let Some(endpoint) = self.fetch_optional("claim_webhook_endpoint", query).await? {
                return Ok(Some(endpoint));
            }
        }
        Ok(None)
    }

    async fn due_webhook_deliveries(
        &mut self,
        endpoint_id: Uuid,
        now: Timestamp,
        limit: i64,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let query = sqlx::query_as(concat!(
            "SELECT ",
            columns!(WebhookDelivery),
            " FROM webhook_deliveries WHERE endpoint_id = $1 AND status = 'pending' \
             AND next_attempt_at <= $2 ORDER BY created_at, event_id LIMIT $3"
        ))
        .bind(endpoint_id)
        .bind(now)
        .bind(limit);
        self.fetch_all("due_webhook_deliveries", query).await
    }

    async fn record_webhook_attempt(
        &mut self,
        event_id: Uuid,
        endpoint_id: Uuid,
        attempt: &DeliveryAttempt,
    ) -> StoreResult<()> {
        let delivered = (attempt.status == "delivered").then_some(attempt.at);
        let query = sqlx::query(
            "UPDATE webhook_deliveries SET status = $3, attempts = attempts + 1, \
             next_attempt_at = $4, last_attempt_at = $5, last_status = $6, last_response = $7, \
             last_error = $8, delivered_at = $9 WHERE event_id = $1 AND endpoint_id = $2",
        )
        .bind(event_id)
        .bind(endpoint_id)
        .bind(attempt.status)
        .bind(attempt.next_attempt_at)
        .bind(attempt.at)
        .bind(attempt.http_status)
        .bind(attempt.response.as_deref())
        .bind(attempt.error.as_deref())
        .bind(delivered);
        self.execute("record_webhook_attempt", query).await?;
        Ok(())
    }

    async fn release_webhook_endpoint(
        &mut self,
        id: Uuid,
        failure_streak: i64,
        disable: Option<&str>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let query = sqlx::query(
            "UPDATE webhook_endpoints SET leased_until = NULL, failure_streak = $2, \
             enabled = CASE WHEN $3 IS NULL THEN enabled ELSE $5 END, \
             disabled_reason = COALESCE($3, disabled_reason), \
             updated_at = CASE WHEN $3 IS NULL THEN updated_at ELSE $4 END WHERE id = $1",
        )
        .bind(id)
        .bind(failure_streak)
        .bind(disable)
        .bind(now)
        .bind(false);
        self.execute("release_webhook_endpoint", query).await?;
        Ok(())
    }

    async fn webhook_deliveries(
        &mut self,
        query: &DeliveryQuery,
    ) -> StoreResult<Vec<WebhookDelivery>> {
        let (before_at, before_id) = query.before.unzip();
        let sql = sqlx::query_as(concat!(
            "SELECT ",
            columns!(WebhookDelivery),
            " FROM webhook_deliveries WHERE endpoint_id = $1 AND ($2 IS NULL OR status = $2) \
             AND ($3 IS NULL OR created_at < $3 OR (created_at = $3 AND event_id < $4)) \
             ORDER BY created_at DESC, event_id DESC LIMIT $5"
        ))
        .bind(query.endpoint_id)
        .bind(query.status.as_deref())
        .bind(before_at)
        .bind(before_id)
        .bind(query.limit);
        self.fetch_all("webhook_deliveries", sql).await
    }

    async fn retry_webhook_delivery(
        &mut self,
        event_id: Uuid,
        endpoint_id: Uuid,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let query = sqlx::query(
            "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = $3 \
             WHERE event_id = $1 AND endpoint_id = $2",
        )
        .bind(event_id)
        .bind(endpoint_id)
        .bind(now);
        Ok(self.execute("retry_webhook_delivery", query).await? == 1)
    }

    async fn purge_webhook_deliveries(&mut self, before: Timestamp) -> StoreResult<u64> {
        let query = sqlx::query(
            "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at <= $1",
        )
        .bind(before);
        self.execute("purge_webhook_deliveries", query).await
    }
}}
