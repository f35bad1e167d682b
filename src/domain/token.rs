use super::Invalid;
use serde::Deserialize;

/// A token the client got from us and hands back as it is: a refresh token,
/// a link token, the one-time code of a social sign-in or of a link. Only its
/// shape is checked here (1 to 1024 printable ASCII characters), before any
/// lookup; whether it is valid is for the flow to say.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct OpaqueToken(String);

impl OpaqueToken {
    pub const MAX_LEN: usize = 1024;

    pub fn parse(input: String) -> Result<Self, Invalid> {
        if input.is_empty() || input.len() > Self::MAX_LEN {
            return Err(Invalid::new("must be 1 to 1024 characters long"));
        }
        if !input.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Invalid::new("must be printable ASCII without spaces"));
        }
        Ok(Self(input))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OpaqueToken {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

/// Tokens are secrets: never in a log line.
impl std::fmt::Debug for OpaqueToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OpaqueToken(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_shape_is_checked() {
        assert!(OpaqueToken::parse("aB3-_.~x".into()).is_ok());
        for bad in ["", "has space", "caf\u{e9}", &"x".repeat(1025)] {
            assert!(OpaqueToken::parse(bad.to_string()).is_err(), "{bad:?}");
        }
        assert_eq!(
            format!("{:?}", OpaqueToken::parse("s3cret".into()).unwrap()),
            "OpaqueToken(***)"
        );
    }
}
