//! `admin/keys`: signing-key rotation.

use crate::error::{FlowError, Problem};
use crate::flows::audit::{self, Entry, Kind};
use crate::http::ApiError;
use crate::http::{Admin, Origin};
use crate::routes::problems::{AdminProblems, ServerProblems};
use crate::state::AppState;
use crate::store::Timestamp;
use crate::tokens::KeyRingError;
use actix_web::{post, web, HttpResponse};
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

/// A scheduled signing-key rotation.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "kid": "OFMuuHfNYRFlFGBJFlwiVGSXyXkmVdETTve-NXpUiOQ",
    "activates_at": "2026-12-04T10:10:00Z",
    "retiring": ["QRNUynhugcHnBVSl9C_Ra3IqPFTnT3cmUwAWLKm6aY8"]
}))]
pub struct RotationView {
    /// The new key's id (its RFC 7638 thumbprint), published in the JWKS
    /// from now on.
    pub kid: String,
    /// From this moment the new key signs (`key_rotation_lead_secs` from now).
    pub activates_at: Timestamp,
    /// Ids of the keys that stop signing then; they stay in the JWKS until
    /// the last token they signed has expired.
    pub retiring: Vec<String>,
}

/// Rotate the signing key (SUPER-ADMIN).
///
/// The new key is published at once and signs after `key_rotation_lead_secs`;
/// a retired key stays published until its last token has expired. At most
/// five keys are published: beyond that, 409 `too-many-keys` until a retired
/// key has expired.
#[utoipa::path(
    operation_id = "rotateSigningKey",
    tag = "admin",
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Rotation scheduled", body = RotationView),
        (status = 409, description = "Five keys are published already", body = Problem, content_type = "application/problem+json"),
        AdminProblems,
        ServerProblems,
    )
)]
#[post("/v1/admin/keys/rotate")]
pub async fn rotate(
    state: web::Data<AppState>,
    admin: Admin,
    client: Origin,
) -> Result<HttpResponse, ApiError> {
    admin.require_super_admin()?;
    let rotation = state
        .tokens
        .keys()
        .rotate(state.settings.key_rotation_lead())
        .await
        .map_err(|error| match error {
            KeyRingError::TooManyPublished(count) => ApiError::from(FlowError::Conflict {
                slug: "too-many-keys",
                detail: format!(
                    "{count} signing keys are published; a retired key leaves once its last \
                     token has expired, then rotate again"
                ),
            }),
            other => ApiError::internal(other),
        })?;
    let entry = Entry::by_user(Kind::SigningKeyRotated, admin.auth.user.id)
        .details(json!({ "kid": rotation.kid, "retiring": rotation.retiring }));
    audit::record(&state, &client, entry).await;
    Ok(HttpResponse::Created().json(RotationView {
        kid: rotation.kid,
        activates_at: rotation.activates_at,
        retiring: rotation.retiring,
    }))
}
