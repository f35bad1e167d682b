//! Abuse-protection settings: per-client limits, lockout, breached passwords,
//! trusted proxies, CORS.

use super::{ConfigError, Settings};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// At most `limit` requests per `window_secs` from one client address
/// (one IPv6 /64); `limit = 0` switches the limit off.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    pub limit: u32,
    pub window_secs: u64,
}

impl RateLimit {
    pub const fn new(limit: u32, window_secs: u64) -> Self {
        Self { limit, window_secs }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    pub sign_in: RateLimit,
    pub sign_up: RateLimit,
    pub code_request: RateLimit,
    pub code_confirm: RateLimit,
    pub refresh: RateLimit,
    pub oauth_token: RateLimit,
    pub introspect: RateLimit,
    /// Code requests per recipient address (known or not) and client: a
    /// stranger asking for codes uses up only their own allowance.
    pub mail_per_address: RateLimit,
    /// Code requests per recipient address and action, whoever asks: the
    /// ceiling against mail-bombing from many client addresses.
    pub mail_per_address_total: RateLimit,
    /// Checks of the current password (or a code) before a sensitive change.
    pub reauthentication: RateLimit,
    /// Social sign-in and link flows started (each writes a row).
    pub oauth_authorize: RateLimit,
    /// Wrong codes per address, action and client, across successive codes
    /// (and ten times as many per address and action from all clients).
    pub code_failures_per_address: RateLimit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            sign_in: RateLimit::new(30, 300),
            sign_up: RateLimit::new(10, 3600),
            code_request: RateLimit::new(10, 3600),
            code_confirm: RateLimit::new(30, 300),
            refresh: RateLimit::new(600, 60),
            oauth_token: RateLimit::new(30, 300),
            introspect: RateLimit::new(6000, 60),
            mail_per_address: RateLimit::new(5, 3600),
            mail_per_address_total: RateLimit::new(20, 3600),
            reauthentication: RateLimit::new(10, 300),
            oauth_authorize: RateLimit::new(30, 300),
            code_failures_per_address: RateLimit::new(10, 3600),
        }
    }
}

impl RateLimits {
    /// Every limit off (benchmarks, tests that are not about limits).
    pub fn off() -> Self {
        let off = RateLimit::new(0, 60);
        Self {
            sign_in: off,
            sign_up: off,
            code_request: off,
            code_confirm: off,
            refresh: off,
            oauth_token: off,
            introspect: off,
            mail_per_address: off,
            mail_per_address_total: off,
            reauthentication: off,
            oauth_authorize: off,
            code_failures_per_address: off,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LockoutSettings {
    /// Failed sign-ins allowed before the account is locked at all.
    pub free_attempts: u32,
    /// The first lock; each further failure doubles it, up to `max_delay_secs`.
    pub base_delay_secs: u64,
    pub max_delay_secs: u64,
    /// After this many failures the account is locked for `hard_lock_secs`.
    pub hard_cap: u32,
    pub hard_lock_secs: u64,
    /// Failures older than this are forgotten.
    pub window_secs: u64,
}

impl Default for LockoutSettings {
    fn default() -> Self {
        Self {
            free_attempts: 5,
            base_delay_secs: 2,
            max_delay_secs: 900,
            hard_cap: 100,
            hard_lock_secs: 24 * 3600,
            window_secs: 24 * 3600,
        }
    }
}

/// The longest lock the schedule gives, whatever the settings say (about a
/// century): a lock of that length never ends in practice, and the
/// database can add it to any date it stores.
const LONGEST_LOCK_SECS: u64 = 100 * 365 * 24 * 3600;

impl LockoutSettings {
    /// How long an account stays locked after its `failures`-th attempt
    /// without a success: nothing for the free attempts, then a delay that
    /// doubles with every further failure up to the maximum, and a long
    /// lock at the hard cap.
    pub fn lock_after(&self, failures: i64) -> Option<Duration> {
        let failures = u32::try_from(failures.max(0)).unwrap_or(u32::MAX);
        if failures >= self.hard_cap {
            return Some(Duration::from_secs(self.hard_lock_secs()));
        }
        let beyond = failures.checked_sub(self.free_attempts)?;
        let factor = 2u64.saturating_pow(beyond.min(63));
        let secs = self.base_delay_secs().saturating_mul(factor);
        Some(Duration::from_secs(secs.min(self.max_delay_secs())))
    }

    /// The first lock's length, in seconds (at most a century).
    pub fn base_delay_secs(&self) -> u64 {
        self.base_delay_secs.min(LONGEST_LOCK_SECS)
    }

    /// The longest delay before the hard cap, in seconds (at most a century).
    pub fn max_delay_secs(&self) -> u64 {
        self.max_delay_secs.min(LONGEST_LOCK_SECS)
    }

    /// The hard cap's lock, in seconds (at most a century).
    pub fn hard_lock_secs(&self) -> u64 {
        self.hard_lock_secs.min(LONGEST_LOCK_SECS)
    }

    /// How many doublings of the first lock reach the longest delay: past
    /// them every delay is the longest. SQL that computes the schedule
    /// shifts by no more than this, so its arithmetic never overflows:
    /// with both at most a century (under 2^32 s) it is at most 32, and the
    /// shifted first lock at most two centuries. (PostgreSQL does not
    /// refuse a shift that overflows a `bigint`; it wraps, which the clamp
    /// rules out.)
    pub fn doublings_to_max(&self) -> u32 {
        let (base, max) = (self.base_delay_secs(), self.max_delay_secs());
        (0..63)
            .find(|&k| base == 0 || base.saturating_mul(1 << k) >= max)
            .unwrap_or(63)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PwnedSettings {
    pub enabled: bool,
    /// The range API (k-anonymity: only 5 hex digits of the SHA-1 leave).
    pub api_url: String,
    pub timeout_secs: u64,
    /// Refuse a password seen in at least this many breaches.
    pub min_count: u64,
}

impl Default for PwnedSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            api_url: "https://api.pwnedpasswords.com".into(),
            timeout_secs: 2,
            min_count: 1,
        }
    }
}

impl Settings {
    pub(super) fn validate_protections(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        self.trusted_proxy_nets()?;
        for origin in &self.cors_allowed_origins {
            let ok = (origin.starts_with("https://") || origin.starts_with("http://"))
                && origin
                    .split("://")
                    .nth(1)
                    .is_some_and(|h| !h.is_empty() && !h.contains('/'));
            if !ok {
                return invalid(format!(
                    "cors_allowed_origins: {origin:?} must be an origin such as https://app.example.com (no path, no *)"
                ));
            }
        }
        let lockout = &self.lockout;
        if lockout.free_attempts == 0 || lockout.hard_cap <= lockout.free_attempts {
            return invalid("lockout: free_attempts must be at least 1 and below hard_cap".into());
        }
        if lockout.base_delay_secs == 0 || lockout.max_delay_secs < lockout.base_delay_secs {
            return invalid("lockout: 0 < base_delay_secs <= max_delay_secs".into());
        }
        if self.hash_queue_limit == 0 {
            return invalid("hash_queue_limit must be at least 1".into());
        }
        if self.hash_queue_wait_ms == 0 {
            return invalid("hash_queue_wait_ms must be at least 1".into());
        }
        Ok(())
    }

    /// The parsed `trusted_proxies`: single addresses become /32 or /128.
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        self.trusted_proxies
            .iter()
            .map(|entry| {
                entry
                    .parse::<ipnet::IpNet>()
                    .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                    .map_err(|_| {
                        ConfigError::Invalid(format!(
                            "trusted_proxies: {entry:?} is not an address or a CIDR block"
                        ))
                    })
            })
            .collect()
    }
}
