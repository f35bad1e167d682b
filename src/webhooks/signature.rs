//! Standard Webhooks signatures: `v1,` + base64(HMAC-SHA-256(key,
//! "{id}.{timestamp}.{body}")), where the key is the base64 part of the
//! `whsec_…` secret. Several signatures (old and new secret during a
//! rotation) are separated by spaces.

use crate::crypto::hmac_sha256;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::Mac;
use rand::RngCore;

const PREFIX: &str = "whsec_";

#[derive(Debug, thiserror::Error)]
#[error("not a webhook secret")]
pub struct SecretError;

/// A new secret: `whsec_` and 32 random bytes in base64.
pub fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::rng().fill_bytes(&mut key);
    format!("{PREFIX}{}", STANDARD.encode(key))
}

/// The `webhook-signature` header for a message signed with each secret.
pub fn sign(secrets: &[&str], id: &str, timestamp: i64, body: &str) -> Result<String, SecretError> {
    let mut signatures = Vec::with_capacity(secrets.len());
    for secret in secrets {
        let key = secret.strip_prefix(PREFIX).ok_or(SecretError)?;
        let key = STANDARD.decode(key).map_err(|_| SecretError)?;
        let mut mac = hmac_sha256(&key);
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body.as_bytes());
        signatures.push(format!(
            "v1,{}",
            STANDARD.encode(mac.finalize().into_bytes())
        ));
    }
    Ok(signatures.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification (and of the
    /// reference libraries' tests).
    #[test]
    fn the_specification_example() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = r#"{"test": 2432232314}"#;
        let signature = sign(&[secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn one_signature_per_secret() {
        let (a, b) = (new_secret(), new_secret());
        let both = sign(&[&a, &b], "msg_1", 1, "{}").unwrap();
        let parts: Vec<&str> = both.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], sign(&[&a], "msg_1", 1, "{}").unwrap());
        assert!(sign(&["nope"], "msg_1", 1, "{}").is_err());
    }
}
