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
            AuthMethod::Unknown => &[],
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
    /// second factor, else `aal1`.
    pub fn aal(self) -> &'static str {
        if self.second.is_some() {
            "aal2"
        } else {
            "aal1"
        }
    }

    pub fn is_aal2(self) -> bool {
        self.second.is_some()
    }

    /// The RFC 8176 `amr` values: each method once, and `mfa` when there
    /// were two factors.
    pub fn amr(self) -> Vec<&'static str> {
        let mut amr: Vec<&'static str> = self.first.amr().to_vec();
        if let Some(second) = self.second {
            if !amr.contains(&second.amr()) {
                amr.push(second.amr());
            }
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
    }
}
