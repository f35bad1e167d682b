//! The OpenAPI document and a page that renders it.
//!
//! The renderer is Scalar's standalone bundle, vendored at a pinned version
//! (`assets/scalar/`) and served by the binary itself: the page loads no
//! script from a third party (people paste bearer tokens into it) and works
//! with no internet access.

use actix_web::http::header;
use actix_web::{get, web, HttpResponse};

/// The version of `@scalar/api-reference` in `assets/scalar/standalone.js`.
/// The page asks for `docs/scalar.js?v=` this version, so an upgrade is
/// never hidden by a browser's cached copy.
pub const SCALAR_VERSION: &str = "1.76.4";

/// `dist/browser/standalone.js` of `@scalar/api-reference` (MIT, see
/// `assets/scalar/README.md`).
static SCALAR_JS: &[u8] = include_bytes!("../../assets/scalar/standalone.js");

/// Scalar's options: nothing fetched from Scalar's services (fonts,
/// telemetry, the AI agent, MCP) and no developer toolbar.
const SCALAR_CONFIGURATION: &str = r#"{"withDefaultFonts":false,"telemetry":false,"agent":{"disabled":true},"mcp":{"disabled":true},"showDeveloperTools":"never"}"#;

/// The policy of the docs page: scripts from this origin only (the vendored
/// bundle; the spec is an inert JSON block), styles may be inline (the
/// bundle injects its own), requests only to this API.
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; \
    connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The pre-rendered spec and docs page, built once at start-up.
pub struct ApiDocs {
    pub spec_json: String,
    pub page_html: String,
}

impl ApiDocs {
    pub fn new(spec: &utoipa::openapi::OpenApi) -> Self {
        let spec_json = serde_json::to_string(spec).unwrap_or_default();
        let page_html = page_html(&spec_json);
        Self {
            spec_json,
            page_html,
        }
    }
}

/// The page: the spec in a `<script type="application/json">` block (data,
/// never executed; Scalar reads it by its id) and the same-origin bundle.
fn page_html(spec_json: &str) -> String {
    // `<` escaped as \u003c keeps the JSON valid and means nothing in it can
    // close the script element.
    let spec = spec_json.replace('<', "\\u003c");
    let configuration = SCALAR_CONFIGURATION.replace('"', "&quot;");
    format!(
        r#"<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Portcullis API</title>
    <link rel="icon" href="data:,">
  </head>
  <body>
    <script id="api-reference" type="application/json" data-configuration="{configuration}">{spec}</script>
    <script src="docs/scalar.js?v={SCALAR_VERSION}"></script>
  </body>
</html>
"#
    )
}

/// The OpenAPI 3.1 document of this API.
#[utoipa::path(operation_id = "getOpenapiDocument", tag = "docs", responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
#[get("/openapi.json")]
pub async fn openapi_json(docs: web::Data<ApiDocs>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(docs.spec_json.clone())
}

/// API reference (Scalar), rendered in the browser by the bundle at
/// `/docs/scalar.js`; no other origin is involved.
#[utoipa::path(operation_id = "getDocsPage", tag = "docs", responses((status = 200, description = "HTML page", content_type = "text/html")))]
#[get("/docs")]
pub async fn page(docs: web::Data<ApiDocs>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::CONTENT_SECURITY_POLICY, PAGE_CSP))
        .body(docs.page_html.clone())
}

/// The renderer of `/docs`: Scalar's standalone bundle, served from the
/// binary (a pinned, vendored version).
#[utoipa::path(operation_id = "getDocsScript", tag = "docs", responses((status = 200, description = "JavaScript", content_type = "text/javascript")))]
#[get("/docs/scalar.js")]
pub async fn scalar_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        // The page names the version in the URL, so a long cache is safe.
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(SCALAR_JS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_in_the_spec_can_end_the_data_block() {
        let html = page_html(r#"{"description":"</script><script>alert(1)</script>"}"#);
        assert_eq!(html.matches("</script>").count(), 2, "{html}");
        assert!(html.contains(r#"\u003c/script>\u003cscript>"#));
    }

    #[test]
    fn the_page_policy_names_no_other_origin() {
        assert!(!PAGE_CSP.contains("http"));
        assert!(!PAGE_CSP.contains('*'));
        assert!(PAGE_CSP.contains("script-src 'self';"));
    }
}
