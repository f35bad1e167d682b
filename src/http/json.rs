use crate::error::FieldError;
use crate::error::FlowError;
use crate::http::ApiError;
use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::mime;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

/// A JSON request body, parsed into `T` with the field path of any error.
///
/// Refuses a missing or non-JSON content type (415), a body over the
/// configured limit (413, enforced by `web::PayloadConfig`) and anything
/// `T` does not accept (400: malformed JSON, wrong types, unknown fields,
/// values the domain types refuse).
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req.mime_type().ok().flatten().is_some_and(|mime| {
            mime.type_() == mime::APPLICATION
                && (mime.subtype() == mime::JSON || mime.suffix() == Some(mime::JSON))
        });
        let limit = req.app_data::<BodyLimit>().map_or(64 * 1024, |l| l.0);
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::UnsupportedMediaType);
            }
            let bytes = bytes
                .await
                .map_err(|error| match error.as_error::<PayloadError>() {
                    Some(PayloadError::Overflow) => ApiError::PayloadTooLarge { limit },
                    _ if error.as_response_error().status_code()
                        == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE =>
                    {
                        ApiError::PayloadTooLarge { limit }
                    }
                    _ => ApiError::bad_request("body", "the request body could not be read"),
                })?;
            parse(&bytes).map(JsonBody)
        })
    }
}

/// The configured body limit (also set as `web::PayloadConfig`, which
/// enforces it), for error messages.
#[derive(Clone, Copy)]
pub struct BodyLimit(pub usize);

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every request body of this API is an object. serde would also fill a
    // struct from an array, by position (`[null, null]` clearing the first
    // two fields): anything but an object is refused before that can happen.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        return Err(FlowError::malformed("the request body must be a JSON object").into());
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        let message = strip_position(&inner.to_string());
        if path == "." || inner.is_syntax() || inner.is_eof() {
            ApiError::from(FlowError::malformed(format!("malformed JSON: {message}")))
        } else {
            ApiError::from(FlowError::BadRequest {
                detail: format!("{path}: {message}"),
                errors: vec![FieldError {
                    field: path,
                    message,
                }],
            })
        }
    })?;
    // Trailing characters after the value.
    deserializer.end().map_err(|_| {
        ApiError::from(FlowError::malformed(
            "malformed JSON: trailing characters after the body",
        ))
    })?;
    Ok(value)
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
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[allow(dead_code)]
        email: crate::domain::Email,
    }

    fn err(json: &str) -> ApiError {
        parse::<Body>(json.as_bytes()).unwrap_err()
    }

    #[test]
    fn reports_the_field_that_failed() {
        let e = err(r#"{"email": "nope"}"#);
        assert_eq!(e.field_errors()[0].field, "email");
        assert!(e.to_string().contains("email must contain an @"), "{e}");
    }

    #[test]
    fn unknown_fields_and_broken_json_are_bad_requests() {
        assert!(err(r#"{"email": "a@b.co", "role": "ADMIN"}"#)
            .to_string()
            .contains("unknown field `role`"));
        assert!(err(r#"{"email": "#)
            .to_string()
            .starts_with("malformed JSON"));
        assert!(err(r#"{"email": "a@b.co"} x"#)
            .to_string()
            .contains("trailing"));
        assert!(err(r#"{"email": 5}"#).to_string().contains("invalid type"));
    }
}
