//! Passkey (WebAuthn) settings: who the relying party is and which origins
//! may run its ceremonies.

use serde::{Deserialize, Serialize};
use url::Url;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasskeySettings {
    /// The relying-party id: the registrable domain passkeys are bound to
    /// (e.g. `example.com`). Authenticators scope credentials to it, so it
    /// cannot change without losing every passkey.
    pub rp_id: String,
    /// The name authenticators show beside the account.
    pub rp_name: String,
    /// Origins whose pages (or apps) run ceremonies: `https://app.example.com`,
    /// and native apps as `android:apk-key-hash:<hash>` or `ios:bundle-id:<id>`.
    /// Empty: `https://<rp_id>`, and any port of `http://localhost` when the
    /// id is `localhost` (development).
    pub origins: Vec<String>,
    /// How long a ceremony (the options handed out) stays valid.
    pub ceremony_ttl_secs: u64,
}

impl Default for PasskeySettings {
    fn default() -> Self {
        Self {
            rp_id: "localhost".into(),
            rp_name: "Portcullis".into(),
            origins: Vec::new(),
            ceremony_ttl_secs: 300,
        }
    }
}

impl PasskeySettings {
    /// The origins, parsed; the first is the primary one.
    pub fn origin_urls(&self) -> Result<Vec<Url>, String> {
        if self.origins.is_empty() {
            let scheme = if self.rp_id == "localhost" {
                "http"
            } else {
                "https"
            };
            let url = format!("{scheme}://{}", self.rp_id);
            return Ok(vec![
                Url::parse(&url).map_err(|e| format!("passkeys.rp_id: {e}"))?
            ]);
        }
        self.origins
            .iter()
            .map(|o| Url::parse(o).map_err(|e| format!("passkeys.origins: {o:?}: {e}")))
            .collect()
    }

    /// Any port of the origins' hosts: only for `localhost` with no origins
    /// listed, where development servers pick ports.
    pub fn any_port(&self) -> bool {
        self.origins.is_empty() && self.rp_id == "localhost"
    }

    pub fn validate(&self) -> Result<(), String> {
        let id = self.rp_id.trim();
        if id.is_empty()
            || id != self.rp_id
            || id.contains(['/', ':'])
            || id.parse::<std::net::IpAddr>().is_ok()
        {
            return Err("passkeys.rp_id must be a domain name (no scheme, port or address)".into());
        }
        if self.rp_name.trim().is_empty() || self.rp_name.len() > 100 {
            return Err("passkeys.rp_name must be 1 to 100 characters".into());
        }
        if self.ceremony_ttl_secs < 30 || self.ceremony_ttl_secs > 3600 {
            return Err("passkeys.ceremony_ttl_secs must be 30 to 3600".into());
        }
        // The first web origin must sit on the relying-party id (the
        // WebAuthn rule); the rest are checked per ceremony.
        let urls = self.origin_urls()?;
        let on_rp = |u: &Url| {
            u.domain()
                .is_some_and(|d| d == id || d.ends_with(&format!(".{id}")))
        };
        if !urls.iter().any(on_rp) {
            return Err(format!(
                "passkeys.origins must include a web origin on {id} (or one of its subdomains)"
            ));
        }
        Ok(())
    }
}
