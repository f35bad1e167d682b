//! Second factors and what a person types to use one.

use super::Invalid;
use serde::Deserialize;

/// The second factor that raised a session to `aal2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondFactor {
    /// A TOTP code (RFC 6238) from an authenticator app.
    Totp,
    /// One of the account's single-use recovery codes.
    RecoveryCode,
    /// A device-bound passkey (WebAuthn).
    Passkey,
    /// A synced passkey.
    SyncedPasskey,
}

impl SecondFactor {
    /// As stored in `sessions.second_factor`.
    pub fn as_str(self) -> &'static str {
        match self {
            SecondFactor::Totp => "totp",
            SecondFactor::RecoveryCode => "recovery_code",
            SecondFactor::Passkey => "passkey",
            SecondFactor::SyncedPasskey => "synced_passkey",
        }
    }

    /// The RFC 8176 `amr` value. A recovery code is one of a printed list
    /// of one-time passwords, so both are `otp`; the session says which. A
    /// passkey is a hardware- or software-secured key.
    pub fn amr(self) -> &'static str {
        match self {
            SecondFactor::Totp | SecondFactor::RecoveryCode => "otp",
            SecondFactor::Passkey => "hwk",
            SecondFactor::SyncedPasskey => "swk",
        }
    }

    /// The passkey factor for a credential's backup eligibility.
    pub fn passkey(backup_eligible: bool) -> Self {
        if backup_eligible {
            SecondFactor::SyncedPasskey
        } else {
            SecondFactor::Passkey
        }
    }
}

impl TryFrom<String> for SecondFactor {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "totp" => Ok(SecondFactor::Totp),
            "recovery_code" => Ok(SecondFactor::RecoveryCode),
            "passkey" => Ok(SecondFactor::Passkey),
            "synced_passkey" => Ok(SecondFactor::SyncedPasskey),
            _ => Err(format!("unknown second factor {value:?}")),
        }
    }
}

/// The 6-digit code an authenticator app shows.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct TotpCode(String);

impl TotpCode {
    pub const DIGITS: usize = 6;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        if input.len() == Self::DIGITS && input.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(input.to_string()))
        } else {
            Err(Invalid::new("code must be exactly 6 digits"))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TotpCode {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl std::fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpCode(***)")
    }
}

/// A recovery code as typed: 16 base32 characters (80 bits), in any case,
/// with or without the hyphens and spaces it is shown with. Kept in the
/// canonical form (lower case, no separators) that is hashed.
#[derive(Clone, Deserialize)]
#[serde(try_from = "String")]
pub struct RecoveryCode(String);

impl RecoveryCode {
    pub const CHARS: usize = 16;
    /// The longest input accepted (separators included).
    pub const MAX_INPUT: usize = 32;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let invalid = || Invalid::new("must be a recovery code: 16 letters and digits 2-7");
        if input.len() > Self::MAX_INPUT {
            return Err(invalid());
        }
        let canonical: String = input
            .chars()
            .filter(|c| *c != '-' && *c != ' ')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        let base32 = |c: char| c.is_ascii_lowercase() || ('2'..='7').contains(&c);
        if canonical.len() == Self::CHARS && canonical.chars().all(base32) {
            Ok(Self(canonical))
        } else {
            Err(invalid())
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RecoveryCode {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl std::fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryCode(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totp_codes_are_six_ascii_digits() {
        assert!(TotpCode::parse("012345").is_ok());
        for bad in ["12345", "1234567", "12345a", "١٢٣٤٥٦", " 12345"] {
            assert!(TotpCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn recovery_codes_are_read_as_shown_or_typed() {
        let shown = RecoveryCode::parse("abcd-efgh-2345-67ab").unwrap();
        let typed = RecoveryCode::parse("ABCD EFGH 2345 67AB").unwrap();
        assert_eq!(shown.expose(), "abcdefgh234567ab");
        assert_eq!(shown.expose(), typed.expose());
        for bad in [
            "abcd-efgh-2345-67a",
            "abcd-efgh-2345-67a1",
            "ab",
            &"a".repeat(40),
        ] {
            assert!(RecoveryCode::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stored_names_read_back() {
        for factor in [SecondFactor::Totp, SecondFactor::RecoveryCode] {
            let stored = factor.as_str().to_string();
            assert_eq!(SecondFactor::try_from(stored), Ok(factor));
        }
    }
}
