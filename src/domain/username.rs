use super::Invalid;
use serde::{Deserialize, Serialize};

/// A public handle: 3 to 32 characters of `a-z`, `0-9`, `.`, `_`, `-`,
/// starting with a letter or digit, normalised to lower case. It never contains
/// `@`, so a sign-in identifier is unambiguous.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let lowered = input.to_lowercase();
        let len = lowered.chars().count();
        if !(3..=32).contains(&len) {
            return Err(Invalid::new("username must be 3 to 32 characters long"));
        }
        if !lowered
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        {
            return Err(Invalid::new(
                "username may only contain letters a-z, digits, '.', '_' and '-'",
            ));
        }
        if !lowered.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(Invalid::new("username must start with a letter or a digit"));
        }
        Ok(Self(lowered))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Username {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Username> for String {
    fn from(value: Username) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case() {
        assert_eq!(Username::parse("Ada_L").unwrap().as_str(), "ada_l");
    }

    #[test]
    fn refuses_bad_handles() {
        for bad in [
            "ab",
            "a@b.com",
            "_ada",
            "ada lovelace",
            "ädä",
            &"a".repeat(33),
            "x'; DROP",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
