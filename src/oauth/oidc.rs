//! OpenID Connect: discovery, the provider's keys, ID token validation and
//! the userinfo endpoint.

use super::cache::Cached;
use super::{Identity, OAuthError, ProviderTokens};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// Asymmetric algorithms only: an HMAC-signed ID token would be keyed with
/// the client secret, and `none` is never acceptable.
const ALLOWED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];
/// Clock skew tolerated between us and the provider.
const LEEWAY_SECS: u64 = 60;

#[derive(Debug, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub userinfo_endpoint: Option<String>,
}

pub struct Oidc {
    issuer: String,
    discovery: Cached<Discovery>,
    keys: Cached<Vec<Jwk>>,
}

#[derive(Debug, Deserialize)]
struct IdClaims {
    iss: String,
    sub: String,
    aud: Audience,
    nonce: Option<String>,
    azp: Option<String>,
    /// Microsoft's tenant, for its `{tenantid}` issuer template.
    tid: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, value: &str) -> bool {
        match self {
            Audience::One(aud) => aud == value,
            Audience::Many(auds) => auds.iter().any(|a| a == value),
        }
    }
    fn is_many(&self) -> bool {
        matches!(self, Audience::Many(auds) if auds.len() > 1)
    }
}

impl Oidc {
    pub fn new(issuer: &str) -> Self {
        Self {
            issuer: issuer.to_string(),
            discovery: Cached::new(Duration::from_secs(3600)),
            keys: Cached::new(Duration::from_secs(3600)),
        }
    }

    pub async fn discovery(&self, http: &reqwest::Client) -> Result<Arc<Discovery>, OAuthError> {
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        self.discovery
            .get(false, Duration::ZERO, || async {
                let discovery: Discovery = get_json(http, &url, None).await?;
                // The document must describe the issuer we were configured with
                // (Microsoft's multi-tenant one carries a `{tenantid}` template).
                if discovery.issuer.trim_end_matches('/') != self.issuer
                    && !discovery.issuer.contains("{tenantid}")
                {
                    return Err(OAuthError::Invalid("discovery names another issuer".into()));
                }
                Ok(discovery)
            })
            .await
    }

    async fn key_for(
        &self,
        http: &reqwest::Client,
        jwks_uri: &str,
        kid: Option<&str>,
    ) -> Result<Jwk, OAuthError> {
        let find = |keys: &[Jwk]| -> Option<Jwk> {
            match kid {
                Some(kid) => keys
                    .iter()
                    .find(|k| k.common.key_id.as_deref() == Some(kid))
                    .cloned(),
                None if keys.len() == 1 => keys.first().cloned(),
                None => None,
            }
        };
        let fetch = || async {
            let set: Value = get_json(http, jwks_uri, None).await?;
            // Keys we cannot use (other types, encryption keys) are skipped,
            // not fatal.
            let keys = set["keys"]
                .as_array()
                .map(|keys| {
                    keys.iter()
                        .filter(|k| k["use"].as_str().is_none_or(|u| u == "sig"))
                        .filter_map(|k| serde_json::from_value::<Jwk>(k.clone()).ok())
                        .collect()
                })
                .unwrap_or_default();
            Ok::<_, OAuthError>(keys)
        };
        let keys = self.keys.get(false, Duration::ZERO, fetch).await?;
        if let Some(key) = find(&keys) {
            return Ok(key);
        }
        // A key we have not seen: the provider may have rotated.
        let keys = self.keys.get(true, Duration::from_secs(10), fetch).await?;
        find(&keys).ok_or_else(|| OAuthError::Invalid("ID token signed with an unknown key".into()))
    }

    /// Validates the ID token (signature by the provider's keys, issuer,
    /// audience, expiry, nonce), then reads the userinfo endpoint.
    pub async fn identify(
        &self,
        http: &reqwest::Client,
        client_id: &str,
        tokens: &ProviderTokens,
        nonce: &str,
    ) -> Result<Identity, OAuthError> {
        let invalid = |why: &str| OAuthError::Invalid(why.to_string());
        let discovery = self.discovery(http).await?;
        let id_token = tokens
            .id_token
            .as_deref()
            .ok_or_else(|| invalid("no ID token"))?;
        let header =
            jsonwebtoken::decode_header(id_token).map_err(|_| invalid("malformed ID token"))?;
        if !ALLOWED.contains(&header.alg) {
            return Err(invalid("ID token algorithm not allowed"));
        }
        let jwk = self
            .key_for(http, &discovery.jwks_uri, header.kid.as_deref())
            .await?;
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| invalid("unusable provider key"))?;
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.set_audience(&[client_id]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "sub", "aud"]);
        let data =
            jsonwebtoken::decode::<Value>(id_token, &key, &validation).map_err(|e| {
                match e.kind() {
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                        invalid("ID token expired")
                    }
                    jsonwebtoken::errors::ErrorKind::InvalidAudience => {
                        invalid("ID token is for another client")
                    }
                    _ => invalid("ID token signature or claims rejected"),
                }
            })?;
        let claims: IdClaims = serde_json::from_value(data.claims.clone())
            .map_err(|_| invalid("ID token claims malformed"))?;
        let expected_issuer = match &claims.tid {
            Some(tid) if discovery.issuer.contains("{tenantid}") => {
                discovery.issuer.replace("{tenantid}", tid)
            }
            _ => discovery.issuer.clone(),
        };
        if claims.iss != expected_issuer {
            return Err(invalid("ID token from another issuer"));
        }
        if !claims.aud.contains(client_id)
            || (claims.aud.is_many() && claims.azp.as_deref() != Some(client_id))
        {
            return Err(invalid("ID token is for another client"));
        }
        if claims.nonce.as_deref() != Some(nonce) {
            return Err(invalid("ID token nonce does not match"));
        }

        let mut raw = data.claims;
        if let Some(endpoint) = &discovery.userinfo_endpoint {
            let info: Value = get_json(http, endpoint, Some(&tokens.access_token)).await?;
            if info["sub"].as_str() != Some(claims.sub.as_str()) {
                return Err(invalid("userinfo is about another subject"));
            }
            if let (Some(raw), Some(info)) = (raw.as_object_mut(), info.as_object()) {
                for (key, value) in info {
                    raw.insert(key.clone(), value.clone());
                }
            }
        }
        let text = |key: &str| raw[key].as_str().map(str::to_string);
        Ok(Identity {
            subject: claims.sub,
            email: text("email"),
            // Some providers send the flag as a string.
            email_verified: raw["email_verified"].as_bool().unwrap_or(false)
                || raw["email_verified"].as_str() == Some("true"),
            name: text("name"),
            given_name: text("given_name"),
            family_name: text("family_name"),
            picture: text("picture"),
            raw,
        })
    }
}

/// GET a JSON document from a provider, optionally with a bearer token.
pub(super) async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    bearer: Option<&str>,
) -> Result<T, OAuthError> {
    let span = crate::telemetry::client_span("GET", url);
    let response = async {
        let mut request = http
            .get(url)
            .header("accept", "application/json")
            .headers(crate::telemetry::outgoing_headers());
        if let Some(token) = bearer {
            request = request.bearer_auth(token);
        }
        request.send().await
    }
    .instrument(span)
    .await
    .map_err(|e| OAuthError::Unreachable(without_url(&e)))?;
    let status = response.status();
    if status.is_server_error() || status.is_redirection() {
        return Err(OAuthError::Unreachable(format!("{url} answered {status}")));
    }
    if !status.is_success() {
        return Err(OAuthError::Refused(format!("{url} answered {status}")));
    }
    response
        .json()
        .await
        .map_err(|_| OAuthError::Invalid(format!("{url} did not answer JSON")))
}

/// reqwest's messages include the URL, which may carry a token in a query;
/// keep only the kind of failure.
fn without_url(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timed out".into()
    } else if error.is_connect() {
        "connection failed".into()
    } else {
        "request failed".into()
    }
}
