//! Social sign-in settings: `[oauth]` and `[oauth.providers.<id>]`.

use super::{ConfigError, SecretString, Settings};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OAuthSettings {
    /// Where a social sign-in may send the browser back to; exact matches only.
    pub redirect_allowlist: Vec<String>,
    /// Lifetime of `state`, `nonce` and the PKCE verifier of a started flow.
    pub state_ttl_secs: u64,
    /// Lifetime of the one-time code handed to the frontend after sign-in.
    pub handoff_ttl_secs: u64,
    /// Timeout of every call to a provider.
    pub http_timeout_secs: u64,
    /// The enabled providers, by the id used in URLs (`/v1/oauth/{id}/…`).
    pub providers: BTreeMap<String, ProviderSettings>,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        Self {
            redirect_allowlist: Vec::new(),
            state_ttl_secs: 600,
            handoff_ttl_secs: 60,
            http_timeout_secs: 10,
            providers: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Any OpenID Connect provider, found by discovery from its issuer.
    Oidc,
    /// GitHub's OAuth 2.0 apps (no OpenID Connect: user and emails APIs).
    Github,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderSettings {
    /// Defaults by id: `google` and `microsoft` are OpenID Connect presets,
    /// `github` is GitHub; any other id needs `kind = "oidc"` and `issuer`.
    pub kind: Option<ProviderKind>,
    /// OpenID Connect issuer; presets fill it in.
    pub issuer: Option<String>,
    pub client_id: String,
    pub client_secret: SecretString,
    /// Defaults: `openid email profile` (OIDC), `read:user user:email` (GitHub).
    pub scopes: Option<Vec<String>>,
    /// Shown by `GET /v1/oauth/providers`.
    pub display_name: Option<String>,
    /// GitHub endpoints, for GitHub Enterprise (or tests).
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub api_url: Option<String>,
}

impl Settings {
    pub(super) fn validate_oauth(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        for url in &self.oauth.redirect_allowlist {
            let ok =
                (url.starts_with("https://") || url.starts_with("http://")) && !url.contains('#');
            if !ok {
                return invalid(format!(
                    "oauth.redirect_allowlist: {url:?} must be an absolute http(s) URL without a fragment"
                ));
            }
        }
        if self.oauth.state_ttl_secs == 0 || self.oauth.handoff_ttl_secs == 0 {
            return invalid("oauth lifetimes must be at least one second".into());
        }
        for id in self.oauth.providers.keys() {
            let ok = !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
            if !ok {
                return invalid(format!(
                    "oauth provider id {id:?} must be lower-case a-z, 0-9, -"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use figment::providers::{Format, Serialized, Toml};
    use figment::Figment;

    #[test]
    fn oauth_providers_come_from_nested_keys() {
        let figment = Figment::from(Serialized::defaults(Settings::default())).merge(Toml::string(
            "[oauth]\nredirect_allowlist = [\"https://app.example.com/cb\"]\n\
             [oauth.providers.google]\nclient_id = \"id\"\nclient_secret = \"secret\"\n",
        ));
        let settings: Settings = figment.extract().unwrap();
        settings.validate().unwrap();
        let google = &settings.oauth.providers["google"];
        assert_eq!(google.client_id, "id");
        assert!(!format!("{google:?}").contains("secret\""));
        let bad = Settings {
            oauth: OAuthSettings {
                redirect_allowlist: vec!["//evil.example".into()],
                ..OAuthSettings::default()
            },
            ..Settings::default()
        };
        assert!(bad.validate().is_err());
    }
}
