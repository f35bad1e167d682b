//! Verifies [Portcullis](https://github.com/portcullis) access tokens in a
//! Rust service (a resource server).
//!
//! ```no_run
//! # async fn example() -> Result<(), portcullis_verifier::VerifyError> {
//! use portcullis_verifier::Verifier;
//! let verifier = Verifier::builder("https://auth.example.com", "portcullis")
//!     // optional: ask Portcullis whether the session is still alive
//!     .introspection("svc_…", "secret…")
//!     .build();
//! let claims = verifier.verify("eyJ…").await?;
//! println!("user {} (session {}), {:?}", claims.sub, claims.sid, claims.aal);
//! # Ok(()) }
//! ```
//!
//! - The key set is fetched from `{issuer}/.well-known/jwks.json`, kept for
//!   as long as its `Cache-Control: max-age` says, and fetched again on a
//!   token whose `kid` it does not hold (at most once per
//!   [`Builder::min_refetch_interval`], so forged `kid`s cannot make it
//!   hammer Portcullis). A rotated key is published before it signs, so
//!   services pick it up without a restart.
//! - A token must be `alg: EdDSA`, `typ: at+jwt`, from the configured `iss`,
//!   for exactly the configured `aud` (an enrolment-only token, whose audience
//!   carries a suffix, is refused), and not expired.
//! - Signature checks alone cannot see a sign-out, a ban or a password reset
//!   before the token expires (minutes). With [`Builder::introspection`] the
//!   verifier also asks Portcullis (`POST /v1/introspect`, a service client's
//!   credentials) and remembers the answer briefly ([`Builder::introspection_ttl`]).

mod claims;
mod error;
mod introspection;
mod keys;
mod verifier;

#[cfg(feature = "actix-web")]
pub mod actix;

pub use claims::Claims;
pub use error::VerifyError;
pub use verifier::{Builder, Clock, Verifier};
