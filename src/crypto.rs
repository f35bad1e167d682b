//! Small cryptographic building blocks: random secrets, digests for storing
//! them, and authenticated encryption for key material at rest.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// 32 random bytes from the thread-local CSPRNG, base64url without padding
/// (43 characters, 256 bits): refresh tokens and link tokens.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A uniformly random 8-digit code, zero-padded.
pub fn random_code() -> String {
    format!("{:08}", rand::rng().random_range(0..100_000_000u32))
}

/// SHA-256 as lowercase hex: the stored form of high-entropy tokens.
pub fn sha256_hex(input: &str) -> String {
    hex(&Sha256::digest(input.as_bytes()))
}

/// Lowercase hex. (A `format!` per byte cost a refresh, which hashes
/// three tokens, about 4 % of its CPU.)
pub(crate) fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

// The one `unreachable!` in the crate, allowed here only: see the comment.
#[allow(clippy::unreachable)]
pub(crate) fn hmac_sha256(key: &[u8]) -> HmacSha256 {
    // HMAC is defined for keys of any length (long ones are hashed first);
    // the error only exists because `KeyInit` is shared with fixed-key MACs.
    <HmacSha256 as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"))
}

/// The server secret. Every use derives its own key from it, so that a key
/// leaked from one purpose says nothing about another.
#[derive(Clone)]
pub struct ServerSecret(Vec<u8>);

impl ServerSecret {
    pub fn new(secret: &str) -> Self {
        Self(secret.as_bytes().to_vec())
    }

    fn derive(&self, purpose: &str) -> [u8; 32] {
        // HMAC as a PRF keyed by the secret: the standard HKDF-Expand step for
        // a single output block.
        let mut mac = hmac_sha256(&self.0);
        mac.update(b"portcullis/v1/");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }

    pub fn code_hasher(&self) -> CodeHasher {
        CodeHasher {
            key: self.derive("email-code-hmac"),
        }
    }

    pub fn key_cipher(&self) -> KeyCipher {
        KeyCipher {
            key: self.derive("signing-key-encryption"),
        }
    }

    /// For mail waiting in the outbox (it carries live codes).
    pub fn mail_cipher(&self) -> KeyCipher {
        KeyCipher {
            key: self.derive("mail-outbox-encryption"),
        }
    }

    /// For codes kept so that they can be mailed again unchanged.
    pub fn code_cipher(&self) -> KeyCipher {
        KeyCipher {
            key: self.derive("resendable-code-encryption"),
        }
    }

    /// Derives each refresh token's successor from the token itself.
    pub fn refresh_chain(&self) -> RefreshChain {
        RefreshChain {
            key: self.derive("refresh-token-successor"),
        }
    }

    /// For TOTP secrets (second factors).
    pub fn factor_secret_cipher(&self) -> KeyCipher {
        KeyCipher {
            key: self.derive("totp-secret-encryption"),
        }
    }

    /// For the state of WebAuthn ceremonies in progress.
    pub fn passkey_ceremony_cipher(&self) -> KeyCipher {
        KeyCipher {
            key: self.derive("passkey-ceremony-encryption"),
        }
    }

    /// For webhook endpoints' signing secrets.
    pub fn webhook_secret_cipher(&self) -> KeyCipher {
        KeyCipher {
            key: self.derive("webhook-secret-encryption"),
        }
    }

    /// Keys the stand-in credential ids of passkey sign-ins for unknown
    /// addresses.
    pub fn passkey_stand_in_key(&self) -> [u8; 32] {
        self.derive("passkey-stand-in-credential")
    }

    /// Keys the hashes of recovery codes.
    pub fn recovery_code_key(&self) -> [u8; 32] {
        self.derive("recovery-code-hmac")
    }

    /// For tokens that social providers issued to us.
    pub fn provider_token_cipher(&self) -> KeyCipher {
        KeyCipher {
            key: self.derive("provider-token-encryption"),
        }
    }
}

/// HMAC-SHA-256 of short codes, bound to the address and action they were
/// issued for. A plain hash of 8 digits could be reversed offline in seconds.
#[derive(Clone)]
pub struct CodeHasher {
    key: [u8; 32],
}

impl CodeHasher {
    pub fn hash(&self, action: &str, email: &str, code: &str) -> String {
        let mut mac = hmac_sha256(&self.key);
        for part in [action, email, code] {
            // Length-prefix each part so that no two inputs collide.
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        hex(&mac.finalize().into_bytes())
    }

    /// A stable, keyed stand-in for an address in the logs: the same
    /// address always gives the same 16 hex digits, which tell nothing
    /// without the server secret.
    pub fn pseudonym(&self, email: &str) -> String {
        let mut digest = self.hash("log", email, "");
        digest.truncate(16);
        digest
    }
}

/// The successor of a refresh token is HMAC(key, token): the same token
/// always has the same successor. That is how a token presented again within
/// the reuse window gets the successor it was already given, without the
/// successor ever being stored in clear (only its SHA-256 is), and without
/// anyone who lacks the server secret being able to compute it.
#[derive(Clone)]
pub struct RefreshChain {
    key: [u8; 32],
}

impl RefreshChain {
    pub fn successor(&self, token: &str) -> String {
        let mut mac = hmac_sha256(&self.key);
        mac.update(token.as_bytes());
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("key material could not be decrypted: wrong PORTCULLIS_SECRET or corrupted data")]
pub struct DecryptError;

#[derive(Debug, thiserror::Error)]
#[error("key material could not be encrypted")]
pub struct EncryptError;

/// XChaCha20-Poly1305 for secrets stored in the database (signing keys,
/// provider tokens). The stored form
/// is base64url(nonce || ciphertext); `context` (the key id) is bound as
/// associated data so that a ciphertext cannot be moved to another row.
#[derive(Clone)]
pub struct KeyCipher {
    key: [u8; 32],
}

impl KeyCipher {
    pub fn encrypt(&self, plaintext: &[u8], context: &str) -> Result<String, EncryptError> {
        let cipher = XChaCha20Poly1305::new(&self.key.into());
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| EncryptError)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(URL_SAFE_NO_PAD.encode(out))
    }

    pub fn decrypt(&self, stored: &str, context: &str) -> Result<Vec<u8>, DecryptError> {
        let bytes = URL_SAFE_NO_PAD.decode(stored).map_err(|_| DecryptError)?;
        if bytes.len() < 24 {
            return Err(DecryptError);
        }
        let (nonce, sealed) = bytes.split_at(24);
        XChaCha20Poly1305::new(&self.key.into())
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| DecryptError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn digests_are_lowercase_hex() {
        // FIPS 180-2's "abc" vector.
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn tokens_are_256_bit_base64url_and_distinct() {
        let tokens: HashSet<String> = (0..1000).map(|_| random_token()).collect();
        assert_eq!(tokens.len(), 1000);
        assert!(tokens.iter().all(|t| t.len() == 43));
    }

    #[test]
    fn codes_are_eight_digits() {
        for _ in 0..1000 {
            let code = random_code();
            assert_eq!(code.len(), 8);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn code_hash_is_bound_to_action_and_email() {
        let hasher = ServerSecret::new("s").code_hasher();
        let base = hasher.hash("verify_email", "a@x.io", "12345678");
        assert_eq!(base, hasher.hash("verify_email", "a@x.io", "12345678"));
        assert_ne!(base, hasher.hash("sign_in", "a@x.io", "12345678"));
        assert_ne!(base, hasher.hash("verify_email", "b@x.io", "12345678"));
        assert_ne!(
            base,
            ServerSecret::new("t")
                .code_hasher()
                .hash("verify_email", "a@x.io", "12345678")
        );
    }

    #[test]
    fn key_cipher_round_trips_and_detects_tampering() {
        let cipher = ServerSecret::new("secret").key_cipher();
        let sealed = cipher.encrypt(b"private key", "kid-1").unwrap();
        assert_eq!(cipher.decrypt(&sealed, "kid-1").unwrap(), b"private key");
        assert!(cipher.decrypt(&sealed, "kid-2").is_err());
        assert!(ServerSecret::new("other")
            .key_cipher()
            .decrypt(&sealed, "kid-1")
            .is_err());
        assert!(cipher.decrypt("not base64!", "kid-1").is_err());
    }
}
