use super::{is_forbidden_char, Invalid};
use serde::{Deserialize, Serialize};

/// An email address, normalised to lower case.
///
/// Validation is deliberately simple (one `@`, a dotted domain, no whitespace
/// or control characters, at most 254 characters): the only real proof that an
/// address works is the code we mail to it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        if input.is_empty() {
            return Err(Invalid::new("email is required"));
        }
        if input.chars().count() > Self::MAX_LEN {
            return Err(Invalid::new("email is longer than 254 characters"));
        }
        if input
            .chars()
            .any(|c| c.is_whitespace() || is_forbidden_char(c))
        {
            return Err(Invalid::new(
                "email must not contain spaces or control characters",
            ));
        }
        let (local, domain) = input
            .split_once('@')
            .ok_or_else(|| Invalid::new("email must contain an @"))?;
        if local.is_empty() || domain.contains('@') {
            return Err(Invalid::new(
                "email must have exactly one @ and a local part",
            ));
        }
        if local
            .chars()
            .any(|c| matches!(c, '<' | '>' | '"' | ',' | ';' | '\\'))
        {
            return Err(Invalid::new(
                "email local part contains a forbidden character",
            ));
        }
        let labels_ok = domain.split('.').count() >= 2
            && domain
                .split('.')
                .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        if !labels_ok {
            return Err(Invalid::new("email domain is not a valid host name"));
        }
        Ok(Self(input.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before the `@`, used to refuse passwords built from it.
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or_default()
    }
}

impl TryFrom<String> for Email {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Email> for String {
    fn from(value: Email) -> Self {
        value.0
    }
}

impl AsRef<str> for Email {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_and_keeps_plus_tags() {
        let email = Email::parse("Ada.Lovelace+Auth@Example.COM").unwrap();
        assert_eq!(email.as_str(), "ada.lovelace+auth@example.com");
        assert_eq!(email.local_part(), "ada.lovelace+auth");
    }

    #[test]
    fn accepts_international_domains() {
        assert!(Email::parse("jürgen@bücher.de").is_ok());
    }

    #[test]
    fn refuses_malformed_addresses() {
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@b@example.com",
            "a@localhost",
            "a@example..com",
            "a@-example.com",
            " a@example.com",
            "a@example.com ",
            "a@example.com\r\nBcc: evil@example.com",
            "a b@example.com",
            "<a>@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }
}
