//! A small OTLP/HTTP receiver for the tests: it takes what the binary
//! exports to `/v1/traces` (protobuf) and decodes it with the OpenTelemetry
//! project's own message definitions (`opentelemetry-proto`), not ours.

use actix_web::{web, App, HttpResponse, HttpServer};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use prost::Message;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One span as received.
#[derive(Debug, Clone)]
pub struct ReceivedSpan {
    pub trace_id: Vec<u8>,
    pub span_id: Vec<u8>,
    pub parent_span_id: Vec<u8>,
    pub name: String,
    /// Every attribute, of the span and of its events, as `key=value`.
    pub attributes: Vec<String>,
}

impl ReceivedSpan {
    pub fn attribute(&self, key: &str) -> Option<&str> {
        let prefix = format!("{key}=");
        self.attributes
            .iter()
            .find_map(|a| a.strip_prefix(prefix.as_str()))
    }
}

pub struct OtlpReceiver {
    pub endpoint: String,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
}

impl OtlpReceiver {
    pub fn start() -> Self {
        let spans: Arc<Mutex<Vec<ReceivedSpan>>> = Arc::default();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let store = spans.clone();
        let server = HttpServer::new(move || {
            let store = store.clone();
            App::new().route(
                "/v1/traces",
                web::post().to(move |body: web::Bytes| {
                    let store = store.clone();
                    async move {
                        let Ok(request) = ExportTraceServiceRequest::decode(body.as_ref()) else {
                            return HttpResponse::BadRequest().finish();
                        };
                        store.lock().unwrap().extend(flatten(request));
                        HttpResponse::Ok()
                            .content_type("application/x-protobuf")
                            .body(Vec::<u8>::new())
                    }
                }),
            )
        })
        .workers(1)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        Self { endpoint, spans }
    }

    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().unwrap().clone()
    }

    /// Waits until a span matching `found` arrived.
    pub async fn wait_for(
        &self,
        what: &str,
        found: impl Fn(&ReceivedSpan) -> bool,
    ) -> ReceivedSpan {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(span) = self.spans().into_iter().find(|s| found(s)) {
                return span;
            }
            assert!(tokio::time::Instant::now() < deadline, "no span: {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn flatten(request: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut out = Vec::new();
    for resource in request.resource_spans {
        for scope in resource.scope_spans {
            for span in scope.spans {
                let mut attributes: Vec<String> = span.attributes.iter().map(text).collect();
                for event in &span.events {
                    attributes.push(format!("event={}", event.name));
                    attributes.extend(event.attributes.iter().map(text));
                }
                out.push(ReceivedSpan {
                    trace_id: span.trace_id,
                    span_id: span.span_id,
                    parent_span_id: span.parent_span_id,
                    name: span.name,
                    attributes,
                });
            }
        }
    }
    out
}

fn text(attribute: &KeyValue) -> String {
    format!("{}={}", attribute.key, value(attribute.value.as_ref()))
}

fn value(value: Option<&AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}
