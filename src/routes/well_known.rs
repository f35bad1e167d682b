//! Discovery for other services: the public signing keys and metadata.

use crate::state::AppState;
use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

/// A JSON Web Key Set (RFC 7517) with the Ed25519 public keys.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"keys": [{
    "kty": "OKP",
    "crv": "Ed25519",
    "x": "PJeLIV7qmnmglBCbA-jWeEKNOzH-t3iK1ox5ZaPcJjs",
    "kid": "QRNUynhugcHnBVSl9C_Ra3IqPFTnT3cmUwAWLKm6aY8",
    "alg": "EdDSA",
    "use": "sig"
}]}))]
pub struct JwkSet {
    /// The published keys (at most five): the one signing now, any key
    /// scheduled to sign next, and retired ones until the last token they
    /// signed has expired. Each is an OKP key (`crv` `Ed25519`,
    /// `alg` `EdDSA`, `use` `sig`) whose `kid` is its RFC 7638 thumbprint;
    /// pick the key by the `kid` in a token's header.
    #[schema(value_type = Vec<Object>, example = json!([{"kty": "OKP", "crv": "Ed25519", "x": "PJeLIV7qmnmglBCbA-jWeEKNOzH-t3iK1ox5ZaPcJjs", "kid": "QRNUynhugcHnBVSl9C_Ra3IqPFTnT3cmUwAWLKm6aY8", "alg": "EdDSA", "use": "sig"}]))]
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

/// Discovery metadata in the style of OpenID Connect Discovery and RFC 8414.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({
    "issuer": "https://auth.example.com",
    "jwks_uri": "https://auth.example.com/.well-known/jwks.json",
    "subject_types_supported": ["public"],
    "id_token_signing_alg_values_supported": ["EdDSA"],
    "access_token_signing_alg_values_supported": ["EdDSA"],
    "introspection_endpoint": "https://auth.example.com/v1/introspect",
    "introspection_endpoint_auth_methods_supported": ["client_secret_basic"]
}))]
pub struct Discovery {
    /// This service's public URL: the `iss` of its access tokens.
    pub issuer: String,
    /// Where the key set that verifies the tokens is published.
    pub jwks_uri: String,
    /// Always `["public"]`: `sub` is the user's id, the same for every
    /// client.
    pub subject_types_supported: Vec<&'static str>,
    /// Always `["EdDSA"]`.
    pub id_token_signing_alg_values_supported: Vec<&'static str>,
    /// Always `["EdDSA"]` (Ed25519): the algorithm of the access tokens.
    pub access_token_signing_alg_values_supported: Vec<&'static str>,
    /// The RFC 7662 token introspection endpoint.
    pub introspection_endpoint: String,
    /// Always `["client_secret_basic"]`: a service client's id and secret
    /// over HTTP Basic.
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
