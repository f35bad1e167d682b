use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The claims of a verified Portcullis access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The user id.
    pub sub: Uuid,
    /// The session id.
    pub sid: Uuid,
    /// The user's role (`VIEWER`, `USER`, `ADMIN` or `SUPER-ADMIN`).
    pub role: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: i64,
    /// The token's unique id.
    pub jti: Uuid,
    /// Authenticator assurance level: `aal1` (one factor) or `aal2`.
    #[serde(default)]
    pub aal: Option<String>,
    /// The same as `aal`, under the name RFC 9470 uses.
    #[serde(default)]
    pub acr: Option<String>,
    /// How the user proved who they are (RFC 8176: `pwd`, `otp`, `fed`,
    /// `hwk`, `swk`, `user`, `mfa`).
    #[serde(default)]
    pub amr: Vec<String>,
    /// When they did, seconds since the Unix epoch (a refresh keeps it).
    #[serde(default)]
    pub auth_time: Option<i64>,
}

impl Claims {
    /// Signed in with two factors (or stepped up to them).
    pub fn is_aal2(&self) -> bool {
        self.aal.as_deref() == Some("aal2")
    }

    /// The user proved who they are at most `max_age_secs` before `now`
    /// (Unix seconds): what an RFC 9470 `max_age` asks for.
    pub fn authenticated_within(&self, max_age_secs: i64, now: i64) -> bool {
        self.auth_time
            .is_some_and(|at| now.saturating_sub(at) <= max_age_secs)
    }
}
