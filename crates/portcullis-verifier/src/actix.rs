//! An actix-web extractor: `Authenticated` in a handler's arguments
//! verifies the request's bearer token with the [`Verifier`] registered as
//! `web::Data<Verifier>`, or answers for the handler:
//! 401 (`WWW-Authenticate: Bearer error="invalid_token"`) for a missing or
//! refused token, 503 when Portcullis could not be asked.
//!
//! ```no_run
//! use actix_web::{get, web, App, HttpServer};
//! use portcullis_verifier::{actix::Authenticated, Verifier};
//!
//! #[get("/orders")]
//! async fn orders(user: Authenticated) -> String {
//!     format!("orders of {}", user.sub)
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let verifier = Verifier::builder("https://auth.example.com", "portcullis")
//!     .build()
//!     .expect("valid verifier settings");
//! let verifier = web::Data::new(verifier);
//! HttpServer::new(move || App::new().app_data(verifier.clone()).service(orders))
//!     .bind("127.0.0.1:8081")?
//!     .run()
//!     .await
//! # }
//! ```

use crate::{Claims, Verifier, VerifyError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse, ResponseError};
use std::future::Future;
use std::pin::Pin;

/// The claims of the request's verified bearer token.
#[derive(Debug, Clone)]
pub struct Authenticated(pub Claims);

impl std::ops::Deref for Authenticated {
    type Target = Claims;
    fn deref(&self) -> &Claims {
        &self.0
    }
}

/// Why the extractor answered instead of the handler.
#[derive(Debug, thiserror::Error)]
pub enum Rejection {
    #[error("no bearer token")]
    Missing,
    #[error(transparent)]
    Refused(VerifyError),
    #[error("no web::Data<Verifier> is registered")]
    NotConfigured,
}

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        match self {
            Rejection::Missing => StatusCode::UNAUTHORIZED,
            Rejection::Refused(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::Refused(_) => StatusCode::UNAUTHORIZED,
            Rejection::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut response = HttpResponse::build(status);
        response.content_type("application/problem+json");
        let (title, challenge) = match self {
            Rejection::Missing => ("Authentication required", Some("Bearer")),
            Rejection::Refused(_) if status == StatusCode::UNAUTHORIZED => {
                ("Invalid token", Some(r#"Bearer error="invalid_token""#))
            }
            Rejection::Refused(_) => ("Service unavailable", None),
            Rejection::NotConfigured => ("Internal server error", None),
        };
        if let Some(challenge) = challenge {
            response.insert_header((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            ));
        }
        match status {
            StatusCode::INTERNAL_SERVER_ERROR => tracing::error!("{self}"),
            StatusCode::SERVICE_UNAVAILABLE => {
                tracing::warn!("{self}");
                // The key set or introspection is retried after the refetch
                // interval or Portcullis's own Retry-After: a second is a
                // fair first wait for a client.
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            _ => {}
        }
        // The reason stays out of the answer: it would tell a forger what
        // to fix.
        response.json(serde_json::json!({
            "type": "about:blank",
            "title": title,
            "status": status.as_u16(),
        }))
    }
}

impl FromRequest for Authenticated {
    type Error = Rejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Rejection>>>>;

    fn from_request(request: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let verifier = request.app_data::<web::Data<Verifier>>().cloned();
        let token = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                let (scheme, token) = v.split_once(' ')?;
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| token.trim().to_string())
            });
        Box::pin(async move {
            let verifier = verifier.ok_or(Rejection::NotConfigured)?;
            let token = token.filter(|t| !t.is_empty()).ok_or(Rejection::Missing)?;
            verifier
                .verify(&token)
                .await
                .map(Authenticated)
                .map_err(Rejection::Refused)
        })
    }
}
