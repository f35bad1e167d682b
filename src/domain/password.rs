use super::Invalid;
use std::collections::HashSet;

/// A password that meets the length rule: 8 to 128 Unicode code points.
///
/// No composition rules, no trimming, no truncation: the exact string the
/// client sent is what gets hashed. `Debug` never shows the value.
#[derive(Clone, serde::Deserialize)]
#[serde(try_from = "String")]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 8;
    pub const MAX_CHARS: usize = 128;

    pub fn parse(input: String) -> Result<Self, Invalid> {
        let chars = input.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(Invalid::new("password must be at least 8 characters long"));
        }
        if chars > Self::MAX_CHARS {
            return Err(Invalid::new("password must be at most 128 characters long"));
        }
        Ok(Self(input))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Password {
    type Error = Invalid;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(value)
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Screens passwords against the bundled list of common passwords and against
/// words taken from the account itself (email, username, product name).
pub struct PasswordPolicy {
    common: HashSet<&'static str>,
}

const COMMON_PASSWORDS: &str = include_str!("../../data/common-passwords.txt");
const PRODUCT_WORDS: [&str; 1] = ["portcullis"];

impl PasswordPolicy {
    /// Loads the bundled list; called once at start-up.
    pub fn bundled() -> Self {
        Self {
            common: COMMON_PASSWORDS.lines().filter(|l| !l.is_empty()).collect(),
        }
    }

    pub fn common_password_count(&self) -> usize {
        self.common.len()
    }

    /// `context` holds words that identify the account: the email address, its
    /// local part, the username.
    pub fn check(&self, password: &Password, context: &[&str]) -> Result<(), Invalid> {
        let lowered = password.expose().to_lowercase();
        let stripped = strip_affixes(&lowered);
        if self.common.contains(lowered.as_str()) || self.common.contains(stripped.as_str()) {
            return Err(Invalid::new(
                "password is too common; choose a longer or less predictable one",
            ));
        }
        // Short words (under 4 characters) would refuse too much by accident.
        let refused = context
            .iter()
            .chain(PRODUCT_WORDS.iter())
            .map(|w| w.to_lowercase())
            .filter(|w| w.chars().count() >= 4)
            .any(|w| lowered.contains(&w));
        if refused {
            return Err(Invalid::new(
                "password must not be built from your email address, username or the service name",
            ));
        }
        Ok(())
    }
}

/// The password without leading and trailing digits and symbols, so that
/// `password2025!` is recognised as built from `password`.
fn strip_affixes(password: &str) -> String {
    password
        .trim_matches(|c: char| !c.is_alphabetic())
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> Password {
        Password::parse(s.to_string()).unwrap()
    }

    #[test]
    fn length_is_counted_in_code_points() {
        assert!(Password::parse("1234567".into()).is_err());
        assert!(Password::parse("😀😀😀😀😀😀😀😀".into()).is_ok());
        assert!(Password::parse("a".repeat(128)).is_ok());
        assert!(Password::parse("a".repeat(129)).is_err());
    }

    #[test]
    fn keeps_the_exact_input() {
        assert_eq!(pw(" spaces around ").expose(), " spaces around ");
    }

    #[test]
    fn debug_hides_the_value() {
        assert!(!format!("{:?}", pw("hunter2hunter2")).contains("hunter2"));
    }

    #[test]
    fn refuses_common_and_contextual_passwords() {
        let policy = PasswordPolicy::bundled();
        assert!(policy.common_password_count() > 10_000);
        assert!(policy.check(&pw("password1234"), &[]).is_err());
        assert!(policy.check(&pw("Qwertyuiop"), &[]).is_err());
        assert!(policy.check(&pw("alice2025!"), &["alice"]).is_err());
        assert!(policy
            .check(&pw("my-user-4f3a9b12-2025"), &["user-4f3a9b12"])
            .is_err());
        assert!(policy
            .check(&pw("bob has a long passphrase"), &["bob"])
            .is_ok());
        assert!(policy.check(&pw("Portcullis!1"), &[]).is_err());
        assert!(policy
            .check(&pw("correct horse battery staple"), &["alice"])
            .is_ok());
        assert!(policy.check(&pw("aaaaaaaaaaaaaaaaaaaa"), &[]).is_ok());
    }
}
