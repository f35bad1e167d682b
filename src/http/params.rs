//! Query strings, path segments and form bodies, refused in the same shape as
//! a bad JSON body: 400 `invalid-request` naming the field in `errors[]`.
//! (actix's own `web::Query`, `web::Path` and `web::Form` answer in their own
//! words, without the field, and a malformed id in the path as a 404.)

use super::json::BodyLimit;
use crate::error::{FieldError, FlowError};
use crate::http::ApiError;
use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::{mime, web, FromRequest, HttpMessage, HttpRequest};
use futures_util::future::{ready, LocalBoxFuture, Ready};
use serde::de::value::{Error as ValueError, SeqDeserializer, StrDeserializer};
use serde::de::DeserializeOwned;

/// The query string parsed into `T`. Parameters whose name starts with `_`
/// are ignored, for cache-busters (`?_=123`); any other parameter `T` does
/// not name is refused where `T` denies unknown fields, because a misspelled
/// filter (`?rol=ADMIN`) would otherwise widen a listing without a word.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned> FromRequest for QueryParams<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let query = req.query_string().split('&');
        let kept: Vec<&str> = query.filter(|pair| !pair.starts_with('_')).collect();
        ready(urlencoded(kept.join("&").as_bytes()).map(QueryParams))
    }
}

/// The path's `{…}` segments parsed into `T`: one value (`Uuid`) or a tuple
/// in the order of the template. A segment that does not parse is a 400
/// naming it (a malformed id is bad input, not a missing resource).
pub struct PathParams<T>(pub T);

impl<T: DeserializeOwned> FromRequest for PathParams<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let segments: Vec<(&str, &str)> = req.match_info().iter().collect();
        let parsed = if let [(_, value)] = segments.as_slice() {
            serde_path_to_error::deserialize(StrDeserializer::<ValueError>::new(value))
        } else {
            let values = segments.iter().map(|(_, value)| *value);
            serde_path_to_error::deserialize(SeqDeserializer::<_, ValueError>::new(values))
        };
        ready(parsed.map(PathParams).map_err(|error| {
            // A tuple element's path is its index; a single value has none.
            let index = match error.path().iter().next() {
                Some(serde_path_to_error::Segment::Seq { index }) => *index,
                _ => 0,
            };
            let field = segments.get(index).map_or("path", |(name, _)| *name);
            invalid(field, error.into_inner().to_string())
        }))
    }
}

/// An `application/x-www-form-urlencoded` body parsed into `T` (415 for
/// another content type, 413 over the body limit).
pub struct FormBody<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for FormBody<T> {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_form = |mime: &mime::Mime| {
            mime.type_() == mime::APPLICATION && mime.subtype() == mime::WWW_FORM_URLENCODED
        };
        let body = body_of(req, payload, is_form, "application/x-www-form-urlencoded");
        Box::pin(async move { urlencoded(&body.await?).map(FormBody) })
    }
}

/// Like actix's extractors: the value by `into_inner` or through `Deref`.
macro_rules! wrapper {
    ($($name:ident),*) => {$(
        impl<T> $name<T> {
            pub fn into_inner(self) -> T {
                self.0
            }
        }

        impl<T> std::ops::Deref for $name<T> {
            type Target = T;

            fn deref(&self) -> &T {
                &self.0
            }
        }
    )*};
}

wrapper!(QueryParams, PathParams, FormBody);

/// The request body, if its content type is one `accepts` (415 naming
/// `expected` otherwise) and it fits the body limit (413).
pub(super) fn body_of(
    req: &HttpRequest,
    payload: &mut Payload,
    accepts: impl Fn(&mime::Mime) -> bool,
    expected: &'static str,
) -> LocalBoxFuture<'static, Result<web::Bytes, ApiError>> {
    let acceptable = req
        .mime_type()
        .ok()
        .flatten()
        .is_some_and(|mime| accepts(&mime));
    let limit = req.app_data::<BodyLimit>().map_or(64 * 1024, |l| l.0);
    let bytes = web::Bytes::from_request(req, payload);
    Box::pin(async move {
        if !acceptable {
            return Err(ApiError::UnsupportedMediaType { expected });
        }
        bytes.await.map_err(|error| read_error(&error, limit))
    })
}

/// Why a body could not be read: too large, or the connection failed.
fn read_error(error: &actix_web::Error, limit: usize) -> ApiError {
    let too_large = matches!(
        error.as_error::<PayloadError>(),
        Some(PayloadError::Overflow)
    ) || error.as_response_error().status_code()
        == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE;
    if too_large {
        ApiError::PayloadTooLarge { limit }
    } else {
        ApiError::bad_request("body", "the request body could not be read")
    }
}

fn urlencoded<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(bytes));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        let message = error.into_inner().to_string();
        // serde reports missing, unknown and repeated parameters at the top
        // level, naming them only in the message.
        let named = field_in(&message, Reported::Unknown)
            .or_else(|| field_in(&message, Reported::Duplicate));
        match (field_in(&message, Reported::Missing), named) {
            (Some(field), _) => invalid(field, "is required"),
            (None, Some(field)) => invalid(field, message.clone()),
            (None, None) => invalid(&path, message),
        }
    })
}

/// What serde reports at the object, naming the field only in its message.
#[derive(Clone, Copy)]
pub(super) enum Reported {
    Missing,
    Unknown,
    Duplicate,
}

/// The field named by serde's "missing field `x`", "unknown field `x`,
/// expected …" or "duplicate field `x`".
pub(super) fn field_in(message: &str, kind: Reported) -> Option<&str> {
    let prefix = match kind {
        Reported::Missing => "missing field `",
        Reported::Unknown => "unknown field `",
        Reported::Duplicate => "duplicate field `",
    };
    message.strip_prefix(prefix)?.split('`').next()
}

fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    let message = message.into();
    ApiError::from(FlowError::BadRequest {
        detail: format!("{field}: {message}"),
        errors: vec![FieldError {
            field: field.to_string(),
            message,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Listing {
        #[allow(dead_code)]
        limit: Option<i64>,
        #[allow(dead_code)]
        token: String,
    }

    fn error(query: &str) -> FieldError {
        let error = urlencoded::<Listing>(query.as_bytes()).unwrap_err();
        error.field_errors()[0].clone()
    }

    #[test]
    fn names_the_parameter_that_failed() {
        assert_eq!(error("token=a&limit=x").field, "limit");
        assert_eq!(error("token=a&token=b").field, "token");
        let missing = error("limit=5");
        assert_eq!(
            (missing.field.as_str(), missing.message.as_str()),
            ("token", "is required")
        );
    }
}
