use super::RouteTable;
use crate::error::FlowError;
use crate::http::ApiError;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{web, Error, HttpMessage};
use std::time::Instant;
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

/// One span per request and one log line when it ends. Only the path is
/// recorded, never the query string or headers, so that no token that a
/// client misplaces can reach the logs.
pub struct RequestSpan;

struct Started(Instant);

/// The route pattern the request matched (`None`: no route). Found once per
/// request, when its span starts: each lookup walks the router's table
/// again, which cost as much as the routing itself. The metrics read it too.
#[derive(Clone)]
pub(crate) struct MatchedRoute(pub(crate) Option<String>);

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        request.extensions_mut().insert(Started(Instant::now()));
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map(|id| id.to_string())
            .unwrap_or_default();
        let route = request
            .app_data::<web::Data<RouteTable>>()
            .and_then(|table| table.literal_route(request.path()))
            .map(str::to_string)
            .or_else(|| request.match_pattern());
        request.extensions_mut().insert(MatchedRoute(route.clone()));
        let route = route.unwrap_or_default();
        let peer = request
            .peer_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        let span = tracing::info_span!(
            "request",
            request_id = %request_id,
            method = %request.method(),
            route = %route,
            path = %request.path(),
            client_ip = %peer,
        );
        crate::telemetry::continue_trace(&span, request.headers());
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let _entered = span.enter();
        match outcome {
            Ok(response) => {
                let status = response.status().as_u16();
                let latency_ms = response
                    .request()
                    .extensions()
                    .get::<Started>()
                    .map(|s| s.0.elapsed().as_secs_f64() * 1000.0)
                    .unwrap_or_default();
                match response.response().error() {
                    // The full error chain goes to the log, never to the client.
                    Some(error) if response.status().is_server_error() => {
                        tracing::error!(status, latency_ms, error = ?error.as_response_error(), "request failed");
                    }
                    // Only the kind of refusal: a 400's detail may quote what the
                    // client sent, which can be a secret.
                    Some(error) => {
                        let reason = match error.as_error::<ApiError>() {
                            Some(ApiError::Flow(FlowError::Unauthenticated(why))) => why,
                            Some(api) => api.kind().0,
                            None => "http-error",
                        };
                        tracing::info!(status, latency_ms, reason, "request refused");
                    }
                    None => tracing::info!(status, latency_ms, "request finished"),
                }
            }
            Err(error) => tracing::error!(error = ?error.as_response_error(), "request failed"),
        }
    }
}
