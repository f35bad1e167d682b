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

    /// The authenticator assurance level (NIST SP 800-63B): every method
    /// here is one factor.
    pub fn aal(self) -> &'static str {
        "aal1"
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
}
