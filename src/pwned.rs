//! Optional check of new passwords against Have I Been Pwned's range API
//! (k-anonymity: only the first 5 hex digits of the password's SHA-1 leave
//! the service). Off by default; when the API cannot be reached the check is
//! skipped and logged, never blocking the request.

use crate::config::PwnedSettings;
use sha1::{Digest, Sha1};
use std::time::Duration;
use tracing::Instrument;

pub struct PwnedPasswords {
    settings: PwnedSettings,
    http: Option<reqwest::Client>,
}

impl PwnedPasswords {
    pub fn new(settings: &PwnedSettings) -> Result<Self, String> {
        let http = if settings.enabled {
            let timeout = Duration::from_secs(settings.timeout_secs);
            Some(
                reqwest::Client::builder()
                    .timeout(timeout)
                    .connect_timeout(timeout)
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| format!("HTTP client: {e}"))?,
            )
        } else {
            None
        };
        Ok(Self {
            settings: settings.clone(),
            http,
        })
    }

    /// `Some(true)` when the password appears in at least `min_count`
    /// breaches; `None` when the check is off or could not be made.
    pub async fn is_pwned(&self, password: &str) -> Option<bool> {
        let http = self.http.as_ref()?;
        let digest: String = Sha1::digest(password.as_bytes())
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        let (prefix, suffix) = digest.split_at(5);
        let url = format!(
            "{}/range/{prefix}",
            self.settings.api_url.trim_end_matches('/')
        );
        let span = crate::telemetry::client_span("GET", &url);
        let body = async {
            let request = http.get(&url).header("Add-Padding", "true");
            let request = request.headers(crate::telemetry::outgoing_headers());
            let response = request.send().await?;
            response.error_for_status()?.text().await
        }
        .instrument(span);
        match body.await {
            Ok(body) => Some(body.lines().any(|line| {
                line.split_once(':').is_some_and(|(candidate, count)| {
                    candidate.trim().eq_ignore_ascii_case(suffix)
                        && count.trim().parse::<u64>().unwrap_or(0) >= self.settings.min_count
                })
            })),
            Err(error) => {
                let why = if error.is_timeout() {
                    "timed out"
                } else {
                    "failed"
                };
                tracing::warn!(
                    reason = why,
                    "breached-password check skipped: the API could not be reached"
                );
                None
            }
        }
    }
}
