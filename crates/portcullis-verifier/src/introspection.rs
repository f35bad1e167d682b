//! Asking Portcullis whether a verified token is still active, with a
//! short cache keyed by the token's `jti` (only ever looked up after the
//! signature verified, so a forged token can neither hit nor fill it).

use crate::VerifyError;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};
use tokio::sync::Mutex;
use uuid::Uuid;

/// Beyond this many remembered answers, expired ones are dropped, then all.
const MAX_ENTRIES: usize = 10_000;

pub(crate) struct Introspection {
    url: String,
    client_id: String,
    client_secret: String,
    /// How long an "active" answer is trusted.
    ttl: Duration,
    answers: Mutex<HashMap<Uuid, (bool, SystemTime)>>,
}

#[derive(serde::Deserialize)]
struct Verdict {
    active: bool,
}

impl Introspection {
    pub(crate) fn new(
        url: String,
        client_id: String,
        client_secret: String,
        ttl: Duration,
    ) -> Self {
        Self {
            url,
            client_id,
            client_secret,
            ttl,
            answers: Mutex::default(),
        }
    }

    /// Whether the token (already verified; `jti`, `exp` from its claims)
    /// is active.
    pub(crate) async fn is_active(
        &self,
        http: &reqwest::Client,
        token: &str,
        jti: Uuid,
        exp: SystemTime,
        now: SystemTime,
    ) -> Result<bool, VerifyError> {
        if let Some(&(active, until)) = self.answers.lock().await.get(&jti) {
            if now < until {
                return Ok(active);
            }
        }
        let unavailable =
            |e: reqwest::Error| VerifyError::Unavailable(format!("introspection: {e}"));
        let verdict: Verdict = http
            .post(&self.url)
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(unavailable)?
            .json()
            .await
            .map_err(unavailable)?;
        // An ended session never comes back: "inactive" holds until the
        // token expires anyway; "active" only for the short ttl.
        let until = if verdict.active {
            (now + self.ttl).min(exp)
        } else {
            exp
        };
        let mut answers = self.answers.lock().await;
        if answers.len() >= MAX_ENTRIES {
            answers.retain(|_, (_, until)| now < *until);
            if answers.len() >= MAX_ENTRIES {
                answers.clear();
            }
        }
        answers.insert(jti, (verdict.active, until));
        Ok(verdict.active)
    }
}
