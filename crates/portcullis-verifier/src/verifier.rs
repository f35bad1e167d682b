use crate::http::{checked_url, BuildError};
use crate::introspection::{Introspection, IntrospectionSettings};
use crate::keys::{KeyCache, KeyCacheSettings};
use crate::{Claims, VerifyError};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// RFC 9068's media type, which Portcullis puts in every access token.
const TOKEN_TYPE: &str = "at+jwt";
/// Portcullis issues nothing longer; refused before any parsing.
const MAX_TOKEN_LEN: usize = 4096;

/// Where "now" comes from (tests move it; services keep the system clock).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Verifies Portcullis access tokens. Cheap to share (`Arc`, or
/// `web::Data` in actix-web); one per issuer.
pub struct Verifier {
    keys: KeyCache,
    introspection: Option<Introspection>,
    validation: Validation,
    leeway: Duration,
    /// How long a verification waits for a call to Portcullis it needs.
    wait: Duration,
    clock: Clock,
}

/// Configures a [`Verifier`].
pub struct Builder {
    issuer: String,
    audience: String,
    jwks_url: Option<String>,
    introspection_url: Option<String>,
    credentials: Option<(String, String)>,
    introspection_ttl: Duration,
    default_max_age: Duration,
    min_refetch_interval: Duration,
    max_stale: Duration,
    leeway: Duration,
    timeout: Duration,
    allow_http: bool,
    http: Option<reqwest::Client>,
    clock: Clock,
}

impl Verifier {
    /// `issuer`: Portcullis's public URL (the `iss` of its tokens);
    /// `audience`: its `audience` setting.
    pub fn builder(issuer: impl Into<String>, audience: impl Into<String>) -> Builder {
        Builder {
            issuer: issuer.into().trim_end_matches('/').to_string(),
            audience: audience.into(),
            jwks_url: None,
            introspection_url: None,
            credentials: None,
            introspection_ttl: Duration::from_secs(5),
            default_max_age: Duration::from_secs(300),
            min_refetch_interval: Duration::from_secs(10),
            max_stale: Duration::from_secs(3600),
            leeway: Duration::from_secs(5),
            timeout: Duration::from_secs(5),
            allow_http: false,
            http: None,
            clock: Arc::new(SystemTime::now),
        }
    }

    /// Verifies signature, `alg`, `typ`, `iss`, `aud` and `exp`; then, when
    /// introspection is configured, that the session is still active.
    pub async fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let now = (self.clock)();
        let claims = self.check(token, now).await?;
        if let Some(introspection) = &self.introspection {
            let exp = UNIX_EPOCH + Duration::from_secs(u64::try_from(claims.exp).unwrap_or(0));
            if !introspection
                .is_active(token, claims.jti, exp, now, self.wait)
                .await?
            {
                return Err(VerifyError::Inactive);
            }
        }
        Ok(claims)
    }

    /// Only the checks that need no call to Portcullis beyond the cached key
    /// set, even when introspection is configured.
    pub async fn verify_signed(&self, token: &str) -> Result<Claims, VerifyError> {
        self.check(token, (self.clock)()).await
    }

    async fn check(&self, token: &str, now: SystemTime) -> Result<Claims, VerifyError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(VerifyError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)?;
        // Fixed here, never taken from the token.
        if header.alg != Algorithm::EdDSA || header.typ.as_deref() != Some(TOKEN_TYPE) {
            return Err(VerifyError::NotAnAccessToken);
        }
        let kid = header.kid.ok_or(VerifyError::Malformed)?;
        let key = self.keys.key(&kid, now, self.wait).await?;
        let claims = jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => VerifyError::BadSignature,
                ErrorKind::InvalidIssuer => VerifyError::WrongIssuer,
                ErrorKind::InvalidAudience => VerifyError::WrongAudience,
                ErrorKind::InvalidAlgorithm => VerifyError::NotAnAccessToken,
                _ => VerifyError::Malformed,
            })?
            .claims;
        let now_secs = now.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let leeway = self.leeway.as_secs();
        if u64::try_from(claims.exp).map_or(true, |exp| exp.saturating_add(leeway) <= now_secs) {
            return Err(VerifyError::Expired);
        }
        Ok(claims)
    }

    /// Now, by the verifier's clock, in Unix seconds.
    pub fn now_unix(&self) -> i64 {
        let secs = (self.clock)()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        i64::try_from(secs).unwrap_or(i64::MAX)
    }
}

impl Builder {
    /// Default `{issuer}/.well-known/jwks.json`.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }

    /// Also ask Portcullis whether each token is still active, as the
    /// service client `client_id` (created with `POST
    /// /v1/admin/service-clients`).
    pub fn introspection(
        mut self,
        client_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.credentials = Some((client_id.into(), secret.into()));
        self
    }

    /// Default `{issuer}/v1/introspect`.
    pub fn introspection_url(mut self, url: impl Into<String>) -> Self {
        self.introspection_url = Some(url.into());
        self
    }

    /// How long an "active" answer is reused (default 5 s): the longest a
    /// signed-out session is still accepted.
    pub fn introspection_ttl(mut self, ttl: Duration) -> Self {
        self.introspection_ttl = ttl.min(Duration::from_secs(24 * 3600));
        self
    }

    /// How long a key set without `Cache-Control: max-age` is kept (300 s).
    pub fn default_max_age(mut self, age: Duration) -> Self {
        self.default_max_age = age;
        self
    }

    /// The least time between two fetches of the key set (10 s). Fetches
    /// are shared: however many verifications need one, one is under way.
    pub fn min_refetch_interval(mut self, interval: Duration) -> Self {
        self.min_refetch_interval = interval;
        self
    }

    /// How long past its freshness a key set keeps verifying while it
    /// cannot be fetched again (1 h): an outage of Portcullis does not stop
    /// services at once, but a key it retired does not live on for ever.
    pub fn max_stale(mut self, max_stale: Duration) -> Self {
        // Clamped so that no setting overflows a time into its opposite.
        self.max_stale = max_stale.min(Duration::from_secs(365 * 24 * 3600));
        self
    }

    /// Clock skew tolerated on `exp` (5 s, as Portcullis's default).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Timeout of each call to Portcullis (5 s), and the longest a
    /// verification waits for one.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout.min(Duration::from_secs(3600));
        self
    }

    /// Accept `http://` URLs beyond loopback (a trusted private network).
    /// Without it, the key set and introspection must be fetched over https:
    /// whoever can change the key set can sign any token.
    pub fn allow_http(mut self) -> Self {
        self.allow_http = true;
        self
    }

    /// Use this client for the calls to Portcullis (own CA roots, proxy,
    /// mTLS). The verifier's `timeout` still bounds every call, and an
    /// answer from any URL but the configured one (a followed redirect) is
    /// not trusted.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Replaces the system clock (for tests).
    pub fn clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the URLs (https unless loopback or `allow_http`) and builds
    /// the HTTP client.
    pub fn build(self) -> Result<Verifier, BuildError> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Checked against `clock` instead (jsonwebtoken reads the system's).
        validation.validate_exp = false;
        let http = match self.http {
            Some(client) => client,
            None => reqwest::Client::builder()
                .timeout(self.timeout)
                // Only the URLs checked below are ever called.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| BuildError::Client(e.to_string()))?,
        };
        let jwks_url = self
            .jwks_url
            .clone()
            .unwrap_or_else(|| format!("{}/.well-known/jwks.json", self.issuer));
        let jwks_url = checked_url("the key set URL", &jwks_url, self.allow_http)?;
        let introspection = match &self.credentials {
            Some((id, secret)) => {
                let url = self
                    .introspection_url
                    .clone()
                    .unwrap_or_else(|| format!("{}/v1/introspect", self.issuer));
                let url = checked_url("the introspection URL", &url, self.allow_http)?;
                Some(Introspection::new(IntrospectionSettings {
                    url,
                    http: http.clone(),
                    client_id: id.clone(),
                    client_secret: secret.clone(),
                    ttl: self.introspection_ttl,
                    timeout: self.timeout,
                }))
            }
            None => None,
        };
        let keys = KeyCache::new(KeyCacheSettings {
            url: jwks_url,
            http,
            default_max_age: self.default_max_age,
            min_refetch_interval: self.min_refetch_interval,
            max_stale: self.max_stale,
            timeout: self.timeout,
        });
        Ok(Verifier {
            keys,
            introspection,
            validation,
            leeway: self.leeway,
            // A little beyond the client's timeout: its error, not ours.
            wait: self.timeout.saturating_add(Duration::from_millis(500)),
            clock: self.clock,
        })
    }
}
