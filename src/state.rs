use crate::clock::SharedClock;
use crate::config::Settings;
use crate::crypto::{CodeHasher, KeyCipher, RefreshChain};
use crate::domain::PasswordPolicy;
use crate::hashing::PasswordHasher;
use crate::mail::{Outbox, Templates};
use crate::metrics::Metrics;
use crate::oauth::Providers;
use crate::pwned::PwnedPasswords;
use crate::store::Store;
use crate::tokens::AccessTokens;
use std::sync::Arc;

/// Everything a request handler needs, built once at start-up and shared by
/// the workers as `web::Data<AppState>`.
pub struct AppState {
    pub settings: Arc<Settings>,
    /// "Now" for every lifetime, lockout and window (a test moves it).
    pub clock: SharedClock,
    pub store: Arc<dyn Store>,
    pub hasher: PasswordHasher,
    pub password_policy: Arc<PasswordPolicy>,
    pub tokens: Arc<AccessTokens>,
    pub code_hasher: CodeHasher,
    /// Seals codes that may be mailed again unchanged.
    pub code_cipher: KeyCipher,
    /// Derives refresh tokens' successors (see the reuse window).
    pub refresh_chain: RefreshChain,
    /// Mail is queued here, in the transaction that causes it.
    pub outbox: Outbox,
    pub templates: Templates,
    pub providers: Arc<Providers>,
    /// Encrypts the tokens providers issue to us.
    pub provider_cipher: KeyCipher,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Clients past a request limit, until their window reopens.
    pub refused_clients: crate::throttle::RefusedClients,
    pub pwned: PwnedPasswords,
    /// Seals TOTP secrets and hashes recovery codes.
    pub factors: crate::mfa::SecondFactors,
    /// The WebAuthn relying party and sealed ceremony state.
    pub passkeys: crate::passkeys::Passkeys,
    /// Webhook secrets, target policy and delivery.
    pub webhooks: crate::webhooks::Webhooks,
    /// This instance's counters (see `crate::metrics`).
    pub metrics: Arc<Metrics>,
}
