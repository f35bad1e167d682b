//! The JSON log line: the keys and values of tracing-subscriber's own JSON
//! format (the event's fields flattened, the current span's fields, such as
//! the request's id, route, path and client, under `span`), written straight
//! into the line. tracing-subscriber stores a span's fields as a JSON string
//! and parses that string again for every event it logs; with a span per
//! request and a line per request, formatting a span's fields and parsing
//! them back cost about a fifth of a trivial request's CPU (measured with
//! perf on `GET /health/live`). Here a span's fields are written once, as a
//! JSON object, and copied into each line as they are.

use super::timestamp;
use serde_json::{Map, Value};
use std::fmt::{self, Write as _};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// A span's fields as one JSON object, written straight from the values.
pub struct SpanFields;

impl<'writer> FormatFields<'writer> for SpanFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut object = ObjectWriter::default();
        fields.record(&mut object);
        writer.write_str(&object.finish())
    }

    /// Fields recorded after the span started (rare): merged as values, so
    /// that a field recorded twice appears once, with its last value.
    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        let mut added = ObjectWriter::default();
        fields.record(&mut added);
        let mut merged: Map<String, Value> =
            serde_json::from_str(&current.fields).unwrap_or_default();
        let added: Map<String, Value> =
            serde_json::from_str(&added.finish()).map_err(|_| fmt::Error)?;
        merged.extend(added);
        current.fields = Value::Object(merged).to_string();
        Ok(())
    }
}

/// Writes `"name":value` pairs as they are visited: a span's into an
/// object of their own, an event's after the line's first pairs.
#[derive(Default)]
struct ObjectWriter {
    out: String,
    /// A `Debug` value is formatted here first, then escaped into `out`.
    scratch: String,
    /// An event forwarded from the `log` crate: its `log.*` fields are
    /// already in the line's target and level.
    skip_log_fields: bool,
}

impl ObjectWriter {
    /// Writes the key, or returns false when the field is left out.
    fn key(&mut self, field: &Field) -> bool {
        let name = field.name();
        if self.skip_log_fields && name.starts_with("log.") {
            return false;
        }
        self.out.push(if self.out.is_empty() { '{' } else { ',' });
        push_json_string(&mut self.out, name.strip_prefix("r#").unwrap_or(name));
        self.out.push(':');
        true
    }

    fn finish(mut self) -> String {
        if self.out.is_empty() {
            self.out.push('{');
        }
        self.out.push('}');
        self.out
    }
}

/// Appends `value` as a JSON string (RFC 8259 escapes). Runs of characters
/// that need no escape are copied whole: a request's path and id have none.
fn push_json_string(out: &mut String, value: &str) {
    out.reserve(value.len() + 2);
    out.push('"');
    let mut rest = value;
    while let Some(at) = rest
        .bytes()
        .position(|b| b == b'"' || b == b'\\' || b < 0x20)
    {
        // An ASCII byte: `at` and `at + 1` are character boundaries.
        out.push_str(&rest[..at]);
        match rest.as_bytes()[at] {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            control => {
                let _ = write!(out, "\\u{control:04x}");
            }
        }
        rest = &rest[at + 1..];
    }
    out.push_str(rest);
    out.push('"');
}

impl Visit for ObjectWriter {
    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.key(field) {
            return;
        }
        push_json_string(&mut self.out, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.key(field) {
            return;
        }
        self.scratch.clear();
        let _ = write!(self.scratch, "{value:?}");
        push_json_string(&mut self.out, &self.scratch);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if !self.key(field) {
            return;
        }
        let _ = write!(self.out, "{value}");
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if !self.key(field) {
            return;
        }
        let _ = write!(self.out, "{value}");
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if !self.key(field) {
            return;
        }
        let _ = write!(self.out, "{value}");
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if !self.key(field) {
            return;
        }
        // NaN and infinities are not JSON numbers: null, as serde_json does.
        let _ = write!(self.out, "{}", Value::from(value));
    }
}

/// The log layer: one JSON line per event, written to `writer`.
pub fn layer<S, W>(writer: W) -> tracing_subscriber::fmt::Layer<S, SpanFields, JsonLines, W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + 'static,
{
    tracing_subscriber::fmt::layer()
        .fmt_fields(SpanFields)
        .event_format(JsonLines)
        .with_writer(writer)
}

/// The line tracing-subscriber's JSON format wrote (flattened event, target,
/// current span), written directly: `{"timestamp":…,"level":…,<the event's
/// fields>,"target":…,"span":{<the span's stored fields>,"name":…}}`. The
/// stock format serialised each field through serde and formatted the
/// time through a general-purpose formatter: two thirds of a line's cost.
pub struct JsonLines;

impl<S> FormatEvent<S, SpanFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, SpanFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Events forwarded from the `log` crate carry their target and
        // level in `log.*` fields: those replace the forwarder's own.
        let normalized = event.normalized_metadata();
        let metadata = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let mut line = ObjectWriter {
            out: String::with_capacity(256),
            scratch: String::new(),
            skip_log_fields: normalized.is_some(),
        };
        line.out.push_str("{\"timestamp\":\"");
        timestamp::push_now(&mut line.out);
        line.out.push_str("\",\"level\":\"");
        line.out.push_str(metadata.level().as_str());
        line.out.push('"');
        event.record(&mut line);
        line.out.push_str(",\"target\":");
        push_json_string(&mut line.out, metadata.target());
        let span = event
            .parent()
            .and_then(|id| ctx.span(id))
            .or_else(|| ctx.lookup_current());
        if let Some(span) = span {
            let extensions = span.extensions();
            let stored = extensions
                .get::<FormattedFields<SpanFields>>()
                .map_or("{}", |f| f.fields.as_str());
            let inner = stored
                .strip_prefix('{')
                .and_then(|s| s.strip_suffix('}'))
                .unwrap_or("");
            line.out.push_str(",\"span\":{");
            if !inner.is_empty() {
                line.out.push_str(inner);
                line.out.push(',');
            }
            line.out.push_str("\"name\":");
            push_json_string(&mut line.out, span.metadata().name());
            line.out.push('}');
        }
        line.out.push_str("}\n");
        writer.write_str(&line.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines(emit: impl FnOnce()) -> Vec<Value> {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::registry().with(layer(move || sink.clone()));
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn a_line_carries_its_span_fields_escaped() {
        let lines = lines(|| {
            let span = tracing::info_span!(
                "request",
                path = %"/v1/\"quoted\"\n\\\u{1}é",
                status = 200u64,
                ok = true,
                ratio = 0.5,
                delta = -3i64,
                later = tracing::field::Empty,
            );
            let _entered = span.enter();
            span.record("later", "set");
            span.record("status", 201u64);
            tracing::info!(latency_ms = 1.5, "request finished");
        });
        assert_eq!(lines.len(), 1);
        let line = &lines[0];
        assert_eq!(line["message"], "request finished");
        assert_eq!(line["latency_ms"], 1.5);
        assert_eq!(line["level"], "INFO");
        assert!(line["timestamp"].is_string());
        let span = &line["span"];
        assert_eq!(span["name"], "request");
        assert_eq!(span["path"], "/v1/\"quoted\"\n\\\u{1}é");
        assert_eq!(span["status"], 201);
        assert_eq!(span["ok"], true);
        assert_eq!(span["ratio"], 0.5);
        assert_eq!(span["delta"], -3);
        assert_eq!(span["later"], "set");
    }

    #[test]
    fn strings_are_escaped_as_serde_json_reads_them() {
        let every_ascii: String = (0u8..0x80).map(char::from).collect();
        for value in [every_ascii.as_str(), "", "plain", "é\u{2028}\"end", "\\"] {
            let mut out = String::new();
            push_json_string(&mut out, value);
            let back: String = serde_json::from_str(&out).unwrap();
            assert_eq!(back, value, "{out}");
        }
    }

    #[test]
    fn a_line_has_the_stock_keys_and_its_fields_typed() {
        let lines = lines(|| {
            tracing::warn!(r#type = "raw", count = 2u64, ok = false, "typed {}", 1);
        });
        let line = lines[0].as_object().unwrap();
        let mut keys: Vec<_> = line.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "count",
                "level",
                "message",
                "ok",
                "target",
                "timestamp",
                "type"
            ]
        );
        assert_eq!(line["message"], "typed 1");
        assert_eq!(line["level"], "WARN");
        assert_eq!(line["type"], "raw");
        assert_eq!(line["count"], 2);
        assert_eq!(line["ok"], false);
        assert_eq!(line["target"], module_path!());
        let timestamp = line["timestamp"].as_str().unwrap();
        time::OffsetDateTime::parse(timestamp, &time::format_description::well_known::Rfc3339)
            .unwrap();
    }

    #[test]
    fn a_record_of_the_log_crate_keeps_its_own_target_and_level() {
        use tracing_log::log;
        let lines = lines(|| {
            let record = log::Record::builder()
                .args(format_args!("from a dependency"))
                .level(log::Level::Error)
                .target("some_dependency::pool")
                .module_path_static(Some("some_dependency::pool"))
                .file_static(Some("pool.rs"))
                .line(Some(7))
                .build();
            tracing_log::format_trace(&record).unwrap();
        });
        let line = lines[0].as_object().unwrap();
        assert_eq!(line["message"], "from a dependency");
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["target"], "some_dependency::pool");
        assert!(line.keys().all(|k| !k.starts_with("log.")), "{line:?}");
    }

    #[test]
    fn a_line_outside_any_span_has_none_and_an_empty_span_only_its_name() {
        let lines = lines(|| {
            tracing::warn!(count = 2, "outside");
            let span = tracing::info_span!("bare");
            let _entered = span.enter();
            tracing::info!("inside");
        });
        assert_eq!(lines[0]["message"], "outside");
        assert!(lines[0].get("span").is_none());
        assert_eq!(lines[1]["span"], serde_json::json!({"name": "bare"}));
    }
}
