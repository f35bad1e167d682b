//! `POST /v1/introspect`: RFC 7662 token introspection for services.

use crate::error::Problem;
use crate::flows::service_clients;
use crate::http::ApiError;
use crate::http::FormBody;
use crate::http::Origin;
use crate::routes::problems::{RateProblems, ServerProblems};
use crate::state::AppState;
use crate::throttle::{self, Limited};
use actix_web::http::header;
use actix_web::{post, web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Deserialize, ToSchema)]
pub struct IntrospectionRequest {
    /// The token to check.
    token: String,
    /// Accepted and ignored: only access tokens can be active.
    #[allow(dead_code)]
    token_type_hint: Option<String>,
}

/// `{"active": false}` exactly, or the token's claims.
#[derive(Serialize, ToSchema)]
pub struct Introspection {
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<crate::domain::Role>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<Uuid>,
    /// `Bearer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
}

/// Is this access token active: valid now, its session alive, its user not
/// banned? For services holding a client secret (HTTP Basic). Anything that
/// is not an active access token (expired, revoked, garbage, a refresh
/// token) gets exactly `{"active": false}`.
#[utoipa::path(
    operation_id = "introspectToken",
    tag = "discovery",
    request_body(content = IntrospectionRequest, content_type = "application/x-www-form-urlencoded"),
    security(("service_client" = [])),
    responses(
        (status = 200, description = "The verdict", body = Introspection),
        (status = 400, description = "No `token` in the form", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing or wrong client credentials", body = Problem, content_type = "application/problem+json", headers(("WWW-Authenticate" = String))),
        (status = 415, description = "Not a form", body = Problem, content_type = "application/problem+json"),
        RateProblems,
        ServerProblems,
    )
)]
#[post("/v1/introspect")]
pub async fn introspect(
    state: web::Data<AppState>,
    request: HttpRequest,
    client: Origin,
    form: FormBody<IntrospectionRequest>,
) -> Result<HttpResponse, ApiError> {
    throttle::check_rate(&state, Limited::Introspect, &client).await?;
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    service_clients::authenticate(&state, authorization).await?;
    let verdict = service_clients::introspect(&state, &form.token).await?;
    let body = match verdict {
        None => json!({ "active": false }),
        Some(claims) => json!(Introspection {
            active: true,
            sub: Some(claims.sub),
            sid: Some(claims.sid),
            role: Some(claims.role),
            exp: Some(claims.exp),
            iat: Some(claims.iat),
            iss: Some(claims.iss),
            aud: Some(claims.aud),
            jti: Some(claims.jti),
            token_type: Some("Bearer"),
        }),
    };
    Ok(HttpResponse::Ok().json(body))
}
