//! Discovery for other services: the public signing keys and metadata.

use crate::state::AppState;
use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

/// A JSON Web Key Set (RFC 7517) with the Ed25519 public keys.
#[derive(Serialize, ToSchema)]
pub struct JwkSet {
    #[schema(value_type = Vec<Object>, example = json!([{"kty": "OKP", "crv": "Ed25519", "x": "…", "kid": "…", "alg": "EdDSA", "use": "sig"}]))]
    pub keys: Vec<serde_json::Value>,
}

/// The public keys that verify access tokens. Private key material is never
/// part of it.
#[utoipa::path(operation_id = "getJwks", tag = "discovery", responses((status = 200, description = "The key set", body = JwkSet)))]
#[get("/.well-known/jwks.json")]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        // A key about to sign is published at least twice this long before
        // it does (`key_rotation_lead_secs`), so cached copies have it in time.
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={}", state.settings.jwks_max_age_secs()),
        ))
        .body(state.tokens.keys().jwks().to_string())
}

#[derive(Serialize, ToSchema)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
    pub subject_types_supported: Vec<&'static str>,
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    pub access_token_signing_alg_values_supported: Vec<&'static str>,
    pub introspection_endpoint: String,
    pub introspection_endpoint_auth_methods_supported: Vec<&'static str>,
}

/// OpenID-style discovery metadata: issuer, key set and algorithms.
#[utoipa::path(operation_id = "getOpenidConfiguration", tag = "discovery", responses((status = 200, description = "Discovery metadata", body = Discovery)))]
#[get("/.well-known/openid-configuration")]
pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    let issuer = state.settings.public_url.clone();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .json(Discovery {
            jwks_uri: format!("{issuer}/.well-known/jwks.json"),
            introspection_endpoint: format!("{issuer}/v1/introspect"),
            introspection_endpoint_auth_methods_supported: vec!["client_secret_basic"],
            issuer,
            subject_types_supported: vec!["public"],
            id_token_signing_alg_values_supported: vec!["EdDSA"],
            access_token_signing_alg_values_supported: vec!["EdDSA"],
        })
}
