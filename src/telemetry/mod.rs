//! Logging and tracing. Logs: JSON lines (default) or human-readable output
//! on stdout, filtered by `log_level` (or `RUST_LOG` when set), written by a
//! thread of their own (see [`batched`]). Traces: when
//! the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, the same `tracing` spans
//! (requests, password hashing, database transactions, outgoing calls) go
//! out over OTLP/HTTP (protobuf), batched off the request path; the W3C
//! `traceparent` of callers is continued and passed on to outgoing calls.

mod batched;
mod export;
mod json_lines;
mod timestamp;

use crate::config::LogFormat;
use opentelemetry::propagation::{Extractor, Injector};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The log writer and the trace pipeline of this process: kept by the
/// caller of [`init`] until exit. Dropping it writes the log lines still
/// queued.
#[must_use = "keep it until exit: dropping it stops the log writer"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
    _logs: batched::Flusher,
}

impl Telemetry {
    /// Sends the spans still buffered, then writes the log lines still
    /// queued (at shutdown).
    pub async fn flush(self) {
        if let Some(provider) = self.provider {
            // The export waits on the runtime: never block a worker on it.
            let _ = tokio::task::spawn_blocking(move || provider.force_flush()).await;
        }
    }
}

/// Installs the global subscriber; a second call is a no-op, which lets tests
/// start several applications in one process. Must run inside the Tokio
/// runtime when traces are exported (the exporter sends on it). Fails only
/// when the log writer's thread cannot start.
pub fn init(format: LogFormat, level: &str) -> std::io::Result<Telemetry> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let (writer, flusher) = batched::batched(std::io::stdout())?;
    let logs = match format {
        LogFormat::Json => json_lines::layer(writer).boxed(),
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .with_target(true)
            .with_writer(writer)
            .boxed(),
    };
    let provider = export::provider();
    let traces = provider.as_ref().map(|provider| {
        // Without it the global propagator reads and writes nothing: the
        // two functions below cost next to nothing when traces are off.
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        tracing_opentelemetry::layer().with_tracer(provider.tracer("portcullis"))
    });
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(traces)
        .try_init();
    Ok(Telemetry {
        provider,
        _logs: flusher,
    })
}

/// Continues the caller's trace (`traceparent`) in `span`.
pub fn continue_trace(span: &tracing::Span, headers: &actix_web::http::header::HeaderMap) {
    let parent = opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.extract(&ActixHeaders(headers))
    });
    let _ = span.set_parent(parent);
}

/// The headers that carry the current trace to an outgoing call (none when
/// traces are off).
pub fn outgoing_headers() -> reqwest::header::HeaderMap {
    let mut headers = OutgoingHeaders(reqwest::header::HeaderMap::new());
    let context = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|propagator| {
        propagator.inject_context(&context, &mut headers)
    });
    headers.0
}

/// The span of an outgoing call: the method and the host, never the path
/// or query (a range of password hashes, a token endpoint's parameters).
pub fn client_span(method: &'static str, url: &str) -> tracing::Span {
    let host = url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default();
    tracing::info_span!("http.client", http.request.method = method, server.address = %host)
}

/// The service's `reqwest` client for the `oauth2` crate, passing the trace
/// on to the provider's token endpoint.
pub struct TracedHttp<'a>(pub &'a reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for TracedHttp<'_> {
    type Error = <reqwest::Client as oauth2::AsyncHttpClient<'c>>::Error;
    type Future = <reqwest::Client as oauth2::AsyncHttpClient<'c>>::Future;

    fn call(&'c self, mut request: oauth2::HttpRequest) -> Self::Future {
        request.headers_mut().extend(outgoing_headers());
        self.0.call(request)
    }
}

struct ActixHeaders<'a>(&'a actix_web::http::header::HeaderMap);

impl Extractor for ActixHeaders<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

struct OutgoingHeaders(reqwest::header::HeaderMap);

impl Injector for OutgoingHeaders {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(key.as_bytes()),
            reqwest::header::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}
