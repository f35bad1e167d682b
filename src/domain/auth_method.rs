/// How the person behind a session proved who they are. It becomes the
/// `amr` (RFC 8176) and, with the time, the `auth_time` of the session's
/// access tokens, so that other services can tell a password from an
/// emailed code from a sign-in at another provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    Password,
    /// A code or link mailed to the address (sign-in, sign-up, invitation).
    EmailCode,
    /// A sign-in at a social or OpenID provider.
    Provider,
    /// A passkey bound to its device (not backup-eligible), with user
    /// verification.
    Passkey,
    /// A passkey that syncs between devices (backup-eligible), with user
    /// verification.
    SyncedPasskey,
    /// A session opened before the method was recorded.
    Unknown,
}

impl AuthMethod {
    /// As stored in `sessions.auth_method`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Password => "password",
            AuthMethod::EmailCode => "email_code",
            AuthMethod::Provider => "provider",
            AuthMethod::Passkey => "passkey",
            AuthMethod::SyncedPasskey => "synced_passkey",
            AuthMethod::Unknown => "unknown",
        }
    }

    /// The RFC 8176 `amr` values. RFC 8176 registers none for a sign-in
    /// delegated to another identity provider: `fed` is the value Microsoft
    /// Entra ID uses for it.
    pub fn amr(self) -> &'static [&'static str] {
        match self {
            AuthMethod::Password => &["pwd"],
            AuthMethod::EmailCode => &["otp"],
            AuthMethod::Provider => &["fed"],
            // A key in hardware or in software (a synced passkey's private
            // key leaves the device), and a user present.
            AuthMethod::Passkey => &["hwk", "user"],
            AuthMethod::SyncedPasskey => &["swk", "user"],
            AuthMethod::Unknown => &[],
        }
    }

    /// A passkey with user verification is two factors in one: the key the
    /// person has, unlocked by a PIN or biometric the device checked (NIST
    /// SP 800-63B counts such a multi-factor cryptographic authenticator,
    /// synced ones included, at AAL2).
    pub fn is_multi_factor(self) -> bool {
        matches!(self, AuthMethod::Passkey | AuthMethod::SyncedPasskey)
    }

    /// The passkey method for a credential's backup eligibility.
    pub fn passkey(backup_eligible: bool) -> Self {
        if backup_eligible {
            AuthMethod::SyncedPasskey
        } else {
            AuthMethod::Passkey
        }
    }
}

/// How strongly a session was proven: its first factor and, once the person
/// gave one, its second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assurance {
    pub first: AuthMethod,
    pub second: Option<super::SecondFactor>,
}

impl Assurance {
    /// The authenticator assurance level (NIST SP 800-63B): `aal2` with a
    /// second factor or a passkey, else `aal1`.
    pub fn aal(self) -> &'static str {
        if self.is_aal2() {
            "aal2"
        } else {
            "aal1"
        }
    }

    pub fn is_aal2(self) -> bool {
        self.second.is_some() || self.first.is_multi_factor()
    }

    /// The RFC 8176 `amr` values: each method once, and `mfa` when there
    /// were two factors.
    pub fn amr(self) -> Vec<&'static str> {
        let mut amr: Vec<&'static str> = self.first.amr().to_vec();
        if let Some(second) = self.second {
            if !amr.contains(&second.amr()) {
                amr.push(second.amr());
            }
        }
        if self.is_aal2() {
            amr.push("mfa");
        }
        amr
    }
}

impl TryFrom<String> for AuthMethod {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Ok(match value.as_str() {
            "password" => AuthMethod::Password,
            "email_code" => AuthMethod::EmailCode,
            "provider" => AuthMethod::Provider,
            "passkey" => AuthMethod::Passkey,
            "synced_passkey" => AuthMethod::SyncedPasskey,
            "unknown" => AuthMethod::Unknown,
            _ => return Err(format!("unknown authentication method {value:?}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_read_back() {
        for method in [
            AuthMethod::Password,
            AuthMethod::EmailCode,
            AuthMethod::Provider,
            AuthMethod::Passkey,
            AuthMethod::SyncedPasskey,
            AuthMethod::Unknown,
        ] {
            let stored = method.as_str().to_string();
            assert_eq!(AuthMethod::try_from(stored), Ok(method));
        }
        assert!(AuthMethod::try_from("pwd".to_string()).is_err());
    }

    #[test]
    fn a_second_factor_is_aal2_and_mfa() {
        use crate::domain::SecondFactor;
        let one = Assurance {
            first: AuthMethod::Password,
            second: None,
        };
        assert_eq!((one.aal(), one.amr()), ("aal1", vec!["pwd"]));
        let two = Assurance {
            second: Some(SecondFactor::Totp),
            ..one
        };
        assert_eq!((two.aal(), two.amr()), ("aal2", vec!["pwd", "otp", "mfa"]));
        let code_then_otp = Assurance {
            first: AuthMethod::EmailCode,
            second: Some(SecondFactor::RecoveryCode),
        };
        assert_eq!(code_then_otp.amr(), vec!["otp", "mfa"]);
        let passkey = Assurance {
            first: AuthMethod::SyncedPasskey,
            second: None,
        };
        assert_eq!(
            (passkey.aal(), passkey.amr()),
            ("aal2", vec!["swk", "user", "mfa"])
        );
        let password_then_key = Assurance {
            first: AuthMethod::Password,
            second: Some(SecondFactor::Passkey),
        };
        assert_eq!(password_then_key.amr(), vec!["pwd", "hwk", "mfa"]);
    }
}
