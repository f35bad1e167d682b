//! `admin/users/{id}/factors`: resetting a user's second factors.

use crate::flows::mfa::factors;
use crate::http::{Admin, ApiError, Origin, PathParams};
use crate::routes::problems::{AdminProblems, ParamProblems, ServerProblems};
use crate::state::AppState;
use actix_web::{delete, web};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// The outcome of a reset.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"removed": 1}))]
pub struct FactorsReset {
    /// How many factors were removed (their recovery codes went with them).
    pub removed: u64,
}

/// Remove every second factor and recovery code of a user.
///
/// For a user who lost their authenticator: they sign in with one factor
/// again (and, if their role must use a second factor, enrol a new one
/// first). Audited (`mfa.reset`); the user gets a notice. Only a
/// SUPER-ADMIN may reset a SUPER-ADMIN's factors.
#[utoipa::path(
    operation_id = "resetUserFactors",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, description = "Reset", body = FactorsReset), AdminProblems, ParamProblems, ServerProblems)
)]
#[delete("/v1/admin/users/{id}/factors")]
pub async fn reset_factors(
    state: web::Data<AppState>,
    admin: Admin,
    client: Origin,
    id: PathParams<Uuid>,
) -> Result<web::Json<FactorsReset>, ApiError> {
    let removed = factors::reset(&state, &admin, id.into_inner(), &client).await?;
    Ok(web::Json(FactorsReset { removed }))
}
