//! Access tokens: EdDSA-signed JWTs whose keys every instance shares through
//! the database and publishes as a JWKS.

mod access;
mod keys;
mod verified;

pub use access::{AccessClaims, AccessTokens, IssuedAccessToken, Reach, TokenError};
pub use keys::{KeyRing, KeyRingError, KeyStates, Rotation};
