use super::Invalid;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A language Portcullis writes mail in: English (the default) or German.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[schema(example = "en")]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    #[default]
    En,
    De,
}

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::En, Locale::De];

    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::De => "de",
        }
    }

    /// A language tag such as `de`, `de-AT` or `EN_us`; only its primary
    /// subtag counts.
    pub fn parse(tag: &str) -> Result<Self, Invalid> {
        let primary = tag.split(['-', '_']).next().unwrap_or_default();
        Self::ALL
            .into_iter()
            .find(|l| l.as_str().eq_ignore_ascii_case(primary.trim()))
            .ok_or_else(|| Invalid::new("unsupported locale (supported: en, de)"))
    }

    /// The best supported language of an `Accept-Language` header (RFC 9110
    /// §12.5.4): highest weight first, the earlier one on a tie; `q=0` means
    /// "not this one".
    pub fn negotiate(accept_language: &str) -> Option<Self> {
        let mut best: Option<(u16, Locale)> = None;
        for range in accept_language.split(',') {
            let mut parts = range.split(';');
            let tag = parts.next().unwrap_or_default().trim();
            let weight = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .map_or(Some(1000), parse_weight);
            let (Some(weight), Ok(locale)) = (weight, Self::parse(tag)) else {
                continue;
            };
            if weight > 0 && best.is_none_or(|(w, _)| weight > w) {
                best = Some((weight, locale));
            }
        }
        best.map(|(_, locale)| locale)
    }
}

/// `q` values in thousandths: `0.8` → 800; malformed → `None`.
fn parse_weight(q: &str) -> Option<u16> {
    let value: f32 = q.trim().parse().ok()?;
    (0.0..=1.0)
        .contains(&value)
        .then(|| (value * 1000.0).round() as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_subtag_decides() {
        assert_eq!(Locale::parse("de-AT").unwrap(), Locale::De);
        assert_eq!(Locale::parse("EN_us").unwrap(), Locale::En);
        assert!(Locale::parse("fr").is_err());
        assert!(Locale::parse("").is_err());
    }

    #[test]
    fn accept_language_is_negotiated_by_weight() {
        assert_eq!(
            Locale::negotiate("de-DE,de;q=0.9,en;q=0.8"),
            Some(Locale::De)
        );
        assert_eq!(
            Locale::negotiate("fr, en;q=0.5, de;q=0.7"),
            Some(Locale::De)
        );
        assert_eq!(Locale::negotiate("en;q=0.5, de;q=0.5"), Some(Locale::En));
        assert_eq!(Locale::negotiate("de;q=0, en;q=0.1"), Some(Locale::En));
        assert_eq!(Locale::negotiate("fr, ja"), None);
        assert_eq!(Locale::negotiate("*"), None);
        assert_eq!(Locale::negotiate("de;q=abc"), None);
    }
}
