//! What the key set and introspection calls share: the URL rule and a
//! bounded JSON body.

use crate::VerifyError;
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;

/// Why a builder refused its settings.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{what} is not a URL: {url}")]
    NotAUrl { what: &'static str, url: String },
    /// Keys or introspection answers over plain HTTP can be swapped by
    /// anybody on the path; allowed for loopback, or with `allow_http`.
    #[error("{what} must use https (or call allow_http for a trusted network): {url}")]
    NotHttps { what: &'static str, url: String },
    #[error("the HTTP client could not be built: {0}")]
    Client(String),
}

/// `url` parsed, with https required unless it names a loopback host or
/// plain HTTP was allowed.
pub(crate) fn checked_url(
    what: &'static str,
    url: &str,
    allow_http: bool,
) -> Result<Url, BuildError> {
    let parsed = Url::parse(url).map_err(|_| BuildError::NotAUrl {
        what,
        url: url.to_string(),
    })?;
    let loopback = match parsed.host() {
        Some(url::Host::Domain(name)) => name == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if allow_http || loopback => Ok(parsed),
        "http" => Err(BuildError::NotHttps {
            what,
            url: url.to_string(),
        }),
        _ => Err(BuildError::NotAUrl {
            what,
            url: url.to_string(),
        }),
    }
}

/// The body of a 2xx answer as JSON, refused beyond `limit` bytes (a key set
/// or verdict is a few hundred bytes; a hostile or broken endpoint must not
/// make the service buffer megabytes).
pub(crate) async fn read_json<T: DeserializeOwned>(
    mut response: reqwest::Response,
    limit: usize,
    what: &str,
) -> Result<T, VerifyError> {
    let status = response.status();
    if !status.is_success() {
        return Err(VerifyError::Unavailable(match status {
            s if s.is_redirection() => {
                format!("{what}: answered {s}; redirects are not followed, configure the final URL")
            }
            StatusCode::TOO_MANY_REQUESTS => format!("{what}: rate-limited by Portcullis (429)"),
            s => format!("{what}: answered {s}"),
        }));
    }
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(VerifyError::Unavailable(format!(
            "{what}: body over {limit} bytes"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| VerifyError::Unavailable(format!("{what}: {e}")))?
    {
        if body.len() + chunk.len() > limit {
            return Err(VerifyError::Unavailable(format!(
                "{what}: body over {limit} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|e| VerifyError::Unavailable(format!("{what}: {e}")))
}
