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
        // Checked on what was sent: a line break or tab at either end is no
        // less forbidden for being trimmable.
        if input.chars().any(is_forbidden_char) {
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

    /// An http(s) URL of a plain shape that every client parses alike: a
    /// host name (letters, digits, dots, hyphens), an optional port, then
    /// any path, query or fragment, all printable ASCII. No user info, no
    /// IP-literal brackets, nothing percent-encoding would not cover.
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        if input.chars().count() > Self::MAX_CHARS {
            return Err(Invalid::new("must be at most 2048 characters long"));
        }
        if !input.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Invalid::new(
                "must be printable ASCII without spaces (percent-encode other characters)",
            ));
        }
        if !is_web_url(input) {
            return Err(Invalid::new("must be an http(s) URL with a host name"));
        }
        Ok(Self(input.to_string()))
    }
}

/// The grammar of the pattern in the document (`domain::schema`).
fn is_web_url(input: &str) -> bool {
    let Some(rest) = input
        .strip_prefix("https://")
        .or_else(|| input.strip_prefix("http://"))
    else {
        return false;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = match authority.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let alnum = |c: char| c.is_ascii_alphanumeric();
    let host_ok = host.starts_with(alnum)
        && host.ends_with(alnum)
        && host.chars().all(|c| alnum(c) || c == '.' || c == '-');
    let port_ok = port.is_none_or(|port| {
        let digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
        let canonical = port == "0" || !port.starts_with('0');
        digits && canonical && port.len() <= 5 && port.parse::<u32>().is_ok_and(|p| p <= 65535)
    });
    host_ok && port_ok
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
        // Found by the contract fuzzer: trimmable control characters too.
        for edge in ["\u{a0}\u{c}N", "Ada\n", "\tAda"] {
            assert!(ProfileText::parse(edge).is_err(), "{edge:?}");
        }
        assert!(ProfileText::parse(&"x".repeat(201)).is_err());
        assert!(InfoText::parse(&"x".repeat(2000)).is_ok());
    }

    #[test]
    fn avatar_must_be_a_web_url() {
        for good in [
            "https://cdn.example.com/a.png",
            "http://localhost:8080/a?s=64#x",
            "https://a",
        ] {
            assert!(AvatarUrl::parse(good).is_ok(), "{good:?}");
        }
        for bad in [
            "javascript:alert(1)",
            "https://",
            "ftp://x/y",
            "https:///x",
            "https://a b",
            "http://[x",
            "http://?q",
            "http://a:65536/",
            "http://a:080/",
            "http://user@host/",
            "HTTPS://example.com",
            "https://caf\u{e9}.example",
        ] {
            assert!(AvatarUrl::parse(bad).is_err(), "{bad:?}");
        }
    }
}
