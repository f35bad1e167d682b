//! The OpenAPI document and a page that renders it.

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};

/// The pre-rendered spec and docs page, built once at start-up.
pub struct ApiDocs {
    pub spec_json: String,
    pub page_html: String,
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(tag = "docs", responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
#[get("/openapi.json")]
pub async fn openapi_json(docs: web::Data<ApiDocs>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(docs.spec_json.clone())
}

/// API reference (Scalar). The page embeds the spec; the browser loads the
/// renderer's script from its CDN, so nothing is downloaded at build time.
#[utoipa::path(tag = "docs", responses((status = 200, description = "HTML page", content_type = "text/html")))]
#[get("/docs")]
pub async fn page(docs: web::Data<ApiDocs>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        // The renderer runs in the browser from its CDN; everything else keeps
        // the API's strict policy.
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self' https://cdn.jsdelivr.net; script-src https://cdn.jsdelivr.net; \
             style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; img-src 'self' data: https:; \
             font-src 'self' data: https://cdn.jsdelivr.net; frame-ancestors 'none'",
        ))
        .body(docs.page_html.clone())
}
