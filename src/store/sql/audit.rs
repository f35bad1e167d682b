//! The audit log.

use super::SqlRepo;
use crate::store::{AuditEvent, AuditQuery, AuditRepo, StoreResult};

impl_for_backends! { impl AuditRepo for SqlRepo<DB> {
    async fn insert_audit_event(&mut self, event: &AuditEvent) -> StoreResult<()> {
        let query = sqlx::query(
            "INSERT INTO audit_events (id, occurred_at, event_type, user_id, actor_id, ip, \
             user_agent, request_id, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(event.id)
        .bind(event.occurred_at)
        .bind(event.event_type.as_str())
        .bind(event.user_id)
        .bind(event.actor_id)
        .bind(event.ip.as_deref())
        .bind(event.user_agent.as_deref())
        .bind(event.request_id.as_deref())
        .bind(event.details.as_deref());
        self.execute("insert_audit_event", query).await?;
        Ok(())
    }

    async fn audit_events(&mut self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let (before_at, before_id) = match query.before {
            Some((at, id)) => (Some(at), Some(id)),
            None => (None, None),
        };
        let sql = concat!(
            "SELECT ",
            columns!(AuditEvent),
            " FROM audit_events \
             WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR event_type = $2) \
             AND ($3 IS NULL OR occurred_at >= $3) AND ($4 IS NULL OR occurred_at < $4) \
             AND ($5 IS NULL OR (occurred_at, id) < ($5, $6)) \
             ORDER BY occurred_at DESC, id DESC LIMIT $7"
        );
        let events = sqlx::query_as(sql)
            .bind(query.user_id)
            .bind(query.event_type.as_deref())
            .bind(query.from)
            .bind(query.to)
            .bind(before_at)
            .bind(before_id)
            .bind(query.limit);
        self.fetch_all("audit_events", events).await
    }
}}
