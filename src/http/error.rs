//! The HTTP face of errors: a use case's [`FlowError`], or a refusal that
//! only HTTP knows (media type, body size, method). This is where statuses
//! and headers are chosen; the problem+json body is written for every 4xx
//! and 5xx in one place, `http::problem`.

use crate::error::{FieldError, FlowError};
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Flow(#[from] FlowError),
    #[error("the request body must be sent as Content-Type: {expected}")]
    UnsupportedMediaType { expected: &'static str },
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("this method is not allowed here; allowed: {0}")]
    MethodNotAllowed(String),
}

/// What the flows' dependencies fail with reaches a handler through `?` as
/// the flows would see it.
macro_rules! via_flow_error {
    ($($source:ty),* $(,)?) => {
        $(impl From<$source> for ApiError {
            fn from(error: $source) -> Self {
                ApiError::Flow(error.into())
            }
        })*
    };
}

via_flow_error!(
    crate::store::StoreError,
    crate::hashing::HashError,
    crate::oauth::OAuthError,
    crate::crypto::EncryptError,
    crate::tokens::TokenError,
);

impl ApiError {
    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        ApiError::Flow(FlowError::bad_request(field, message))
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        ApiError::Flow(FlowError::internal(error))
    }

    /// The `type` slug and title of the problem.
    pub fn kind(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::Flow(error) => error.kind(),
            ApiError::UnsupportedMediaType { .. } => {
                ("unsupported-media-type", "Unsupported media type")
            }
            ApiError::PayloadTooLarge { .. } => ("payload-too-large", "Request body too large"),
            ApiError::MethodNotAllowed(_) => ("method-not-allowed", "Method not allowed"),
        }
    }

    /// What the client may read in `detail`. Never anything internal.
    pub fn public_detail(&self) -> Option<String> {
        match self {
            ApiError::Flow(error) => error.public_detail(),
            other => Some(other.to_string()),
        }
    }

    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            ApiError::Flow(error) => error.field_errors(),
            _ => &[],
        }
    }
}

fn status_of(error: &FlowError) -> StatusCode {
    match error {
        FlowError::BadRequest { .. } | FlowError::InvalidCode | FlowError::ProviderRejected(_) => {
            StatusCode::BAD_REQUEST
        }
        FlowError::ProviderUnreachable(_) => StatusCode::BAD_GATEWAY,
        FlowError::InvalidCredentials
        | FlowError::Unauthenticated(_)
        | FlowError::InvalidRefreshToken
        | FlowError::InsufficientAuthentication { .. }
        | FlowError::InvalidSecondFactor
        | FlowError::ClientUnauthenticated => StatusCode::UNAUTHORIZED,
        FlowError::NotFound => StatusCode::NOT_FOUND,
        FlowError::Forbidden(_) => StatusCode::FORBIDDEN,
        FlowError::Conflict { .. } => StatusCode::CONFLICT,
        FlowError::Unavailable(_) | FlowError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        FlowError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
        FlowError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Flow(error) => status_of(error),
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::Flow(FlowError::Unauthenticated(_)) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::Flow(FlowError::InsufficientAuthentication {
                detail,
                acr,
                max_age,
            }) => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    step_up_challenge(detail, *acr, *max_age),
                ));
            }
            ApiError::Flow(FlowError::Unavailable(_) | FlowError::Overloaded) => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            ApiError::Flow(FlowError::TooManyRequests { retry_after_secs }) => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::Flow(FlowError::ClientUnauthenticated) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"portcullis\""));
            }
            ApiError::MethodNotAllowed(allowed) => {
                response.insert_header((header::ALLOW, allowed.as_str()));
            }
            _ => {}
        }
        // The body is written by the problem-details middleware.
        response.finish()
    }
}

/// The RFC 9470 challenge: what the client must prove (`acr_values`) and
/// how recently (`max_age`) before it retries.
fn step_up_challenge(detail: &str, acr: Option<&str>, max_age: Option<u64>) -> String {
    let mut challenge = format!(
        "Bearer error=\"insufficient_user_authentication\", error_description=\"{}\"",
        detail.replace(['"', '\\'], "'")
    );
    if let Some(acr) = acr {
        challenge.push_str(&format!(", acr_values=\"{acr}\""));
    }
    if let Some(max_age) = max_age {
        challenge.push_str(&format!(", max_age={max_age}"));
    }
    challenge
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{StoreError, UniqueKey};

    /// The failed store operation and the index name are for the logs only.
    #[test]
    fn store_errors_reach_clients_without_internals() {
        let internal = ApiError::from(StoreError::Other {
            op: "rotate_refresh_token",
            source: sqlx::Error::RowNotFound,
        });
        assert_eq!(internal.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(internal.public_detail(), None);
        assert!(format!("{internal:?}").contains("rotate_refresh_token"));

        let conflict = ApiError::from(StoreError::Conflict {
            op: "insert_user",
            key: UniqueKey::UsersEmail,
        });
        let detail = conflict.public_detail().unwrap_or_default();
        assert!(!detail.contains("users_email_key") && !detail.contains("insert_user"));
    }
}
