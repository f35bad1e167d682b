use super::Invalid;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// What an emailed code proves when it is confirmed: `verify_email` turns a
/// pending registration into a verified user, `sign_in` signs in without a
/// password, `reset_password` sets a new password (every session ends),
/// `change_email` moves the account to the address the code was sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = "sign_in")]
#[serde(rename_all = "snake_case")]
pub enum CodeAction {
    /// Turns a pending registration into a verified user.
    VerifyEmail,
    /// Signs in without a password (also for social-only users).
    SignIn,
    /// Sets a new password; every session ends.
    ResetPassword,
    /// Moves the account to the address the code was sent to.
    ChangeEmail,
}

impl CodeAction {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeAction::VerifyEmail => "verify_email",
            CodeAction::SignIn => "sign_in",
            CodeAction::ResetPassword => "reset_password",
            CodeAction::ChangeEmail => "change_email",
        }
    }
}

/// The 8-digit code a person types from the mail.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct VerificationCode(String);

impl VerificationCode {
    pub const DIGITS: usize = 8;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        if input.len() == Self::DIGITS && input.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(input.to_string()))
        } else {
            Err(Invalid::new("code must be exactly 8 digits"))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for VerificationCode {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl std::fmt::Debug for VerificationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VerificationCode(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_eight_ascii_digits() {
        assert!(VerificationCode::parse("01234567").is_ok());
        for bad in ["1234567", "123456789", "1234567a", "١٢٣٤٥٦٧٨", " 1234567"] {
            assert!(VerificationCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn actions_use_snake_case() {
        let action: CodeAction = serde_json::from_str("\"verify_email\"").unwrap();
        assert_eq!(action.as_str(), "verify_email");
    }
}
