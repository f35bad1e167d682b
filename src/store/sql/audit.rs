//! The audit log.

use super::{db_error, Dialect, SqlRepo};
use crate::store::{AuditEvent, AuditQuery, AuditRepo, StoreResult, Timestamp};
use async_trait::async_trait;
use sqlx::{Encode, Executor, FromRow, IntoArguments, Type};
use uuid::Uuid;

#[async_trait]
impl<DB> AuditRepo for SqlRepo<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    AuditEvent: for<'r> FromRow<'r, DB::Row>,
    for<'q> Uuid: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Uuid>: Encode<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> Timestamp: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Timestamp>: Encode<'q, DB>,
{
    async fn insert_audit_event(&mut self, event: &AuditEvent) -> StoreResult<()> {
        sqlx::query(
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
        .bind(event.details.as_deref())
        .execute(self.conn())
        .await
        .map_err(db_error::<DB>("insert_audit_event"))?;
        Ok(())
    }

    async fn audit_events(&mut self, query: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let (before_at, before_id) = match query.before {
            Some((at, id)) => (Some(at), Some(id)),
            None => (None, None),
        };
        sqlx::query_as(
            "SELECT id, occurred_at, event_type, user_id, actor_id, ip, user_agent, request_id, \
             details FROM audit_events \
             WHERE ($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR event_type = $2) \
             AND ($3 IS NULL OR occurred_at >= $3) AND ($4 IS NULL OR occurred_at < $4) \
             AND ($5 IS NULL OR (occurred_at, id) < ($5, $6)) \
             ORDER BY occurred_at DESC, id DESC LIMIT $7",
        )
        .bind(query.user_id)
        .bind(query.event_type.as_deref())
        .bind(query.from)
        .bind(query.to)
        .bind(before_at)
        .bind(before_id)
        .bind(query.limit)
        .fetch_all(self.conn())
        .await
        .map_err(db_error::<DB>("audit_events"))
    }
}
