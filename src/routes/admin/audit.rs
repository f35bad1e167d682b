//! `admin/audit-events`: the audit log.

use crate::flows::{admin, paging};
use crate::http::Admin;
use crate::http::ApiError;
use crate::http::QueryParams;
use crate::routes::problems::{AdminProblems, ParamProblems, ServerProblems};
use crate::state::AppState;
use crate::store::{AuditEvent, AuditQuery, Timestamp};
use actix_web::{get, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct AuditEventView {
    pub id: Uuid,
    pub occurred_at: Timestamp,
    /// e.g. `sign_in.failed`, `admin.role_changed`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Whom the event concerns.
    pub user_id: Option<Uuid>,
    /// Who acted.
    pub actor_id: Option<Uuid>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
}

impl From<AuditEvent> for AuditEventView {
    fn from(event: AuditEvent) -> Self {
        Self {
            id: event.id,
            occurred_at: event.occurred_at,
            event_type: event.event_type,
            user_id: event.user_id,
            actor_id: event.actor_id,
            ip: event.ip,
            user_agent: event.user_agent,
            request_id: event.request_id,
            details: event.details.and_then(|d| serde_json::from_str(&d).ok()),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    user_id: Option<Uuid>,
    /// An event type, e.g. `sign_in.failed`.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    event_type: Option<String>,
    /// From this instant (RFC 3339), inclusive.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<OffsetDateTime>,
    /// Until this instant (RFC 3339), exclusive.
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<OffsetDateTime>,
    /// 1 to 200; default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(min_length = 1)]
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPageView {
    /// Newest first.
    pub events: Vec<AuditEventView>,
    pub next_cursor: Option<String>,
}

/// The audit log, newest first.
#[utoipa::path(
    operation_id = "listAuditEvents",
    tag = "admin",
    security(("bearer" = [])),
    params(AuditParams),
    responses((status = 200, description = "A page of events", body = AuditPageView), AdminProblems, ParamProblems, ServerProblems)
)]
#[get("/v1/admin/audit-events")]
pub async fn list_events(
    state: web::Data<AppState>,
    _admin: Admin,
    params: QueryParams<AuditParams>,
) -> Result<web::Json<AuditPageView>, ApiError> {
    let params = params.into_inner();
    let query = AuditQuery {
        user_id: params.user_id,
        event_type: params.event_type,
        from: params.from.map(Timestamp::from_datetime),
        to: params.to.map(Timestamp::from_datetime),
        before: None,
        limit: paging::page_size(params.limit)?,
    };
    let page = admin::audit_events(&state, query, params.cursor.as_deref()).await?;
    Ok(web::Json(AuditPageView {
        events: page.events.into_iter().map(AuditEventView::from).collect(),
        next_cursor: page.next_cursor,
    }))
}
