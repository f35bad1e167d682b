//! Second factors as a service: TOTP secrets (sealed at rest), their
//! `otpauth://` URIs, and recovery codes (stored as keyed hashes).

pub mod totp;

use crate::crypto::{hex, hmac_sha256, DecryptError, EncryptError, KeyCipher, ServerSecret};
use data_encoding::BASE32_NOPAD;
use hmac::Mac;
use rand::RngCore;
use uuid::Uuid;

/// How many recovery codes a user gets.
pub const RECOVERY_CODES: usize = 10;
/// Bytes of a TOTP secret: 160 bits, as RFC 4226 recommends.
const SECRET_BYTES: usize = 20;
/// Bytes of a recovery code: 80 bits, 16 base32 characters.
const RECOVERY_CODE_BYTES: usize = 10;

#[derive(Clone)]
pub struct SecondFactors {
    cipher: KeyCipher,
    recovery_key: [u8; 32],
    issuer: String,
}

/// A new TOTP secret, in clear: shown once at enrolment.
pub struct NewSecret {
    pub bytes: Vec<u8>,
    /// RFC 4648 base32 without padding, as authenticator apps take it.
    pub base32: String,
}

impl SecondFactors {
    pub fn new(secret: &ServerSecret, issuer: &str) -> Self {
        Self {
            cipher: secret.factor_secret_cipher(),
            recovery_key: secret.recovery_code_key(),
            issuer: issuer.trim().to_string(),
        }
    }

    pub fn new_secret() -> NewSecret {
        let mut bytes = vec![0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        let base32 = BASE32_NOPAD.encode(&bytes);
        NewSecret { bytes, base32 }
    }

    /// Seals a secret for the factor `factor_id` (bound to it).
    pub fn seal(&self, factor_id: Uuid, secret: &[u8]) -> Result<String, EncryptError> {
        self.cipher.encrypt(secret, &factor_id.to_string())
    }

    pub fn open(&self, factor_id: Uuid, sealed: &str) -> Result<Vec<u8>, DecryptError> {
        self.cipher.decrypt(sealed, &factor_id.to_string())
    }

    /// The key URI authenticator apps read (the Google Authenticator format).
    pub fn otpauth_uri(&self, secret_base32: &str, account: &str) -> String {
        let issuer = percent_encode(&self.issuer);
        format!(
            "otpauth://totp/{issuer}:{account}?secret={secret_base32}&issuer={issuer}\
             &algorithm=SHA1&digits={digits}&period={period}",
            account = percent_encode(account),
            digits = totp::DIGITS,
            period = totp::PERIOD_SECS,
        )
    }

    /// Ten new recovery codes in the form they are shown:
    /// `xxxx-xxxx-xxxx-xxxx` (lower-case base32).
    pub fn new_recovery_codes() -> Vec<String> {
        (0..RECOVERY_CODES)
            .map(|_| {
                let mut bytes = [0u8; RECOVERY_CODE_BYTES];
                rand::rng().fill_bytes(&mut bytes);
                let code = BASE32_NOPAD.encode(&bytes).to_ascii_lowercase();
                code.as_bytes()
                    .chunks(4)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect::<Vec<_>>()
                    .join("-")
            })
            .collect()
    }

    /// HMAC-SHA-256 of a recovery code in canonical form (lower case, no
    /// separators), bound to its user: a leaked table reveals no code, and a
    /// row cannot be moved to another user.
    pub fn hash_recovery_code(&self, user_id: Uuid, canonical: &str) -> String {
        let mut mac = hmac_sha256(&self.recovery_key);
        mac.update(user_id.as_bytes());
        mac.update(canonical.as_bytes());
        hex(&mac.finalize().into_bytes())
    }
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::RecoveryCode;

    #[test]
    fn recovery_codes_are_ten_distinct_80_bit_codes_that_parse() {
        let codes = SecondFactors::new_recovery_codes();
        assert_eq!(codes.len(), 10);
        let distinct: std::collections::HashSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), 10);
        for code in &codes {
            assert_eq!(code.len(), 19, "{code}");
            assert!(RecoveryCode::parse(code).is_ok(), "{code}");
        }
    }

    #[test]
    fn secrets_round_trip_only_for_their_factor() {
        let factors = SecondFactors::new(&ServerSecret::new("s".repeat(32).as_str()), "Acme");
        let secret = SecondFactors::new_secret();
        assert_eq!(secret.base32.len(), 32);
        let id = Uuid::now_v7();
        let sealed = factors.seal(id, &secret.bytes).unwrap();
        assert_eq!(factors.open(id, &sealed).unwrap(), secret.bytes);
        assert!(factors.open(Uuid::now_v7(), &sealed).is_err());
    }

    #[test]
    fn the_uri_names_issuer_account_and_parameters() {
        let factors = SecondFactors::new(&ServerSecret::new("s"), "Acme Inc");
        let uri = factors.otpauth_uri("JBSWY3DPEHPK3PXP", "ada+1@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/Acme%20Inc:ada%2B1%40example.com?secret=JBSWY3DPEHPK3PXP\
             &issuer=Acme%20Inc&algorithm=SHA1&digits=6&period=30"
        );
    }

    #[test]
    fn recovery_hashes_are_bound_to_the_user() {
        let factors = SecondFactors::new(&ServerSecret::new("s"), "Acme");
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let code = "abcdefgh234567ab";
        assert_eq!(
            factors.hash_recovery_code(a, code),
            factors.hash_recovery_code(a, code)
        );
        assert_ne!(
            factors.hash_recovery_code(a, code),
            factors.hash_recovery_code(b, code)
        );
    }
}
