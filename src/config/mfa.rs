//! Multi-factor settings (`[mfa]` in the file, `PORTCULLIS_MFA__…` variables).

use crate::domain::Role;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MfaSettings {
    /// Roles that must use a second factor, e.g. `["SUPER-ADMIN", "ADMIN"]`.
    /// A user in one of them without a factor signs in to an enrolment-only
    /// session; one with a factor needs an `aal2` session for the admin API.
    pub required_for_roles: Vec<Role>,
    /// Lifetime of the `mfa_token` of a sign-in waiting for its second step.
    pub challenge_ttl_secs: u64,
    /// How recent the proof must be for a sensitive change of an account
    /// with a second factor (password, address, factors, deletion); older
    /// sessions step up first.
    pub step_up_max_age_secs: u64,
    /// The issuer shown in authenticator apps (the `otpauth://` URI).
    pub totp_issuer: String,
}

impl Default for MfaSettings {
    fn default() -> Self {
        Self {
            required_for_roles: Vec::new(),
            challenge_ttl_secs: 300,
            step_up_max_age_secs: 300,
            totp_issuer: "Portcullis".into(),
        }
    }
}

impl MfaSettings {
    /// Whether users of `role` must use a second factor.
    pub fn required_for(&self, role: Role) -> bool {
        self.required_for_roles.contains(&role)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.challenge_ttl_secs == 0 || self.challenge_ttl_secs > 3600 {
            return Err("mfa.challenge_ttl_secs must be 1 to 3600".into());
        }
        if self.step_up_max_age_secs == 0 {
            return Err("mfa.step_up_max_age_secs must be positive".into());
        }
        let issuer = self.totp_issuer.trim();
        if issuer.is_empty() || issuer.len() > 100 || issuer.contains(':') {
            return Err("mfa.totp_issuer must be 1 to 100 characters without ':'".into());
        }
        Ok(())
    }
}
