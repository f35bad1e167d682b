use super::logging::MatchedRoute;
use crate::metrics::{HttpLabels, RouteLabels};
use crate::state::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use std::time::Instant;

/// Middleware: counts every answer and its duration by route template
/// (`/v1/sessions/{id}`, never the path as sent), method and status class.
pub async fn count_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    // A closed set: any other method a client invents is `other`.
    let method: &'static str = match req.method().as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let res = next.call(req).await?;
    if let Some(state) = state {
        // Known only once routed; anything the router did not match is one
        // label, so that scanners cannot grow the label set.
        let matched = res.request().extensions().get::<MatchedRoute>().cloned();
        let route = matched
            .map_or_else(|| res.request().match_pattern(), |m| m.0)
            .unwrap_or_else(|| "unmatched".to_string());
        let status = match res.status().as_u16() {
            100..=199 => "1xx",
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        let metrics = &state.metrics;
        let labels = RouteLabels { route, method };
        metrics
            .http_duration
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
        let RouteLabels { route, method } = labels;
        metrics
            .http_requests
            .get_or_create(&HttpLabels {
                route,
                method,
                status,
            })
            .inc();
    }
    Ok(res)
}
