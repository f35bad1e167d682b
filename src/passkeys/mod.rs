//! Passkeys as a service: the WebAuthn relying party (`webauthn-rs`, the
//! library Kanidm is built on) configured from the settings, and the state
//! of ceremonies sealed for the database, so that any instance finishes a
//! ceremony another one started.

use crate::config::PasskeySettings;
use crate::crypto::{DecryptError, EncryptError, KeyCipher, ServerSecret};
use serde::{de::DeserializeOwned, Serialize};
use std::time::Duration;
use uuid::Uuid;
use webauthn_rs::prelude::{Webauthn, WebauthnBuilder};

pub use webauthn_rs::prelude::{
    AuthenticationResult, CreationChallengeResponse, CredentialID, DiscoverableAuthentication,
    DiscoverableKey, Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, RequestChallengeResponse, WebauthnError,
};

#[derive(Clone)]
pub struct Passkeys {
    relying_party: Webauthn,
    cipher: KeyCipher,
    stand_in_key: [u8; 32],
    ceremony_ttl: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error(transparent)]
    Encrypt(#[from] EncryptError),
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
    #[error("ceremony state: {0}")]
    Json(#[from] serde_json::Error),
}

impl Passkeys {
    /// From validated settings (start-up: an error stops the service).
    pub fn new(settings: &PasskeySettings, secret: &ServerSecret) -> Result<Self, String> {
        let origins = settings.origin_urls()?;
        let id = settings.rp_id.as_str();
        // The builder wants its first origin on the relying-party id.
        let on_rp = |u: &&url::Url| {
            u.domain()
                .is_some_and(|d| d == id || d.ends_with(&format!(".{id}")))
        };
        let primary = origins
            .iter()
            .find(on_rp)
            .ok_or("passkeys.origins has no web origin on passkeys.rp_id")?;
        let mut builder = WebauthnBuilder::new(id, primary)
            .map_err(|e| format!("passkeys: {e}"))?
            .rp_name(&settings.rp_name)
            .allow_any_port(settings.any_port())
            .timeout(Duration::from_secs(settings.ceremony_ttl_secs));
        for origin in origins.iter().filter(|o| *o != primary) {
            builder = builder.append_allowed_origin(origin);
        }
        Ok(Self {
            relying_party: builder.build().map_err(|e| format!("passkeys: {e}"))?,
            cipher: secret.passkey_ceremony_cipher(),
            stand_in_key: secret.passkey_stand_in_key(),
            ceremony_ttl: Duration::from_secs(settings.ceremony_ttl_secs),
        })
    }

    pub fn relying_party(&self) -> &Webauthn {
        &self.relying_party
    }

    /// Keys the stand-in credential listed for an address without passkeys.
    pub fn stand_in_key(&self) -> [u8; 32] {
        self.stand_in_key
    }

    pub fn ceremony_ttl(&self) -> Duration {
        self.ceremony_ttl
    }

    /// Seals a ceremony's state, bound to its id.
    pub fn seal<T: Serialize>(&self, ceremony_id: Uuid, state: &T) -> Result<String, SealError> {
        let json = serde_json::to_vec(state)?;
        Ok(self.cipher.encrypt(&json, &ceremony_id.to_string())?)
    }

    pub fn open<T: DeserializeOwned>(
        &self,
        ceremony_id: Uuid,
        sealed: &str,
    ) -> Result<T, SealError> {
        let json = self.cipher.decrypt(sealed, &ceremony_id.to_string())?;
        Ok(serde_json::from_slice(&json)?)
    }
}
