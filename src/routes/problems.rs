//! Error responses shared by the operations in the OpenAPI document.

use crate::error::Problem;
use utoipa::IntoResponses;

/// Problems any JSON-accepting operation can answer with.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum InputProblems {
    /// Malformed JSON, wrong types, unknown fields or invalid values.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
    /// The body is larger than the configured limit (64 KiB by default).
    #[response(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Problem),
    /// The body is not `application/json`.
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Problem),
}

/// Problems of an operation with path segments or query parameters and no
/// body.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum ParamProblems {
    /// A malformed path segment (such as an id that is not a UUID), or a
    /// query parameter that is invalid or unknown; `errors[]` names it.
    #[response(status = 400, content_type = "application/problem+json")]
    BadRequest(Problem),
}

#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum AuthProblems {
    /// Missing, invalid or expired access token, or the session has ended;
    /// or (`WWW-Authenticate: Bearer error="insufficient_user_authentication"`,
    /// RFC 9470) the session needs a second factor, or a more recent one.
    #[response(
        status = 401,
        content_type = "application/problem+json",
        headers(("WWW-Authenticate" = String, description = "`Bearer`"))
    )]
    Unauthenticated(Problem),
}

/// Problems on the server side; the body carries a request id, never details.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum ServerProblems {
    /// An unexpected error; the details are in the server's log under the request id.
    #[response(status = 500, content_type = "application/problem+json")]
    Internal(Problem),
    /// The database is unreachable or busy, or too many password checks are
    /// waiting; retry after `Retry-After` seconds.
    #[response(
        status = 503,
        content_type = "application/problem+json",
        headers(("Retry-After" = String))
    )]
    Unavailable(Problem),
}

/// A per-client limit was reached.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum RateProblems {
    /// Too many requests from this client address; retry after `Retry-After` seconds.
    #[response(
        status = 429,
        content_type = "application/problem+json",
        headers(("Retry-After" = String))
    )]
    TooManyRequests(Problem),
}

/// The caller is not signed in, is not an administrator, or the operation
/// needs more than their role; or the target does not exist.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum AdminProblems {
    /// Missing, invalid or expired access token, or the session has ended;
    /// or (`WWW-Authenticate: Bearer error="insufficient_user_authentication"`,
    /// RFC 9470) the session needs a second factor, or a more recent one.
    #[response(
        status = 401,
        content_type = "application/problem+json",
        headers(("WWW-Authenticate" = String, description = "`Bearer`"))
    )]
    Unauthenticated(Problem),
    /// Not an administrator, or not allowed this operation or target.
    #[response(status = 403, content_type = "application/problem+json")]
    Forbidden(Problem),
    /// No such user, session or client.
    #[response(status = 404, content_type = "application/problem+json")]
    NotFound(Problem),
}
