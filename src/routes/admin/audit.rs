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

/// One entry of the audit log: a security-relevant event.
#[derive(Serialize, ToSchema)]
#[schema(example = json!(crate::routes::examples::audit_event()))]
pub struct AuditEventView {
    /// The event's id (a UUID).
    pub id: Uuid,
    /// When it happened.
    pub occurred_at: Timestamp,
    /// What happened, e.g. `sign_in.succeeded`, `sign_in.failed`,
    /// `password.reset`, `admin.role_changed`, `admin.user_banned`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Whom the event concerns; `null` when no user is concerned (or the
    /// attempt named no known account).
    pub user_id: Option<Uuid>,
    /// Who acted: the user themselves, or an administrator; `null` when
    /// nobody was signed in (such as a failed sign-in).
    pub actor_id: Option<Uuid>,
    /// The client's IP address; `null` when unknown (such as for the
    /// operator's command-line tools).
    pub ip: Option<String>,
    /// The client's `User-Agent` (at most 512 characters); `null` when none
    /// was sent.
    pub user_agent: Option<String>,
    /// The id of the request that caused the event, as in problem details
    /// and the server's logs; `null` outside a request.
    pub request_id: Option<String>,
    /// More about the event, depending on its `type` (such as `from` and
    /// `to` of a role change); `null` when there is nothing more.
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
    /// Only events about this user.
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

/// One page of the audit log.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "events": [crate::routes::examples::audit_event()],
    "next_cursor": "eyJzIjoiLW9jY3VycmVkX2F0IiwiayI6IjE3OTYzNzg0MDAwMDAiLCJpZCI6IjAxYTI0MDdmLTE1MDAtNzgxZS05ZmUyLTVkOTQwZWQ5MDQ3NSJ9"
}))]
pub struct AuditPageView {
    /// Newest first (at most `limit`).
    pub events: Vec<AuditEventView>,
    /// Pass as `cursor` for the next page; `null` on the last one.
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
