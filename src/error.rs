//! The use cases' error type, and the one wire format errors take, RFC 9457
//! problem details.
//!
//! Flows return [`FlowError`]: what went wrong, in the API's vocabulary (the
//! problem `type` slug, a public detail, the invalid fields), with no web
//! framework in sight. The HTTP layer (`crate::http::ApiError`) chooses the
//! status and headers, and renders the body for every 4xx/5xx response in one
//! place, where the request id is known.

use crate::store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

/// One invalid input field.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"field": "email", "message": "is required"}))]
pub struct FieldError {
    /// Where the invalid value is: the name of a body field (such as
    /// `email` or `password`), of a query or path parameter, or `body` when
    /// the body as a whole is refused.
    pub field: String,
    /// What is wrong with it, in English, for developers (such as `is
    /// required`); not meant to be shown to end users as it is.
    pub message: String,
}

/// RFC 9457 problem details. Every error response has this body, with
/// content type `application/problem+json`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:portcullis:problem:invalid-request",
    "title": "The request is invalid",
    "status": 400,
    "detail": "email: is required",
    "instance": "/v1/sessions",
    "request_id": "bfa49c76-1c0b-44d5-a701-4390cfdf83b3",
    "errors": [{"field": "email", "message": "is required"}]
}))]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:portcullis:problem:` and a
    /// stable slug such as `invalid-request`, `invalid-credentials`,
    /// `unauthenticated`, `forbidden`, `not-found`, `username-taken` or
    /// `too-many-requests`. Branch on this, not on `title` or `detail`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem, such as `Invalid credentials`.
    pub title: String,
    /// The HTTP status code of the response, repeated.
    pub status: u16,
    /// What went wrong this time, in English, for developers. Absent on
    /// 5xx responses, which never carry details (quote `request_id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The path of the request that failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The request's id (a UUID); quote it when reporting a problem, it is
    /// in the server's logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// On a 400 `invalid-request`: every invalid field of the request, not
    /// only the first. Absent when no single field is to blame (malformed
    /// JSON, a body that is not an object, a wrong combination of fields).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// Malformed JSON, wrong types, unknown fields, invalid values.
    #[error("{detail}")]
    BadRequest {
        detail: String,
        errors: Vec<FieldError>,
    },
    /// The same answer for an unknown account, a wrong password and an
    /// unverified address.
    #[error("the credentials are not valid")]
    InvalidCredentials,
    /// Missing, invalid or expired bearer token, or a dead session.
    #[error("authentication required: {0}")]
    Unauthenticated(&'static str),
    #[error("the refresh token is not valid")]
    InvalidRefreshToken,
    /// RFC 9470: the session is not proven strongly or recently enough.
    #[error("{detail}")]
    InsufficientAuthentication {
        detail: &'static str,
        /// The level needed (`aal2`), when the level is what falls short.
        acr: Option<&'static str>,
        /// The oldest acceptable proof, in seconds.
        max_age: Option<u64>,
    },
    #[error("the mfa_token is invalid, expired or used up, or the code is not valid")]
    InvalidSecondFactor,
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

impl FlowError {
    /// A 400 about the request as a whole (its shape), naming no field.
    pub fn malformed(detail: impl Into<String>) -> Self {
        FlowError::BadRequest {
            detail: detail.into(),
            errors: Vec::new(),
        }
    }

    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        FlowError::BadRequest {
            detail: format!("{field}: {message}"),
            errors: vec![FieldError {
                field: field.to_string(),
                message,
            }],
        }
    }

    pub fn internal(error: impl Into<anyhow::Error>) -> Self {
        FlowError::Internal(error.into())
    }

    /// The `type` slug and title of the problem.
    pub fn kind(&self) -> (&'static str, &'static str) {
        match self {
            FlowError::BadRequest { .. } => ("invalid-request", "The request is invalid"),
            FlowError::InvalidCredentials => ("invalid-credentials", "Invalid credentials"),
            FlowError::Unauthenticated(_) => ("unauthenticated", "Authentication required"),
            FlowError::InvalidRefreshToken => ("invalid-refresh-token", "Invalid refresh token"),
            FlowError::InsufficientAuthentication { .. } => (
                "insufficient-user-authentication",
                "Stronger or more recent authentication required",
            ),
            FlowError::InvalidSecondFactor => ("invalid-second-factor", "Invalid second factor"),
            FlowError::InvalidCode => ("invalid-code", "Invalid or expired code"),
            FlowError::NotFound => ("not-found", "Not found"),
            FlowError::Forbidden(_) => ("forbidden", "Forbidden"),
            FlowError::ClientUnauthenticated => ("invalid-client", "Client authentication failed"),
            FlowError::Conflict { slug, .. } => (slug, "Conflict"),
            FlowError::ProviderRejected(_) => {
                ("provider-rejected", "Sign-in with the provider failed")
            }
            FlowError::ProviderUnreachable(_) => {
                ("provider-unreachable", "The provider is unreachable")
            }
            FlowError::Unavailable(_) => ("unavailable", "Service unavailable"),
            FlowError::Overloaded => ("overloaded", "Service overloaded"),
            FlowError::TooManyRequests { .. } => ("too-many-requests", "Too many requests"),
            FlowError::Internal(_) => ("internal", "Internal server error"),
        }
    }

    /// What the client may read in `detail`. Never anything internal.
    pub fn public_detail(&self) -> Option<String> {
        match self {
            FlowError::Unavailable(_)
            | FlowError::Internal(_)
            | FlowError::ProviderUnreachable(_)
            | FlowError::Overloaded => None,
            // One fixed text whatever the cause, so nothing can be told apart.
            FlowError::Unauthenticated(_) => {
                Some("a valid access token is required (Authorization: Bearer …)".into())
            }
            other => Some(other.to_string()),
        }
    }

    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            FlowError::BadRequest { errors, .. } => errors,
            _ => &[],
        }
    }
}

impl From<StoreError> for FlowError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable { .. } => FlowError::Unavailable(error.into()),
            // Which index it was stays in the logs; the client gets no name.
            StoreError::Conflict { .. } => FlowError::Conflict {
                slug: "conflict",
                detail: "the request conflicts with existing data".into(),
            },
            other => FlowError::Internal(other.into()),
        }
    }
}

impl From<crate::hashing::HashError> for FlowError {
    fn from(error: crate::hashing::HashError) -> Self {
        match error {
            crate::hashing::HashError::Overloaded | crate::hashing::HashError::WaitedTooLong => {
                FlowError::Overloaded
            }
            crate::hashing::HashError::ClientOverShare => FlowError::TooManyRequests {
                retry_after_secs: 1,
            },
            other => FlowError::Internal(other.into()),
        }
    }
}

impl From<crate::oauth::OAuthError> for FlowError {
    fn from(error: crate::oauth::OAuthError) -> Self {
        use crate::oauth::OAuthError;
        tracing::warn!(error = %error, "social sign-in failed at the provider");
        match error {
            OAuthError::Unreachable(_) => FlowError::ProviderUnreachable(error.into()),
            OAuthError::Refused(_) => {
                FlowError::ProviderRejected("the provider refused the authorization code")
            }
            OAuthError::Invalid(_) => {
                FlowError::ProviderRejected("the provider's answer failed validation")
            }
        }
    }
}

impl From<crate::crypto::EncryptError> for FlowError {
    fn from(error: crate::crypto::EncryptError) -> Self {
        FlowError::Internal(error.into())
    }
}

impl From<crate::tokens::TokenError> for FlowError {
    fn from(error: crate::tokens::TokenError) -> Self {
        FlowError::Internal(error.into())
    }
}
