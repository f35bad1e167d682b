//! GitHub: OAuth 2.0 without OpenID Connect. The identity comes from the
//! user API, the address from the verified emails API.

use super::oidc::get_json;
use super::{Identity, OAuthError};
use crate::config::ProviderSettings;
use serde::Deserialize;
use serde_json::Value;

pub struct Github {
    pub authorize_url: String,
    pub token_url: String,
    api_url: String,
}

#[derive(Deserialize)]
struct EmailEntry {
    email: String,
    primary: bool,
    verified: bool,
}

impl Github {
    pub fn new(settings: &ProviderSettings) -> Self {
        let or = |value: &Option<String>, default: &str| {
            value
                .clone()
                .unwrap_or_else(|| default.to_string())
                .trim_end_matches('/')
                .to_string()
        };
        Self {
            authorize_url: or(
                &settings.authorize_url,
                "https://github.com/login/oauth/authorize",
            ),
            token_url: or(
                &settings.token_url,
                "https://github.com/login/oauth/access_token",
            ),
            api_url: or(&settings.api_url, "https://api.github.com"),
        }
    }

    pub async fn identify(
        &self,
        http: &reqwest::Client,
        access_token: &str,
    ) -> Result<Identity, OAuthError> {
        let user: Value =
            get_json(http, &format!("{}/user", self.api_url), Some(access_token)).await?;
        let subject = match &user["id"] {
            Value::Number(id) => id.to_string(),
            _ => return Err(OAuthError::Invalid("GitHub user without an id".into())),
        };
        let emails: Vec<EmailEntry> = get_json(
            http,
            &format!("{}/user/emails", self.api_url),
            Some(access_token),
        )
        .await?;
        // The primary address if it is verified, else any verified one.
        let verified = emails
            .iter()
            .filter(|e| e.verified)
            .max_by_key(|e| e.primary)
            .map(|e| e.email.clone());
        let text = |key: &str| user[key].as_str().map(str::to_string);
        Ok(Identity {
            subject,
            email_verified: verified.is_some(),
            email: verified.or_else(|| text("email")),
            name: text("name").or_else(|| text("login")),
            given_name: None,
            family_name: None,
            picture: text("avatar_url"),
            raw: user,
        })
    }
}
