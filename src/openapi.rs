//! The OpenAPI document: general information here, every path from the
//! handlers themselves (see `routes::configure`).

use actix_web::App;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Portcullis",
        description = "A headless JSON REST authentication service: verified sign-up, \
            password sign-in, sessions with rotating refresh tokens, EdDSA access tokens \
            with a JWKS. Every error is an RFC 9457 `application/problem+json` document.",
        license(name = "Apache-2.0"),
        contact(name = "The Portcullis maintainers")
    ),
    servers(
        (url = "http://127.0.0.1:8080", description = "A local instance on its default address")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "users", description = "Sign-up and the signed-in user's profile"),
        (name = "email-verification-codes", description = "Emailed one-time codes and links"),
        (name = "sessions", description = "Sign-in (with a second factor where the account has one), step-up, token refresh, sign-out"),
        (name = "passkeys", description = "Passkeys (WebAuthn): registration, management, passwordless sign-in"),
        (name = "factors", description = "The signed-in user's second factors (TOTP) and recovery codes"),
        (name = "oauth", description = "Social sign-in with OAuth 2.0 / OpenID Connect providers"),
        (name = "accounts", description = "Linked provider accounts"),
        (name = "admin", description = "User management, audit log, service clients, keys (ADMIN and above)"),
        (name = "discovery", description = "Keys and metadata for services that validate tokens"),
        (name = "health", description = "Probes"),
        (name = "docs", description = "This document")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "service_client",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The complete document, built from the same route table the server uses.
pub fn spec() -> OpenApiDoc {
    let (_, mut spec) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(crate::routes::configure)
        .split_for_parts();
    spec.info.version = env!("CARGO_PKG_VERSION").to_string();
    crate::routes::apply_request_shapes(&mut spec);
    crate::routes::admin::webhooks::add_event_schema(&mut spec);
    spec
}

#[cfg(test)]
mod tests {
    use super::spec;
    use serde_json::Value;
    use std::collections::HashSet;

    /// The checks a strict OpenAPI validator makes that utoipa cannot.
    #[test]
    fn the_document_is_well_formed() {
        let doc: Value = serde_json::to_value(spec()).unwrap();
        let mut operation_ids = HashSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                let id = operation["operationId"].as_str().unwrap().to_string();
                assert!(
                    operation_ids.insert(id.clone()),
                    "duplicate operationId {id}"
                );
                // Generated clients name their functions after these:
                // lowerCamelCase verbs with an object (`signIn`, not `token`).
                let words = id.chars().filter(char::is_ascii_uppercase).count();
                let camel = id.chars().all(|c| c.is_ascii_alphanumeric());
                assert!(
                    camel && id.starts_with(|c: char| c.is_ascii_lowercase()) && words >= 1,
                    "{method} {path}: operationId {id} is not a lowerCamelCase phrase"
                );
                for (status, response) in operation["responses"].as_object().unwrap() {
                    let description = response["description"].as_str().unwrap_or_default();
                    assert!(
                        !description.is_empty(),
                        "{method} {path} {status}: no description"
                    );
                }
            }
        }
        let text = doc.to_string();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for reference in text.split("\"#/components/schemas/").skip(1) {
            let name = reference.split('"').next().unwrap();
            assert!(schemas.contains_key(name), "dangling $ref to {name}");
        }
    }

    /// What a client developer reads: every schema and every property says
    /// what it is, and every schema shows an example.
    #[test]
    fn every_schema_is_described_and_exemplified() {
        let doc: Value = serde_json::to_value(spec()).unwrap();
        fn undescribed(name: &str, schema: &Value, out: &mut Vec<String>) {
            if let Some(properties) = schema["properties"].as_object() {
                for (field, property) in properties {
                    if property.get("description").is_none() {
                        out.push(format!("{name}.{field}"));
                    }
                }
            }
            for key in ["oneOf", "allOf"] {
                for variant in schema[key].as_array().into_iter().flatten() {
                    undescribed(name, variant, out);
                }
            }
        }
        let mut missing = Vec::new();
        for (name, schema) in doc["components"]["schemas"].as_object().unwrap() {
            if schema.get("description").is_none() {
                missing.push(format!("{name}: no description"));
            }
            if schema.get("example").is_none() && schema.get("examples").is_none() {
                missing.push(format!("{name}: no example"));
            }
            undescribed(name, schema, &mut missing);
        }
        assert!(missing.is_empty(), "{missing:#?}");
    }
}
