//! The API's error type and its one wire format, RFC 9457 problem details.
//!
//! Handlers and extractors return [`ApiError`]; its `ResponseError` impl only
//! chooses the status and headers. The body is rendered for every 4xx/5xx
//! response in one place, `http::problem`, where the request id is known.

use crate::store::StoreError;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

/// One invalid input field.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// Path of the field in the request, such as `password` or `email`.
    pub field: String,
    pub message: String,
}

/// RFC 9457 problem details. Every error response has this body, with
/// content type `application/problem+json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem, e.g. `urn:portcullis:problem:invalid-credentials`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Quote this when reporting a problem; it is in the server's logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed JSON, wrong types, unknown fields, invalid values.
    #[error("{detail}")]
    BadRequest {
        detail: String,
        errors: Vec<FieldError>,
    },
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// The same answer for an unknown account, a wrong password and an
    /// unverified address.
    #[error("the credentials are not valid")]
    InvalidCredentials,
    /// Missing, invalid or expired bearer token, or a dead session.
    #[error("authentication required: {0}")]
    Unauthenticated(&'static str),
    #[error("the refresh token is not valid")]
    InvalidRefreshToken,
    #[error("the code or link is invalid, expired or already used")]
    InvalidCode,
    #[error("not found")]
    NotFound,
    /// A service client's credentials are missing or wrong.
    #[error("service client authentication failed")]
    ClientUnauthenticated,
    /// Authenticated, but not allowed to do this.
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("this method is not allowed here; allowed: {0}")]
    MethodNotAllowed(String),
    #[error("{detail}")]
    Conflict { slug: &'static str, detail: String },
    /// The social provider's answer did not pass validation, or it refused.
    #[error("{0}")]
    ProviderRejected(&'static str),
    /// The social provider could not be reached in time.
    #[error("the provider could not be reached")]
    ProviderUnreachable(#[source] anyhow::Error),
    #[error("the service is temporarily unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Too many password checks are in progress or waiting.
    #[error("too many sign-ins at once; retry in a moment")]
    Overloaded,
    /// A per-client limit was reached.
    #[error("too many requests; retry after {retry_after_secs} seconds")]
    TooManyRequests { retry_after_secs: u64 },
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        ApiError::BadRequest {
            detail: format!("{field}: {message}"),
            errors: vec![FieldError {
                field: field.to_string(),
                message,
            }],
        }
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(error.into())
    }

    /// The `type` slug and title of the problem.
    pub fn kind(&self) -> (&'static str, &'static str) {
        match self {
            ApiError::BadRequest { .. } => ("invalid-request", "The request is invalid"),
            ApiError::UnsupportedMediaType => ("unsupported-media-type", "Unsupported media type"),
            ApiError::PayloadTooLarge { .. } => ("payload-too-large", "Request body too large"),
            ApiError::InvalidCredentials => ("invalid-credentials", "Invalid credentials"),
            ApiError::Unauthenticated(_) => ("unauthenticated", "Authentication required"),
            ApiError::InvalidRefreshToken => ("invalid-refresh-token", "Invalid refresh token"),
            ApiError::InvalidCode => ("invalid-code", "Invalid or expired code"),
            ApiError::NotFound => ("not-found", "Not found"),
            ApiError::Forbidden(_) => ("forbidden", "Forbidden"),
            ApiError::ClientUnauthenticated => ("invalid-client", "Client authentication failed"),
            ApiError::MethodNotAllowed(_) => ("method-not-allowed", "Method not allowed"),
            ApiError::Conflict { slug, .. } => (slug, "Conflict"),
            ApiError::ProviderRejected(_) => {
                ("provider-rejected", "Sign-in with the provider failed")
            }
            ApiError::ProviderUnreachable(_) => {
                ("provider-unreachable", "The provider is unreachable")
            }
            ApiError::Unavailable(_) => ("unavailable", "Service unavailable"),
            ApiError::Overloaded => ("overloaded", "Service overloaded"),
            ApiError::TooManyRequests { .. } => ("too-many-requests", "Too many requests"),
            ApiError::Internal(_) => ("internal", "Internal server error"),
        }
    }

    /// What the client may read in `detail`. Never anything internal.
    pub fn public_detail(&self) -> Option<String> {
        match self {
            ApiError::Unavailable(_)
            | ApiError::Internal(_)
            | ApiError::ProviderUnreachable(_)
            | ApiError::Overloaded => None,
            // One fixed text whatever the cause, so nothing can be told apart.
            ApiError::Unauthenticated(_) => {
                Some("a valid access token is required (Authorization: Bearer …)".into())
            }
            other => Some(other.to_string()),
        }
    }

    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            ApiError::BadRequest { errors, .. } => errors,
            _ => &[],
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } | ApiError::InvalidCode | ApiError::ProviderRejected(_) => {
                StatusCode::BAD_REQUEST
            }
            ApiError::ProviderUnreachable(_) => StatusCode::BAD_GATEWAY,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::InvalidCredentials
            | ApiError::Unauthenticated(_)
            | ApiError::InvalidRefreshToken
            | ApiError::ClientUnauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Unavailable(_) | ApiError::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        match self {
            ApiError::Unauthenticated(_) => {
                response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            ApiError::Unavailable(_) | ApiError::Overloaded => {
                response.insert_header((header::RETRY_AFTER, "1"));
            }
            ApiError::TooManyRequests { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            ApiError::ClientUnauthenticated => {
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

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable { .. } => ApiError::Unavailable(error.into()),
            // Which index it was stays in the logs; the client gets no name.
            StoreError::Conflict { .. } => ApiError::Conflict {
                slug: "conflict",
                detail: "the request conflicts with existing data".into(),
            },
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<crate::hashing::HashError> for ApiError {
    fn from(error: crate::hashing::HashError) -> Self {
        match error {
            crate::hashing::HashError::Overloaded => ApiError::Overloaded,
            crate::hashing::HashError::ClientOverShare => ApiError::TooManyRequests {
                retry_after_secs: 1,
            },
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<crate::oauth::OAuthError> for ApiError {
    fn from(error: crate::oauth::OAuthError) -> Self {
        use crate::oauth::OAuthError;
        tracing::warn!(error = %error, "social sign-in failed at the provider");
        match error {
            OAuthError::Unreachable(_) => ApiError::ProviderUnreachable(error.into()),
            OAuthError::Refused(_) => {
                ApiError::ProviderRejected("the provider refused the authorization code")
            }
            OAuthError::Invalid(_) => {
                ApiError::ProviderRejected("the provider's answer failed validation")
            }
        }
    }
}

impl From<crate::crypto::EncryptError> for ApiError {
    fn from(error: crate::crypto::EncryptError) -> Self {
        ApiError::Internal(error.into())
    }
}

impl From<crate::tokens::TokenError> for ApiError {
    fn from(error: crate::tokens::TokenError) -> Self {
        ApiError::Internal(error.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::UniqueKey;

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
