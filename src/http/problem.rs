use crate::error::FlowError;
use crate::error::Problem;
use crate::http::ApiError;
use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{ResourceDef, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest};
use std::collections::{HashMap, HashSet};
use tracing_actix_web::RequestId;

const PROBLEM_JSON: &str = "application/problem+json";

/// Middleware: a `HEAD` request is answered as the `GET` of the same path
/// (load balancers probe with `HEAD`). The HTTP codec remembers that the
/// request was a `HEAD`, so the answer keeps the headers and sends no body.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}

/// Middleware: gives every 4xx/5xx response a problem+json body carrying the
/// request id, whoever produced it (handlers, extractors, actix itself).
pub async fn render_problems(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let res = next.call(req).await?;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return Ok(res.map_into_left_body());
    }
    let problem = build_problem(&res, status);
    let body = serde_json::to_string(&problem).unwrap_or_default();
    Ok(res.map_body(|head, _| {
        head.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(PROBLEM_JSON),
        );
        EitherBody::right(BoxBody::new(body))
    }))
}

fn build_problem<B>(res: &ServiceResponse<B>, status: StatusCode) -> Problem {
    let request = res.request();
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.to_string());
    let error = res.response().error();
    let (slug, title, detail, errors) = match error.and_then(|e| e.as_error::<ApiError>()) {
        Some(api) => {
            let (slug, title) = api.kind();
            (
                slug,
                title.to_string(),
                api.public_detail(),
                api.field_errors().to_vec(),
            )
        }
        None => {
            let title = status.canonical_reason().unwrap_or("Error").to_string();
            // Errors raised by actix itself (query strings, path segments) are
            // safe to show on a 4xx; a 5xx never carries details.
            let detail = error
                .filter(|_| status.is_client_error())
                .map(|e| e.to_string());
            ("http-error", title, detail, Vec::new())
        }
    };
    Problem {
        kind: format!("urn:portcullis:problem:{slug}"),
        title,
        status: status.as_u16(),
        detail,
        instance: Some(request.path().to_string()),
        request_id,
        errors,
    }
}

/// The path of a route without `{…}` segments.
fn literal(def: &ResourceDef) -> Option<&str> {
    def.pattern().filter(|p| !p.contains('{'))
}

/// Middleware: a literal path belongs to its own route. Without this,
/// `DELETE /v1/sessions/refresh` would reach `DELETE /v1/sessions/{id}` and
/// be refused as a malformed id (or a missing token) instead of 405.
pub async fn literal_paths_first(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let refused = req.app_data::<web::Data<RouteTable>>().and_then(|table| {
        let allow = table.shadowed.get(req.path())?;
        let listed = allow.split(", ").any(|m| m == req.method().as_str());
        (!listed).then(|| allow.clone())
    });
    match refused {
        Some(allow) => Ok(req
            .error_response(ApiError::MethodNotAllowed(allow))
            .map_into_right_body()),
        None => Ok(next.call(req).await?.map_into_left_body()),
    }
}

/// The API's routes, taken from the OpenAPI document, so that an unmatched
/// request can be told apart: unknown path (404) or wrong method (405).
pub struct RouteTable {
    routes: Vec<(ResourceDef, Vec<Method>)>,
    /// Literal paths that a template matches too (`/v1/sessions/refresh`
    /// and `/v1/sessions/{id}`), with the `Allow` of the literal route.
    shadowed: HashMap<String, String>,
    /// The routes without `{…}` segments, for [`RouteTable::literal_route`].
    literals: HashSet<String>,
}

impl RouteTable {
    pub fn from_openapi(spec: &utoipa::openapi::OpenApi) -> Self {
        let routes: Vec<(ResourceDef, Vec<Method>)> = spec
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let methods = [
                    (Method::GET, item.get.is_some()),
                    (Method::POST, item.post.is_some()),
                    (Method::PUT, item.put.is_some()),
                    (Method::PATCH, item.patch.is_some()),
                    (Method::DELETE, item.delete.is_some()),
                ]
                .into_iter()
                .filter_map(|(method, present)| present.then_some(method))
                .collect();
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        let literals = routes
            .iter()
            .filter_map(|(def, _)| literal(def).map(str::to_string))
            .collect();
        let mut table = Self {
            routes,
            shadowed: HashMap::new(),
            literals,
        };
        let shadowed = table
            .routes
            .iter()
            .filter_map(|(def, _)| literal(def))
            .filter(|path| {
                table
                    .routes
                    .iter()
                    .any(|(d, _)| d.is_match(path) && literal(d).is_none())
            })
            .filter_map(|path| Some((path.to_string(), table.allowed(path, true)?)))
            .collect();
        table.shadowed = shadowed;
        table
    }

    /// The route of a path that is a literal route itself (most requests):
    /// a hash lookup instead of the router's walk through every route. A
    /// literal path belongs to its literal route even where a template
    /// matches it too (see [`literal_paths_first`]).
    pub fn literal_route<'a>(&'a self, path: &str) -> Option<&'a str> {
        self.literals.get(path).map(String::as_str)
    }

    /// The default service: 405 with `Allow` for a known path, else 404.
    pub async fn fallback(
        req: HttpRequest,
        table: web::Data<RouteTable>,
    ) -> Result<String, ApiError> {
        match table.allowed(req.path(), false) {
            Some(allowed) => Err(ApiError::MethodNotAllowed(allowed)),
            None => Err(FlowError::NotFound.into()),
        }
    }

    /// The methods of the route that owns `path`, for `Allow`. Several
    /// templates can match one path (`/v1/sessions/refresh` and
    /// `/v1/sessions/{id}`): a literal one owns the path; otherwise the
    /// methods of every matching template count, without repeats. With
    /// `literal_only`, only a literal owner counts.
    pub fn allowed(&self, path: &str, literal_only: bool) -> Option<String> {
        let matching: Vec<&(ResourceDef, Vec<Method>)> = self
            .routes
            .iter()
            .filter(|(def, _)| def.is_match(path))
            .collect();
        let literal: Vec<&(ResourceDef, Vec<Method>)> = matching
            .iter()
            .copied()
            .filter(|(def, _)| !def.is_prefix() && def.pattern().is_some_and(|p| !p.contains('{')))
            .collect();
        let owners = if literal.is_empty() && !literal_only {
            matching
        } else {
            literal
        };
        let mut allowed: Vec<&str> = Vec::new();
        for (_, methods) in owners {
            for method in methods.iter().map(Method::as_str) {
                if !allowed.contains(&method) {
                    allowed.push(method);
                }
            }
            // Every GET route answers HEAD too (see `head_as_get`).
            if methods.contains(&Method::GET) && !allowed.contains(&"HEAD") {
                allowed.push("HEAD");
            }
        }
        (!allowed.is_empty()).then(|| allowed.join(", "))
    }
}
