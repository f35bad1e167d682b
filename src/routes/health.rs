//! Liveness and readiness probes.

use super::problems::ServerProblems;
use crate::error::FlowError;
use crate::http::ApiError;
use crate::state::AppState;
use actix_web::{get, web};
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;

/// A readiness check must answer quickly even when the database hangs.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The answer of a probe that passed; a failing readiness probe is a 503
/// problem instead.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"status": "ok", "database": "postgres"}))]
pub struct Health {
    /// Always `ok`.
    #[schema(example = "ok")]
    pub status: &'static str,
    /// The storage backend, `sqlite` or `postgres`; on readiness only
    /// (absent from liveness).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'static str>,
}

/// The process is up.
#[utoipa::path(operation_id = "checkLiveness", tag = "health", responses((status = 200, description = "Alive", body = Health)))]
#[get("/health/live")]
pub async fn live() -> web::Json<Health> {
    web::Json(Health {
        status: "ok",
        database: None,
    })
}

/// The service can serve requests: its database answers.
#[utoipa::path(operation_id = "checkReadiness", tag = "health", responses((status = 200, description = "Ready", body = Health), ServerProblems))]
#[get("/health/ready")]
pub async fn ready(state: web::Data<AppState>) -> Result<web::Json<Health>, ApiError> {
    match tokio::time::timeout(READY_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => Ok(web::Json(Health {
            status: "ok",
            database: Some(state.store.backend_name()),
        })),
        Ok(Err(error)) => Err(FlowError::Unavailable(error.into()).into()),
        Err(_) => Err(FlowError::Unavailable(anyhow::anyhow!("database ping timed out")).into()),
    }
}
