//! The audit log.

use super::SqlRepo;
use crate::store::{AuditEvent, AuditQuery, AuditRepo, Publication, StoreResult};

/// The event's row; `$1`…`$9` are its columns.
macro_rules! insert_event {
    () => {
        "INSERT INTO audit_events (id, occurred_at, event_type, user_id, actor_id, ip, \
         user_agent, request_id, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    };
}

/// Its deliveries, one per enabled endpoint subscribed to its type (or to
/// `*`): `$1` the event, `$2` the time, then the type, the body and the
/// type's `LIKE` pattern at `$type`, `$payload` and `$pattern`.
macro_rules! enqueue {
    ($type:literal, $payload:literal, $pattern:literal) => {
        concat!(
            "INSERT INTO webhook_deliveries (event_id, endpoint_id, event_type, payload, status, \
             attempts, next_attempt_at, created_at) SELECT $1, id, ",
            $type,
            ", ",
            $payload,
            ", 'pending', 0, $2, $2 FROM webhook_endpoints \
             WHERE enabled AND (events LIKE '% * %' OR events LIKE ",
            $pattern,
            ")"
        )
    };
}

/// Both in one statement (PostgreSQL): a data-modifying `WITH` runs even
/// though nothing reads it.
const RECORD_AND_ENQUEUE: &str = concat!(
    "WITH event AS (",
    insert_event!(),
    ") ",
    enqueue!("$10", "$11", "$12")
);

/// The deliveries alone, after the event's own statement.
const ENQUEUE: &str = enqueue!("$3", "$4", "$5");

impl_for_backends! { impl AuditRepo for SqlRepo<DB> {
    async fn record_audit_event(
        &mut self,
        event: &AuditEvent,
        publication: Option<&Publication>,
    ) -> StoreResult<()> {
        let insert = |sql| {
            sqlx::query(sql)
                .bind(event.id)
                .bind(event.occurred_at)
                .bind(event.event_type.as_str())
                .bind(event.user_id)
                .bind(event.actor_id)
                .bind(event.ip.as_deref())
                .bind(event.user_agent.as_deref())
                .bind(event.request_id.as_deref())
                .bind(event.details.as_deref())
        };
        let pattern = |p: &Publication| format!("% {} %", p.event_type);
        let together = publication.filter(|_| <DB as crate::store::sql::Dialect>::DATA_MODIFYING_CTE);
        if let Some(published) = together {
            let query = insert(RECORD_AND_ENQUEUE)
                .bind(published.event_type)
                .bind(published.payload.as_str())
                .bind(pattern(published));
            self.execute("record_audit_event", query).await?;
            return Ok(());
        }
        self.execute("insert_audit_event", insert(insert_event!())).await?;
        if let Some(published) = publication {
            let query = sqlx::query(ENQUEUE)
                .bind(event.id)
                .bind(event.occurred_at)
                .bind(published.event_type)
                .bind(published.payload.as_str())
                .bind(pattern(published));
            self.execute("enqueue_webhooks", query).await?;
        }
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
