//! Verifies [Portcullis](https://github.com/portcullis) access tokens in a
//! Rust service (a resource server).
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use portcullis_verifier::Verifier;
//! let verifier = Verifier::builder("https://auth.example.com", "portcullis")
//!     // optional: ask Portcullis whether the session is still alive
//!     .introspection("svc_…", "secret…")
//!     .build()?;
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
//!   services pick it up without a restart. A stale set keeps verifying
//!   while one background fetch replaces it (and for up to
//!   [`Builder::max_stale`] while Portcullis cannot be reached): only a
//!   token whose key is not known yet waits for the network.
//! - Portcullis is called over https (plain http only for loopback or with
//!   [`Builder::allow_http`]), redirects are not followed, and answers are
//!   read up to a small size limit.
//! - A token must be `alg: EdDSA`, `typ: at+jwt`, from the configured `iss`,
//!   for exactly the configured `aud` (an enrolment-only token, whose audience
//!   carries a suffix, is refused), and not expired.
//! - Signature checks alone cannot see a sign-out, a ban or a password reset
//!   before the token expires (minutes). With [`Builder::introspection`] the
//!   verifier also asks Portcullis (`POST /v1/introspect`, a service client's
//!   credentials) and remembers the answer briefly ([`Builder::introspection_ttl`]).

mod claims;
mod error;
mod http;
mod introspection;
mod keys;
mod verifier;

#[cfg(feature = "actix-web")]
pub mod actix;

pub use claims::Claims;
pub use error::VerifyError;
pub use http::BuildError;
pub use verifier::{Builder, Clock, Verifier};
