//! Validated domain types. Input is parsed into these once, at the HTTP
//! boundary (`#[serde(try_from = "String")]`), so the rest of the code can rely
//! on their invariants.

mod auth_method;
mod code;
mod email;
mod factor;
mod locale;
mod password;
mod profile;
mod role;
mod schema;
mod token;
mod username;

pub use auth_method::{Assurance, AuthMethod};
pub use code::{CodeAction, VerificationCode};
pub use email::Email;
pub use factor::{RecoveryCode, SecondFactor, TotpCode};
pub use locale::Locale;
pub use password::{Password, PasswordPolicy};
pub use profile::{AvatarUrl, BoundedText, InfoText, ProfileText};
pub use role::Role;
pub use token::OpaqueToken;
pub use username::Username;

/// Why a value was refused. The message is shown to the client, so it never
/// repeats the value itself (it may be a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl Invalid {
    pub fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// True for characters that must never appear in single-line text fields:
/// control characters (CR/LF would allow header or log injection) and the
/// Unicode line/paragraph separators.
pub(crate) fn is_forbidden_char(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}
