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

/// An RFC 7662 introspection request, sent as a form.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({
    "token": "eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJFZERTQSIsImtpZCI6IlFSTlV5bmh1Z2NIbkJWU2w5Q19SYTNJcVBGVG5UM2NtVXdBV0xLbTZhWTgifQ.eyJpc3MiOiJodHRwczovL2F1dGguZXhhbXBsZS5jb20iLCJhdWQiOiJwb3J0Y3VsbGlzIiwic3ViIjoiMDFhMWY4M2MtZGEyMC03MjY5LWJiYTctNGRlNDUyZTZiNDM4Iiwic2lkIjoiMDFhMjQwN2YtMTUwMC03MGM1LWIyYTMtYTQ1MDY1MTMyNzBlIiwicm9sZSI6IlZJRVdFUiIsImlhdCI6MTc5NjM3ODQwMCwiZXhwIjoxNzk2Mzc5MzAwLCJqdGkiOiI3OTM3ZjVjOS0wODQwLTRlMjQtOTJmNy1mNmU2ZTI0ZmMxOGYifQ.c92P2-zHd3OC2pYwL82DeaGdyy8Yck0kF4nP47GiCpj7ZfZzp72dpiifA9SHEA8JMOE9mQfHdlNwl9cyhDujSw",
    "token_type_hint": "access_token"
}))]
pub struct IntrospectionRequest {
    /// The token to check: an access token as a client sent it.
    token: String,
    /// Accepted and ignored: only access tokens can be active.
    #[allow(dead_code)]
    token_type_hint: Option<String>,
}

/// `{"active": false}` exactly, or the token's claims.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "active": true,
    "sub": "01a1f83c-da20-7269-bba7-4de452e6b438",
    "sid": "01a2407f-1500-70c5-b2a3-a4506513270e",
    "role": "VIEWER",
    "exp": 1796379300,
    "iat": 1796378400,
    "iss": "https://auth.example.com",
    "aud": "portcullis",
    "jti": "7937f5c9-0840-4e24-92f7-f6e6e24fc18f",
    "token_type": "Bearer",
    "aal": "aal1",
    "acr": "aal1",
    "amr": ["pwd"],
    "auth_time": 1796378400
}))]
pub struct Introspection {
    /// Whether the token is an active access token. When `false`, no other
    /// field is present.
    pub active: bool,
    /// The user's id. Present when active, like every claim below.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<Uuid>,
    /// The session's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
    /// The user's role (a role change ends the user's sessions, so an
    /// active token's role is current).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<crate::domain::Role>,
    /// Expiry, in seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<i64>,
    /// Issue time, in seconds since the Unix epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// The issuer: this service's public URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// The audience the token was issued for (the `audience` setting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// The token's unique id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<Uuid>,
    /// `Bearer`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<&'static str>,
    /// Authenticator assurance level: `aal1` (one factor) or `aal2` (a
    /// second factor at sign-in or a step-up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aal: Option<String>,
    /// The same value as `aal` (what RFC 9470 `acr_values` name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// How the user proved who they are, as RFC 8176 values: `pwd`
    /// (password), `otp` (a code or link mailed to the address, an
    /// authenticator app's code or a recovery code), `fed` (a social or
    /// OpenID provider), and `mfa` with a second factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<String>>,
    /// When they did, in seconds since the Unix epoch; a refresh keeps it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
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
            aal: claims.aal,
            acr: claims.acr,
            amr: Some(claims.amr),
            auth_time: claims.auth_time,
        }),
    };
    Ok(HttpResponse::Ok().json(body))
}
