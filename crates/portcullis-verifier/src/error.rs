/// Why a token was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Not a JWT, too long, or missing a required claim.
    #[error("the token is malformed")]
    Malformed,
    /// Not `alg: EdDSA` with `typ: at+jwt` (a refresh token, an ID token, …).
    #[error("not a Portcullis access token")]
    NotAnAccessToken,
    /// No key of the (freshly fetched) key set has the token's `kid`.
    #[error("signed by an unknown key")]
    UnknownKey,
    #[error("the signature does not verify")]
    BadSignature,
    #[error("issued by another issuer")]
    WrongIssuer,
    #[error("issued for another audience")]
    WrongAudience,
    #[error("the token has expired")]
    Expired,
    /// Introspection says the session ended, the user is banned, …
    #[error("the token is no longer active")]
    Inactive,
    /// The key set or introspection could not be fetched; the token may be
    /// fine (answer 503, not 401).
    #[error("Portcullis could not be reached: {0}")]
    Unavailable(String),
}

impl VerifyError {
    /// The token may be fine but could not be checked now.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, VerifyError::Unavailable(_))
    }
}
