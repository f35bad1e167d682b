//! Webhook settings (`[webhooks]` in the file, `PORTCULLIS_WEBHOOKS__…`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookSettings {
    /// Addresses or CIDR blocks that targets may resolve to although they
    /// are loopback, private or link-local (e.g. an internal receiver).
    pub allowed_private_targets: Vec<String>,
    /// Timeout of one delivery attempt (connect and answer).
    pub timeout_secs: u64,
    /// How often every instance looks for due deliveries.
    pub poll_interval_ms: u64,
    /// How long the previous secret keeps signing after a rotation.
    pub secret_overlap_secs: u64,
    /// Failed attempts in a row after which an endpoint is switched off.
    pub disable_after_failures: i64,
    /// How long finished deliveries are kept.
    pub retention_days: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            allowed_private_targets: Vec::new(),
            timeout_secs: 10,
            poll_interval_ms: 500,
            secret_overlap_secs: 24 * 3600,
            disable_after_failures: 100,
            retention_days: 30,
        }
    }
}

impl WebhookSettings {
    pub fn allowed_nets(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.allowed_private_targets
            .iter()
            .map(|entry| {
                entry
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| format!("webhooks.allowed_private_targets: {entry:?} is not an address or CIDR block"))
            })
            .collect()
    }

    pub fn validate(&self) -> Result<(), String> {
        self.allowed_nets()?;
        if self.timeout_secs == 0 || self.timeout_secs > 60 {
            return Err("webhooks.timeout_secs must be 1 to 60".into());
        }
        if self.poll_interval_ms < 10 {
            return Err("webhooks.poll_interval_ms must be at least 10".into());
        }
        if self.disable_after_failures < 1 {
            return Err("webhooks.disable_after_failures must be positive".into());
        }
        Ok(())
    }
}
