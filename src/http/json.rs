use super::params::{body_of, field_in, Reported};
use crate::error::{FieldError, FlowError};
use crate::http::ApiError;
use actix_web::dev::Payload;
use actix_web::mime;
use actix_web::{FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};
use utoipa::openapi::{RefOr, Schema};
use utoipa::PartialSchema;

/// A JSON request body, parsed into `T` with the field path of any error.
///
/// Refuses a missing or non-JSON content type (415), a body over the
/// configured limit (413, enforced by `web::PayloadConfig`) and anything
/// `T` does not accept (400: malformed JSON, wrong types, unknown fields,
/// values the domain types refuse, absent required fields; every invalid
/// field is named in `errors[]`, not only the first).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + PartialSchema + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = |mime: &mime::Mime| {
            mime.type_() == mime::APPLICATION
                && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
        };
        let body = body_of(req, payload, is_json, "application/json");
        Box::pin(async move { parse(&body.await?).map(JsonBody) })
    }
}

/// The configured body limit (also set as `web::PayloadConfig`, which
/// enforces it), for error messages.
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

/// The most invalid fields one answer names.
const MAX_FIELD_ERRORS: usize = 20;

const TRAILING: &str = "malformed JSON: trailing characters after the body";

fn parse<T: DeserializeOwned + PartialSchema>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every request body of this API is an object. serde would also fill a
    // struct from an array, by position (`[null, null]` clearing the first
    // two fields): anything but an object is refused before that can happen.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(FlowError::malformed("the request body must be a JSON object").into());
    }
    // The common case, a valid body, is parsed once, straight into `T`.
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let direct = match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Ok(value) if deserializer.end().is_ok() => return Ok(value),
        Ok(_) => return Err(FlowError::malformed(TRAILING).into()),
        Err(error) => error,
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let object = Map::<String, Value>::deserialize(&mut deserializer).map_err(|error| {
        FlowError::malformed(format!(
            "malformed JSON: {}",
            strip_position(&error.to_string())
        ))
    })?;
    deserializer
        .end()
        .map_err(|_| FlowError::malformed(TRAILING))?;
    let mut errors = field_errors::<T>(object);
    if errors.is_empty() {
        // Refused as sent, accepted as an object: a key that came twice
        // (the object keeps only its last value).
        let message = strip_position(&direct.inner().to_string());
        let field = field_in(&message, Reported::Duplicate)
            .unwrap_or("body")
            .to_string();
        errors.push(FieldError { field, message });
    }
    let detail = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect::<Vec<_>>()
        .join("; ");
    Err(FlowError::BadRequest { detail, errors }.into())
}

/// Every invalid field of a well-formed object that `T` refuses. serde stops
/// at the first error, so each refused field is reported and taken out, and
/// the rest parsed again; serde reports only the first absent field, so the
/// others come from the schema's `required` list.
fn field_errors<T: DeserializeOwned + PartialSchema>(
    object: Map<String, Value>,
) -> Vec<FieldError> {
    let mut errors: Vec<FieldError> = Vec::new();
    let reported = |errors: &[FieldError], field: &str| errors.iter().any(|e| e.field == field);
    let mut body = Value::Object(object);
    // Each round removes one key, so this ends; and each round parses the
    // rest again, so a body of thousands of junk keys stops at the bound
    // (no request body of this API has that many fields).
    for _ in 0..MAX_FIELD_ERRORS {
        let error = match serde_path_to_error::deserialize::<_, T>(&body) {
            Ok(_) => break,
            Err(error) => error,
        };
        let Value::Object(object) = &mut body else {
            break;
        };
        let path = error.path().to_string();
        let message = strip_position(&error.into_inner().to_string());
        if field_in(&message, Reported::Missing).is_some() {
            for field in required_fields::<T>() {
                if !object.contains_key(&field) && !reported(&errors, &field) {
                    errors.push(FieldError {
                        field,
                        message: "is required".to_string(),
                    });
                }
            }
            if let Some(field) =
                field_in(&message, Reported::Missing).filter(|f| !reported(&errors, f))
            {
                errors.push(FieldError {
                    field: field.to_string(),
                    message: "is required".to_string(),
                });
            }
            break;
        }
        // An unknown field is reported where the object is, not at the key.
        let field = field_in(&message, Reported::Unknown).map_or(path, str::to_string);
        let key = field
            .split(['.', '['])
            .next()
            .unwrap_or_default()
            .to_string();
        if object.remove(&key).is_none() {
            // Nothing left to take out: a refusal of the object as a whole.
            if errors.is_empty() {
                errors.push(FieldError {
                    field: "body".to_string(),
                    message,
                });
            }
            break;
        }
        if !reported(&errors, &field) {
            errors.push(FieldError { field, message });
        }
    }
    errors
}

fn required_fields<T: PartialSchema>() -> Vec<String> {
    match T::schema() {
        RefOr::T(Schema::Object(object)) => object.required,
        _ => Vec::new(),
    }
}

/// serde_json appends " at line 1 column 12"; the field path says more.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use utoipa::ToSchema;

    #[allow(dead_code)]
    #[derive(Debug, Deserialize, ToSchema)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[schema(value_type = String)]
        email: crate::domain::Email,
        #[schema(value_type = String)]
        password: crate::domain::Password,
        name: Option<String>,
        age: Option<u8>,
    }

    fn err(json: &str) -> ApiError {
        parse::<Body>(json.as_bytes()).unwrap_err()
    }

    fn fields(json: &str) -> Vec<(String, String)> {
        let error = err(json);
        let fields = error.field_errors().iter();
        fields
            .map(|e| (e.field.clone(), e.message.clone()))
            .collect()
    }

    #[test]
    fn reports_every_invalid_field_at_once() {
        let found = fields(r#"{"email": "nope", "age": 300, "role": "ADMIN"}"#);
        let message = |name: &str| {
            let found = found.iter().find(|(field, _)| field == name);
            found
                .map(|(_, message)| message.clone())
                .unwrap_or_default()
        };
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(message("age").contains("invalid value"), "{found:?}");
        assert!(message("email").contains("must contain an @"), "{found:?}");
        assert!(
            message("role").contains("unknown field `role`"),
            "{found:?}"
        );
        assert_eq!(message("password"), "is required");
    }

    #[test]
    fn names_each_absent_required_field() {
        let found = fields(r#"{"name": "x"}"#);
        assert_eq!(
            found,
            [
                ("email".to_string(), "is required".to_string()),
                ("password".to_string(), "is required".to_string())
            ]
        );
        assert!(err("{}")
            .to_string()
            .contains("email: is required; password: is required"));
    }

    #[test]
    fn a_flood_of_junk_keys_is_named_up_to_the_bound() {
        let junk: Vec<String> = (0..500).map(|i| format!("\"junk{i}\": 1")).collect();
        let body = format!("{{{}}}", junk.join(", "));
        assert_eq!(fields(&body).len(), MAX_FIELD_ERRORS);
    }

    #[test]
    fn a_key_sent_twice_is_named() {
        let body = r#"{"email": "a@b.co", "email": "c@d.co", "password": "long enough"}"#;
        let found = fields(body);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "email");
        assert!(found[0].1.contains("duplicate field"), "{found:?}");
    }

    #[test]
    fn broken_json_and_non_objects_are_malformed() {
        for body in [
            r#"{"email": "#,
            r#"{"email": "a@b.co"} x"#,
            "[1, 2]",
            "null",
        ] {
            let error = err(body);
            assert!(error.field_errors().is_empty(), "{body}: {error}");
            assert_eq!(error.kind().0, "invalid-request", "{body}");
        }
        assert!(err(r#"{"email": "a@b.co"} x"#)
            .to_string()
            .contains("trailing"));
    }
}
