use super::{is_forbidden_char, Invalid};
use serde::{Deserialize, Serialize};

/// Free-form single-line profile text of at most `MAX` characters, trimmed,
/// without control characters. Empty after trimming is refused: clear a field
/// with `null` instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BoundedText<const MAX: usize>(String);

/// Names, phone number, city.
pub type ProfileText = BoundedText<200>;
/// The free-form `info` field of a user's profile.
pub type InfoText = BoundedText<2000>;

impl<const MAX: usize> BoundedText<MAX> {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(Invalid::new("must not be empty (send null to clear it)"));
        }
        // The limit counts what was sent, spaces included, as the spec says.
        if input.chars().count() > MAX {
            return Err(Invalid(format!("must be at most {MAX} characters long")));
        }
        if trimmed.chars().any(is_forbidden_char) {
            return Err(Invalid::new("must not contain control characters"));
        }
        Ok(Self(trimmed.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> TryFrom<String> for BoundedText<MAX> {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl<const MAX: usize> From<BoundedText<MAX>> for String {
    fn from(value: BoundedText<MAX>) -> Self {
        value.0
    }
}

/// An `https://` (or `http://`) URL of at most 2048 characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AvatarUrl(String);

impl AvatarUrl {
    pub const MAX_CHARS: usize = 2048;

    /// An http(s) URL that parses (host included), in printable ASCII: every
    /// client that shows the avatar must be able to parse it too.
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        if input.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::new("must be at most 2048 characters long"));
        }
        if !input.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Invalid::new(
                "must be printable ASCII without spaces (percent-encode other characters)",
            ));
        }
        let parsed = url::Url::parse(input).map_err(|_| Invalid::new("must be an http(s) URL"))?;
        let web = matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some();
        // As the pattern in the document says: a lower-case scheme, then the
        // host at once (WHATWG parsing would also take `HTTPS:` or `https:///x`).
        let rest = input
            .strip_prefix("https://")
            .or_else(|| input.strip_prefix("http://"));
        if !web || rest.is_none_or(|rest| rest.starts_with('/')) {
            return Err(Invalid::new("must be an http(s) URL"));
        }
        Ok(Self(input.to_string()))
    }
}

impl TryFrom<String> for AvatarUrl {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<AvatarUrl> for String {
    fn from(value: AvatarUrl) -> Self {
        value.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_text_is_trimmed_and_bounded() {
        assert_eq!(ProfileText::parse("  Ada ").unwrap().as_str(), "Ada");
        assert!(ProfileText::parse("   ").is_err());
        assert!(ProfileText::parse("a\nb").is_err());
        assert!(ProfileText::parse(&"x".repeat(201)).is_err());
        assert!(InfoText::parse(&"x".repeat(2000)).is_ok());
    }

    #[test]
    fn avatar_must_be_a_web_url() {
        assert!(AvatarUrl::parse("https://cdn.example.com/a.png").is_ok());
        for bad in [
            "javascript:alert(1)",
            "https://",
            "ftp://x/y",
            "https:///x",
            "https://a b",
            "http://[x",
            "HTTPS://example.com",
            "https://caf\u{e9}.example",
        ] {
            assert!(AvatarUrl::parse(bad).is_err(), "{bad:?}");
        }
    }
}
