//! `admin/users/{id}/passkeys`: a user's passkeys, and removing one (a lost
//! or stolen device).

use crate::error::Problem;
use crate::flows::passkeys::manage;
use crate::http::{Admin, ApiError, Origin, PathParams};
use crate::routes::passkeys::{PasskeyList, PasskeyView};
use crate::routes::problems::{AdminProblems, ParamProblems, ServerProblems};
use crate::state::AppState;
use actix_web::{delete, get, web, HttpResponse};
use uuid::Uuid;

/// A user's passkeys (ADMIN).
#[utoipa::path(
    operation_id = "listUserPasskeys",
    tag = "admin",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "User id")),
    responses(
        (status = 200, description = "The passkeys", body = PasskeyList),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        AdminProblems, ParamProblems, ServerProblems,
    )
)]
#[get("/v1/admin/users/{id}/passkeys")]
pub async fn list_user_passkeys(
    state: web::Data<AppState>,
    _admin: Admin,
    id: PathParams<Uuid>,
) -> Result<web::Json<PasskeyList>, ApiError> {
    let user_id = id.into_inner();
    let keys = manage::list_of_user(&state, user_id).await?;
    let passkeys = keys.into_iter().map(PasskeyView::from).collect();
    Ok(web::Json(PasskeyList { passkeys }))
}

/// Remove a user's passkey (ADMIN).
///
/// Audited (`passkey.removed`, with the actor); the user gets a notice.
/// Only a SUPER-ADMIN may remove a SUPER-ADMIN's passkeys; nobody removes
/// their own here. An administrator with a second factor needs a recent one.
#[utoipa::path(
    operation_id = "removeUserPasskey",
    tag = "admin",
    security(("bearer" = [])),
    params(
        ("id" = Uuid, Path, description = "User id"),
        ("passkey_id" = Uuid, Path, description = "Passkey id"),
    ),
    responses(
        (status = 204, description = "Removed"),
        (status = 404, description = "No such user or passkey", body = Problem, content_type = "application/problem+json"),
        AdminProblems, ParamProblems, ServerProblems,
    )
)]
#[delete("/v1/admin/users/{id}/passkeys/{passkey_id}")]
pub async fn remove_user_passkey(
    state: web::Data<AppState>,
    admin: Admin,
    client: Origin,
    path: PathParams<(Uuid, Uuid)>,
) -> Result<HttpResponse, ApiError> {
    manage::remove_by_admin(&state, &admin, path.into_inner(), &client).await?;
    Ok(HttpResponse::NoContent().finish())
}
