//! Configuration: built-in defaults, then an optional TOML file, then
//! `PORTCULLIS_*` environment variables (`PORTCULLIS_DATABASE_URL` sets
//! `database_url`). Unknown keys are refused so that a typo cannot silently
//! leave a default in place.

use crate::domain::CodeAction;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

mod mfa;
mod oauth;
mod passkeys;
mod protection;
mod webhooks;

pub use mfa::MfaSettings;
pub use oauth::{OAuthSettings, ProviderKind, ProviderSettings};
pub use passkeys::PasskeySettings;
pub use protection::{LockoutSettings, PwnedSettings, RateLimit, RateLimits};
pub use webhooks::WebhookSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

/// A secret string: its `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// A database URL: usable as a `&str`, but its `Debug` output hides the
/// password (`postgres://user:***@host/db`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DatabaseUrl(String);

impl std::ops::Deref for DatabaseUrl {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl From<&str> for DatabaseUrl {
    fn from(url: &str) -> Self {
        Self(url.to_string())
    }
}

impl From<String> for DatabaseUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = match self.0.split_once("://") {
            Some((scheme, rest)) => match rest.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split(':').next().unwrap_or_default();
                    format!("{scheme}://{user}:***@{host}")
                }
                None => self.0.clone(),
            },
            None => self.0.clone(),
        };
        write!(f, "{redacted:?}")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// `development` (default) or `production`, which refuses unsafe defaults.
    pub env: RunMode,
    /// `sqlite://file.db` or `postgres://…`.
    pub database_url: DatabaseUrl,
    pub database_max_connections: u32,
    /// How long a request waits for a database connection before it gets a 503.
    pub database_acquire_timeout_secs: u64,
    pub listen: String,
    /// Where Prometheus scrapes `GET /metrics` (a separate listener); off
    /// when unset.
    pub metrics_listen: Option<String>,
    /// Issuer of tokens and base of links in mail. No trailing slash.
    pub public_url: String,
    /// `aud` claim of access tokens.
    pub audience: String,
    /// `smtp://host:port`, `smtps://…` or `smtp://…?tls=required`; unset means mail is logged.
    pub smtp_url: Option<SecretString>,
    pub smtp_timeout_secs: u64,
    pub mail_from: String,
    /// Server secret for code HMACs and for encrypting signing keys (≥ 32 characters).
    pub secret: Option<SecretString>,
    pub access_token_ttl_secs: u64,
    pub session_idle_ttl_secs: u64,
    /// Whether an instance remembers live sessions between requests
    /// (`store::liveness`); off, every authenticated request reads its
    /// session. Sign-outs, revocations and bans wait out the cache's lease
    /// (40 ms) either way.
    pub session_cache: bool,
    pub session_absolute_ttl_secs: u64,
    pub verify_email_ttl_secs: u64,
    /// How long a sign-up waits for verification before it is forgotten.
    pub pending_registration_ttl_secs: u64,
    pub code_max_attempts: u32,
    /// Minimum time between two mails to one address.
    pub mail_cooldown_secs: u64,
    pub jwt_leeway_secs: u64,
    /// Lifetime of `sign_in` codes (10 minutes at most is recommended).
    pub sign_in_code_ttl_secs: u64,
    pub reset_password_ttl_secs: u64,
    pub change_email_ttl_secs: u64,
    /// Frontend pages that receive the links of each action; `{token}` is
    /// replaced. Unset: `<public_url>/<action>#token=…`.
    pub link_url_verify_email: Option<String>,
    pub link_url_sign_in: Option<String>,
    pub link_url_reset_password: Option<String>,
    pub link_url_change_email: Option<String>,
    /// A directory whose `<locale>/<name>.txt|html` files replace the
    /// built-in mail templates.
    pub mail_templates_dir: Option<std::path::PathBuf>,
    /// A failed delivery is retried after this, doubling up to the maximum.
    pub mail_retry_base_secs: u64,
    pub mail_retry_max_secs: u64,
    /// How often every instance looks for mail another instance queued.
    pub mail_poll_interval_ms: u64,
    /// Hashing threads, so concurrent Argon2 computations (each thread has two
    /// sign-in slots: see `hashing::slots_for`); 0 means one per CPU.
    pub hash_concurrency: usize,
    /// The `nice` value of the hashing threads (0 to 19; 10 by default): a
    /// sign-in storm then yields the CPU to token work, and still hashes at
    /// full speed when nothing else runs. 10, not 19: at 19 a flood of cheap
    /// refusals starved the sign-ins themselves (bench/run's storm: 7/s
    /// against 18.5/s at 10, validation equally fast). Linux only.
    pub hash_thread_nice: i8,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// HTTP worker threads; 0 means one per CPU.
    pub workers: usize,
    pub log_format: LogFormat,
    /// A `tracing` filter such as `info` or `portcullis=debug,info`.
    pub log_level: String,
    /// Social sign-in (`[oauth]` in the file, `PORTCULLIS_OAUTH__…` variables).
    pub oauth: OAuthSettings,
    /// Argon2 computations allowed to wait for a hashing slot; beyond this a
    /// request gets 503 with `Retry-After` instead of queueing. A waiting
    /// request holds no Argon2 arena, only its parsed body: this bounds
    /// memory, `hash_queue_wait_ms` bounds the wait.
    pub hash_queue_limit: usize,
    /// The longest a request waits for a hashing slot before its 503 (see
    /// `PasswordHasher::with_queue_wait` for why waiting beats refusing).
    pub hash_queue_wait_ms: u64,
    /// The most of the hashing slots and queue (percent) that one client
    /// address may hold at once; beyond it, 429.
    pub hash_client_share_percent: u8,
    /// A refresh token presented again this long after its own rotation,
    /// while its successor is unused, gets the same successor (concurrent
    /// clients); 0 switches the window off.
    pub refresh_reuse_window_secs: u64,
    /// Peers whose `X-Forwarded-For` is believed (addresses or CIDR blocks);
    /// for anyone else the client address is the connection's.
    pub trusted_proxies: Vec<String>,
    /// Origins allowed to call the API from a browser (exact, no `*`).
    pub cors_allowed_origins: Vec<String>,
    /// Per-IP request limits of the sensitive endpoints.
    pub rate_limits: RateLimits,
    /// Per-account sign-in lockout.
    pub lockout: LockoutSettings,
    /// How long audit events are kept.
    pub audit_retention_days: u64,
    /// A rotated-in signing key is published this long before it signs, so
    /// that verifiers caching the JWKS have it in time.
    pub key_rotation_lead_secs: u64,
    /// On start-up, make this (existing) user SUPER-ADMIN if there is none.
    pub bootstrap_admin_email: Option<String>,
    /// Optional check of new passwords against Have I Been Pwned.
    pub pwned_passwords: PwnedSettings,
    /// Second factors: who must use one, and how recent a proof must be.
    pub mfa: MfaSettings,
    /// Passkeys (WebAuthn): relying party and origins.
    pub passkeys: PasskeySettings,
    /// Webhook delivery: allowed private targets, timeouts, retention.
    pub webhooks: WebhookSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            env: RunMode::Development,
            database_url: "sqlite://portcullis.db".into(),
            database_max_connections: 10,
            database_acquire_timeout_secs: 3,
            listen: "127.0.0.1:8080".into(),
            metrics_listen: None,
            public_url: "http://127.0.0.1:8080".into(),
            audience: "portcullis".into(),
            smtp_url: None,
            smtp_timeout_secs: 10,
            mail_from: "Portcullis <no-reply@localhost>".into(),
            secret: None,
            access_token_ttl_secs: 15 * 60,
            session_idle_ttl_secs: 7 * 24 * 3600,
            session_cache: true,
            session_absolute_ttl_secs: 30 * 24 * 3600,
            verify_email_ttl_secs: 3600,
            pending_registration_ttl_secs: 24 * 3600,
            code_max_attempts: 5,
            mail_cooldown_secs: 60,
            jwt_leeway_secs: 5,
            sign_in_code_ttl_secs: 600,
            reset_password_ttl_secs: 3600,
            change_email_ttl_secs: 3600,
            link_url_verify_email: None,
            link_url_sign_in: None,
            link_url_reset_password: None,
            link_url_change_email: None,
            mail_templates_dir: None,
            mail_retry_base_secs: 5,
            mail_retry_max_secs: 300,
            mail_poll_interval_ms: 1000,
            hash_concurrency: 0,
            hash_thread_nice: 10,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            body_limit_bytes: 64 * 1024,
            workers: 0,
            log_format: LogFormat::Json,
            log_level: "info".into(),
            oauth: OAuthSettings::default(),
            hash_queue_limit: 512,
            hash_queue_wait_ms: 5_000,
            hash_client_share_percent: 25,
            refresh_reuse_window_secs: 10,
            trusted_proxies: Vec::new(),
            cors_allowed_origins: Vec::new(),
            rate_limits: RateLimits::default(),
            lockout: LockoutSettings::default(),
            audit_retention_days: 90,
            key_rotation_lead_secs: 600,
            bootstrap_admin_email: None,
            pwned_passwords: PwnedSettings::default(),
            mfa: MfaSettings::default(),
            passkeys: PasskeySettings::default(),
            webhooks: WebhookSettings::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration could not be read: {0}")]
    Read(#[from] Box<figment::Error>),
    #[error("invalid configuration: {0}")]
    Invalid(String),
    #[error("refusing to start in production: {0}")]
    Unsafe(String),
}

/// The storage backend named by `database_url`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Settings {
    /// Defaults, then the TOML file (if any), then `PORTCULLIS_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Invalid(format!(
                    "config file {} does not exist",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        // `__` separates nesting: PORTCULLIS_OAUTH__PROVIDERS__GOOGLE__CLIENT_ID.
        figment = figment.merge(Env::prefixed("PORTCULLIS_").ignore(&["config"]).split("__"));
        let mut settings: Settings = figment.extract().map_err(Box::new)?;
        settings.follow_listen_in_development();
        settings.validate()?;
        Ok(settings)
    }

    /// In development, a `public_url` left at its default follows `listen`,
    /// so that tokens, discovery and mail links name the address the service
    /// really answers on. (Production requires an explicit https URL.)
    fn follow_listen_in_development(&mut self) {
        let defaults = Settings::default();
        if self.env != RunMode::Development
            || self.public_url != defaults.public_url
            || self.listen == defaults.listen
        {
            return;
        }
        let Ok(address) = self.listen.parse::<std::net::SocketAddr>() else {
            return;
        };
        if address.port() == 0 {
            return; // Known only once bound.
        }
        let host = if address.ip().is_unspecified() {
            "127.0.0.1".to_string()
        } else {
            address.ip().to_string()
        };
        let host = if address.is_ipv6() && !address.ip().is_unspecified() {
            format!("[{host}]")
        } else {
            host
        };
        self.public_url = format!("http://{host}:{}", address.port());
    }

    /// Checks that hold in every mode, then the production rules.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |m: &str| Err(ConfigError::Invalid(m.to_string()));
        self.backend()?;
        if !(self.public_url.starts_with("https://") || self.public_url.starts_with("http://")) {
            return invalid("public_url must start with https:// or http://");
        }
        if self.public_url.ends_with('/') {
            return invalid("public_url must not end with a slash");
        }
        if self.access_token_ttl_secs == 0
            || self.verify_email_ttl_secs == 0
            || self.pending_registration_ttl_secs < self.verify_email_ttl_secs
        {
            return invalid(
                "lifetimes must be at least one second, and pending registrations must live \
                 at least as long as verification codes",
            );
        }
        if self.session_idle_ttl_secs < self.access_token_ttl_secs {
            return invalid("session_idle_ttl_secs must be at least access_token_ttl_secs");
        }
        if self.session_absolute_ttl_secs < self.session_idle_ttl_secs {
            return invalid("session_absolute_ttl_secs must be at least session_idle_ttl_secs");
        }
        if self.jwt_leeway_secs > 60 {
            return invalid("jwt_leeway_secs must be at most 60");
        }
        if self.code_max_attempts == 0 {
            return invalid("code_max_attempts must be at least 1");
        }
        for (name, template) in [
            ("link_url_verify_email", &self.link_url_verify_email),
            ("link_url_sign_in", &self.link_url_sign_in),
            ("link_url_reset_password", &self.link_url_reset_password),
            ("link_url_change_email", &self.link_url_change_email),
        ] {
            if template.as_ref().is_some_and(|t| !t.contains("{token}")) {
                return Err(ConfigError::Invalid(format!(
                    "{name} must contain {{token}}"
                )));
            }
        }
        if self.sign_in_code_ttl_secs == 0
            || self.reset_password_ttl_secs == 0
            || self.change_email_ttl_secs == 0
        {
            return invalid("code lifetimes must be at least one second");
        }
        if self.mail_retry_base_secs == 0 || self.mail_retry_max_secs < self.mail_retry_base_secs {
            return invalid(
                "mail_retry_base_secs must be at least 1 and at most mail_retry_max_secs",
            );
        }
        if self.audit_retention_days > 36_500 {
            return invalid("audit_retention_days must be at most 36500 (0 keeps events forever)");
        }
        if self.key_rotation_lead_secs > 86_400 {
            return invalid("key_rotation_lead_secs must be at most 86400");
        }
        if self.refresh_reuse_window_secs > 60 {
            return invalid("refresh_reuse_window_secs must be at most 60 (0 switches it off)");
        }
        if !(0..=19).contains(&self.hash_thread_nice) {
            return invalid("hash_thread_nice must be 0 to 19");
        }
        if self.hash_client_share_percent == 0 || self.hash_client_share_percent > 100 {
            return invalid("hash_client_share_percent must be 1 to 100");
        }
        if self.body_limit_bytes < 1024 {
            return invalid("body_limit_bytes must be at least 1024");
        }
        self.validate_oauth()?;
        self.validate_protections()?;
        self.mfa.validate().map_err(ConfigError::Invalid)?;
        self.passkeys.validate().map_err(ConfigError::Invalid)?;
        self.webhooks.validate().map_err(ConfigError::Invalid)?;
        if self.env == RunMode::Production {
            self.validate_production()?;
        }
        Ok(())
    }

    fn validate_production(&self) -> Result<(), ConfigError> {
        let unsafe_ = |m: &str| Err(ConfigError::Unsafe(m.to_string()));
        match &self.secret {
            None => return unsafe_("PORTCULLIS_SECRET is not set"),
            Some(s) if s.expose().len() < 32 => {
                return unsafe_("PORTCULLIS_SECRET must be at least 32 characters")
            }
            Some(_) => {}
        }
        if self.smtp_url.is_none() {
            return unsafe_("PORTCULLIS_SMTP_URL is not set (mail would only be logged)");
        }
        if !self.public_url.starts_with("https://") {
            return unsafe_("PORTCULLIS_PUBLIC_URL must be an https:// URL");
        }
        if self.argon2_memory_kib < 19_456 || self.argon2_iterations < 2 {
            return unsafe_("Argon2 parameters are below m=19456 KiB, t=2");
        }
        let plain_http =
            |u: &Option<String>| u.as_deref().is_some_and(|u| u.starts_with("http://"));
        for (id, provider) in &self.oauth.providers {
            if plain_http(&provider.issuer)
                || plain_http(&provider.token_url)
                || plain_http(&provider.api_url)
            {
                return Err(ConfigError::Unsafe(format!(
                    "oauth provider {id} is configured with a plain http:// URL"
                )));
            }
        }
        // A proxy is trusted to say who the client is; a block that covers
        // most of the internet lets any client forge X-Forwarded-For (and so
        // its address in sessions, the audit log and every per-client limit).
        fn covers_most_of_the_internet(net: &ipnet::IpNet) -> bool {
            match net {
                ipnet::IpNet::V4(v4) => v4.prefix_len() < 8,
                // ::ffff:0:0/96 holds every IPv4 address (mapped, as a
                // dual-stack listener sees IPv4 peers): a block there is
                // too wide when it spans more than an IPv4 /8.
                ipnet::IpNet::V6(v6) => {
                    let first_mapped = std::net::Ipv4Addr::UNSPECIFIED.to_ipv6_mapped();
                    let touches_mapped =
                        v6.contains(&first_mapped) || v6.network().to_ipv4_mapped().is_some();
                    // Unique local addresses (fc00::/7) never come from the
                    // internet, like IPv4's private blocks.
                    let unique_local =
                        v6.prefix_len() >= 7 && v6.network().segments()[0] & 0xfe00 == 0xfc00;
                    (v6.prefix_len() < 16 && !unique_local)
                        || (touches_mapped && v6.prefix_len() < 96 + 8)
                }
            }
        }
        for (entry, net) in self.trusted_proxies.iter().zip(self.trusted_proxy_nets()?) {
            if covers_most_of_the_internet(&net) {
                return Err(ConfigError::Unsafe(format!(
                    "trusted_proxies: {entry:?} covers most of the internet, so any client \
                     could forge X-Forwarded-For; list your proxies' own addresses or \
                     blocks (an IPv4 block of /8 or longer, an IPv6 one of /16 or longer \
                     or inside fc00::/7)"
                )));
            }
        }
        Ok(())
    }

    pub fn backend(&self) -> Result<Backend, ConfigError> {
        let scheme = self.database_url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Backend::Sqlite),
            "postgres" | "postgresql" => Ok(Backend::Postgres),
            _ => Err(ConfigError::Invalid(format!(
                "database_url has an unknown scheme {scheme:?} (expected sqlite: or postgres:)"
            ))),
        }
    }

    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_secs)
    }

    pub fn session_idle_ttl(&self) -> Duration {
        Duration::from_secs(self.session_idle_ttl_secs)
    }

    pub fn session_absolute_ttl(&self) -> Duration {
        Duration::from_secs(self.session_absolute_ttl_secs)
    }

    pub fn pending_registration_ttl(&self) -> Duration {
        Duration::from_secs(self.pending_registration_ttl_secs)
    }

    pub fn refresh_reuse_window(&self) -> Duration {
        Duration::from_secs(self.refresh_reuse_window_secs)
    }

    pub fn mail_cooldown(&self) -> Duration {
        Duration::from_secs(self.mail_cooldown_secs)
    }

    pub fn key_rotation_lead(&self) -> Duration {
        Duration::from_secs(self.key_rotation_lead_secs)
    }

    /// The longest an access token can be accepted after it was signed.
    pub fn token_acceptance(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_secs + self.jwt_leeway_secs)
    }

    /// How long verifiers may cache the JWKS: at most half the rotation lead,
    /// so a key published for a rotation reaches them before it signs.
    pub fn jwks_max_age_secs(&self) -> u64 {
        (self.key_rotation_lead_secs / 2).min(300)
    }

    /// How long a code for `action` lives.
    pub fn code_ttl(&self, action: CodeAction) -> Duration {
        Duration::from_secs(match action {
            CodeAction::VerifyEmail => self.verify_email_ttl_secs,
            CodeAction::SignIn => self.sign_in_code_ttl_secs,
            CodeAction::ResetPassword => self.reset_password_ttl_secs,
            CodeAction::ChangeEmail => self.change_email_ttl_secs,
        })
    }

    /// The frontend link that carries a code's token. Built from
    /// configuration only, never from request headers.
    pub fn code_link(&self, action: CodeAction, token: &str) -> String {
        let template = match action {
            CodeAction::VerifyEmail => &self.link_url_verify_email,
            CodeAction::SignIn => &self.link_url_sign_in,
            CodeAction::ResetPassword => &self.link_url_reset_password,
            CodeAction::ChangeEmail => &self.link_url_change_email,
        };
        match template {
            Some(template) => template.replace("{token}", token),
            None => format!(
                "{}/{}#token={token}",
                self.public_url,
                action.as_str().replace('_', "-")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_for_development() {
        let settings = Settings::default();
        settings.validate().unwrap();
        assert_eq!(settings.backend().unwrap(), Backend::Sqlite);
    }

    #[test]
    fn unknown_database_scheme_is_an_error() {
        let settings = Settings {
            database_url: "mysql://localhost/db".into(),
            ..Settings::default()
        };
        assert!(matches!(settings.validate(), Err(ConfigError::Invalid(_))));
    }

    #[test]
    fn production_refuses_unsafe_defaults() {
        let mut settings = Settings {
            env: RunMode::Production,
            ..Settings::default()
        };
        assert!(matches!(settings.validate(), Err(ConfigError::Unsafe(m)) if m.contains("SECRET")));
        settings.secret = Some(SecretString::new("x".repeat(40)));
        assert!(matches!(settings.validate(), Err(ConfigError::Unsafe(m)) if m.contains("SMTP")));
        settings.smtp_url = Some(SecretString::new("smtp://mail:25"));
        assert!(matches!(settings.validate(), Err(ConfigError::Unsafe(m)) if m.contains("https")));
        settings.public_url = "https://auth.example.com".into();
        settings.validate().unwrap();
    }

    fn production_settings() -> Settings {
        Settings {
            env: RunMode::Production,
            secret: Some(SecretString::new("x".repeat(40))),
            smtp_url: Some(SecretString::new("smtp://mail:25")),
            public_url: "https://auth.example.com".into(),
            ..Settings::default()
        }
    }

    #[test]
    fn production_refuses_trusted_proxies_that_cover_the_internet() {
        for entry in [
            "0.0.0.0/0",
            "::/0",
            "0.0.0.0/1",
            "128.0.0.0/7",
            "10.1.2.3/4",
            "2000::/3",
            "2001::/15",
            "::ffff:0:0/96",
            "::ffff:10.0.0.0/100",
            "::/64",
            "fc00::/6",
        ] {
            let settings = Settings {
                trusted_proxies: vec!["10.0.0.1".into(), entry.into()],
                ..production_settings()
            };
            let refused = settings.validate();
            assert!(
                matches!(&refused, Err(ConfigError::Unsafe(m))
                    if m.contains("trusted_proxies") && m.contains(entry) && m.contains("X-Forwarded-For")),
                "{entry}: {refused:?}"
            );
        }
    }

    #[test]
    fn production_accepts_proxy_addresses_and_private_blocks() {
        let settings = Settings {
            trusted_proxies: vec![
                "10.0.0.0/8".into(),
                "172.16.0.0/12".into(),
                "192.168.1.7".into(),
                "fd00::/8".into(),
                "fc00::/7".into(),
                "2001:db8::/16".into(),
                "::1".into(),
                "::ffff:10.0.0.0/104".into(),
            ],
            ..production_settings()
        };
        settings.validate().unwrap();
    }

    #[test]
    fn development_still_trusts_any_block() {
        let settings = Settings {
            trusted_proxies: vec!["0.0.0.0/0".into(), "::/0".into()],
            ..Settings::default()
        };
        settings.validate().unwrap();
    }

    #[test]
    fn the_public_url_follows_listen_in_development_only() {
        let mut settings = Settings {
            listen: "0.0.0.0:9000".into(),
            ..Settings::default()
        };
        settings.follow_listen_in_development();
        assert_eq!(settings.public_url, "http://127.0.0.1:9000");
        let mut explicit = Settings {
            listen: "127.0.0.1:9000".into(),
            public_url: "https://auth.example.com".into(),
            ..Settings::default()
        };
        explicit.follow_listen_in_development();
        assert_eq!(explicit.public_url, "https://auth.example.com");
        let mut production = Settings {
            env: RunMode::Production,
            listen: "127.0.0.1:9000".into(),
            ..Settings::default()
        };
        production.follow_listen_in_development();
        assert_eq!(production.public_url, Settings::default().public_url);
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let settings = Settings {
            secret: Some(SecretString::new("very-secret-value")),
            smtp_url: Some(SecretString::new("smtp://user:pw@mail:25")),
            database_url: "postgres://app:db-password-9@db.internal:5432/auth".into(),
            ..Settings::default()
        };
        let debug = format!("{settings:?}");
        assert!(!debug.contains("very-secret-value"));
        assert!(!debug.contains("user:pw"));
        assert!(!debug.contains("db-password-9"), "{debug}");
        assert!(debug.contains("postgres://app:***@db.internal:5432/auth"));
    }

    #[test]
    fn toml_file_values_are_read_and_unknown_keys_refused() {
        let figment = Figment::from(Serialized::defaults(Settings::default())).merge(Toml::string(
            "listen = \"0.0.0.0:9000\"\naccess_token_ttl_secs = 600",
        ));
        let settings: Settings = figment.extract().unwrap();
        assert_eq!(settings.listen, "0.0.0.0:9000");
        assert_eq!(settings.access_token_ttl_secs, 600);
        let typo = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::string("listne = \"0.0.0.0:9000\""));
        assert!(typo.extract::<Settings>().is_err());
    }

    #[test]
    fn code_links_use_the_action_template_or_the_public_url() {
        let mut settings = Settings::default();
        assert_eq!(
            settings.code_link(CodeAction::VerifyEmail, "abc"),
            "http://127.0.0.1:8080/verify-email#token=abc"
        );
        assert_eq!(
            settings.code_link(CodeAction::ResetPassword, "abc"),
            "http://127.0.0.1:8080/reset-password#token=abc"
        );
        settings.link_url_verify_email = Some("https://app.example.com/v?t={token}".into());
        settings.link_url_sign_in = Some("https://app.example.com/s#{token}".into());
        assert_eq!(
            settings.code_link(CodeAction::VerifyEmail, "abc"),
            "https://app.example.com/v?t=abc"
        );
        assert_eq!(
            settings.code_link(CodeAction::SignIn, "abc"),
            "https://app.example.com/s#abc"
        );
        settings.link_url_change_email = Some("https://app.example.com/no-token".into());
        assert!(settings.validate().is_err());
    }
}
