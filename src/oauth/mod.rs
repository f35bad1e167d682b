//! Talking to OAuth 2.0 / OpenID Connect providers: building authorization
//! URLs, exchanging codes (the `oauth2` crate over reqwest, no redirects
//! followed, timeouts), validating ID tokens and reading profiles.

mod cache;
mod github;
mod oidc;

use crate::config::{OAuthSettings, ProviderKind, ProviderSettings};
use crate::store::Timestamp;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    ExtraTokenFields, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use tracing::Instrument;

/// Google's and Microsoft's issuers, used when the provider id names them.
const GOOGLE_ISSUER: &str = "https://accounts.google.com";
const MICROSOFT_ISSUER: &str = "https://login.microsoftonline.com/common/v2.0";

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    /// The provider could not be reached or answered with a server error.
    #[error("the provider is unreachable: {0}")]
    Unreachable(String),
    /// The provider refused the request (e.g. an invalid or replayed code).
    #[error("the provider refused: {0}")]
    Refused(String),
    /// The provider's answer does not pass validation (ID token, profile).
    #[error("the provider's answer is invalid: {0}")]
    Invalid(String),
}

/// Who the provider says signed in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Identity {
    /// The provider's stable subject identifier.
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub picture: Option<String>,
    /// Every claim or profile field as received, kept as `accounts.raw`.
    pub raw: serde_json::Value,
}

/// Tokens the provider issued to us; stored encrypted, never handed out.
#[derive(Debug, Clone)]
pub struct ProviderTokens {
    pub access_token: String,
    pub access_expires_at: Option<Timestamp>,
    pub refresh_token: Option<String>,
    pub id_token: Option<String>,
    pub scope: Option<String>,
}

/// The `id_token` field of an OpenID Connect token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

type TokenAnswer = StandardTokenResponse<IdTokenField, BasicTokenType>;
type CodeClient = oauth2::Client<
    BasicErrorResponse,
    TokenAnswer,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// One configured provider.
pub struct Provider {
    pub id: String,
    pub name: String,
    pub kind: ProviderKind,
    client_id: String,
    client_secret: String,
    scopes: Vec<String>,
    redirect_uri: String,
    flavour: Flavour,
}

enum Flavour {
    Oidc(oidc::Oidc),
    Github(github::Github),
}

/// What the provider's login page needs from a started flow.
pub struct AuthorizationRequest<'a> {
    pub state: &'a str,
    pub nonce: &'a str,
    pub pkce_challenge: PkceCodeChallenge,
}

impl Provider {
    fn new(id: &str, settings: &ProviderSettings, public_url: &str) -> Result<Self, String> {
        let kind = settings.kind.unwrap_or(match id {
            "github" => ProviderKind::Github,
            _ => ProviderKind::Oidc,
        });
        let flavour = match kind {
            ProviderKind::Oidc => {
                let issuer = settings.issuer.clone().or_else(|| match id {
                    "google" => Some(GOOGLE_ISSUER.to_string()),
                    "microsoft" => Some(MICROSOFT_ISSUER.to_string()),
                    _ => None,
                });
                let issuer =
                    issuer.ok_or_else(|| format!("oauth provider {id} needs an issuer"))?;
                Flavour::Oidc(oidc::Oidc::new(issuer.trim_end_matches('/')))
            }
            ProviderKind::Github => Flavour::Github(github::Github::new(settings)),
        };
        let default_scopes: &[&str] = match kind {
            ProviderKind::Oidc => &["openid", "email", "profile"],
            ProviderKind::Github => &["read:user", "user:email"],
        };
        let name = settings.display_name.clone().unwrap_or_else(|| match id {
            "google" => "Google".to_string(),
            "github" => "GitHub".to_string(),
            "microsoft" => "Microsoft".to_string(),
            other => other.to_string(),
        });
        Ok(Self {
            id: id.to_string(),
            name,
            kind,
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.expose().to_string(),
            scopes: settings
                .scopes
                .clone()
                .unwrap_or_else(|| default_scopes.iter().map(|s| s.to_string()).collect()),
            redirect_uri: format!("{public_url}/v1/oauth/{id}/callback"),
            flavour,
        })
    }

    async fn client(&self, http: &reqwest::Client) -> Result<CodeClient, OAuthError> {
        let (auth, token) = match &self.flavour {
            Flavour::Oidc(oidc) => {
                let discovery = oidc.discovery(http).await?;
                (
                    discovery.authorization_endpoint.clone(),
                    discovery.token_endpoint.clone(),
                )
            }
            Flavour::Github(github) => (github.authorize_url.clone(), github.token_url.clone()),
        };
        let invalid = |what: &str| OAuthError::Invalid(format!("{what} is not a valid URL"));
        Ok(oauth2::Client::new(ClientId::new(self.client_id.clone()))
            .set_client_secret(ClientSecret::new(self.client_secret.clone()))
            .set_auth_uri(AuthUrl::new(auth).map_err(|_| invalid("authorization endpoint"))?)
            .set_token_uri(TokenUrl::new(token).map_err(|_| invalid("token endpoint"))?)
            .set_redirect_uri(
                RedirectUrl::new(self.redirect_uri.clone()).map_err(|_| invalid("redirect URI"))?,
            ))
    }

    /// The provider's login page for a started flow.
    pub async fn authorization_url(
        &self,
        http: &reqwest::Client,
        request: AuthorizationRequest<'_>,
    ) -> Result<String, OAuthError> {
        let client = self.client(http).await?;
        let state = request.state.to_string();
        let mut builder = client
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(self.scopes.iter().map(|s| Scope::new(s.clone())))
            .set_pkce_challenge(request.pkce_challenge);
        if matches!(self.flavour, Flavour::Oidc(_)) {
            builder = builder.add_extra_param("nonce", request.nonce);
        }
        Ok(builder.url().0.to_string())
    }

    /// Exchanges the code and finds out who signed in.
    pub async fn complete(
        &self,
        http: &reqwest::Client,
        code: &str,
        pkce_verifier: &str,
        nonce: &str,
    ) -> Result<(Identity, ProviderTokens), OAuthError> {
        let client = self.client(http).await?;
        let token_url = client.token_uri().to_string();
        let traced = crate::telemetry::TracedHttp(http);
        let answer = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
            .request_async(&traced)
            .instrument(crate::telemetry::client_span("POST", &token_url))
            .await
            .map_err(token_error)?;
        let tokens = ProviderTokens {
            access_token: answer.access_token().secret().clone(),
            access_expires_at: answer.expires_in().map(|d| Timestamp::now().plus(d)),
            refresh_token: answer.refresh_token().map(|t| t.secret().clone()),
            id_token: answer.extra_fields().id_token.clone(),
            scope: answer.scopes().map(|scopes| {
                scopes
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            }),
        };
        let identity = match &self.flavour {
            Flavour::Oidc(oidc) => oidc.identify(http, &self.client_id, &tokens, nonce).await?,
            Flavour::Github(github) => github.identify(http, &tokens.access_token).await?,
        };
        Ok((identity, tokens))
    }
}

fn token_error<RE: std::error::Error + 'static>(
    error: oauth2::RequestTokenError<
        RE,
        oauth2::StandardErrorResponse<oauth2::basic::BasicErrorResponseType>,
    >,
) -> OAuthError {
    match error {
        oauth2::RequestTokenError::ServerResponse(response) => {
            OAuthError::Refused(response.error().as_ref().to_string())
        }
        oauth2::RequestTokenError::Request(error) => OAuthError::Unreachable(error.to_string()),
        oauth2::RequestTokenError::Parse(error, _) => OAuthError::Invalid(error.to_string()),
        oauth2::RequestTokenError::Other(message) => OAuthError::Unreachable(message),
    }
}

/// Every enabled provider, and the HTTP client that talks to them.
pub struct Providers {
    http: reqwest::Client,
    by_id: BTreeMap<String, Provider>,
}

impl Providers {
    pub fn from_settings(settings: &OAuthSettings, public_url: &str) -> Result<Self, String> {
        let timeout = Duration::from_secs(settings.http_timeout_secs);
        let http = reqwest::Client::builder()
            // Following redirects would let a provider point us anywhere (SSRF).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(concat!("portcullis/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let by_id = settings
            .providers
            .iter()
            .map(|(id, p)| Provider::new(id, p, public_url).map(|p| (id.clone(), p)))
            .collect::<Result<_, _>>()?;
        Ok(Self { http, by_id })
    }

    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.by_id.get(id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Provider> {
        self.by_id.values()
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }
}
