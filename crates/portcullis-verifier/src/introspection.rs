//! Asking Portcullis whether a verified token is still active, with a
//! short cache keyed by the token's `jti` (only ever looked up after the
//! signature verified, so a forged token can neither hit nor fill it).

use crate::http::read_json;
use crate::VerifyError;
use reqwest::header::RETRY_AFTER;
use reqwest::StatusCode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use uuid::Uuid;

/// Beyond this many remembered answers, expired ones are dropped, then all.
const MAX_ENTRIES: usize = 10_000;
/// An "inactive" answer is final for a session, but kept no longer than
/// this: the entry is memory, and a wrong answer (a replica behind) heals.
const INACTIVE_TTL: Duration = Duration::from_secs(30);
/// A verdict is a few hundred bytes.
const MAX_BODY: usize = 16 * 1024;
/// When Portcullis says 429 or 503 without `Retry-After`; and the most we
/// honour.
const DEFAULT_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

type Outcome = Option<Result<bool, String>>;

enum Entry {
    Known {
        active: bool,
        until: SystemTime,
    },
    /// One call per `jti` at a time; concurrent verifications share it.
    Pending(watch::Receiver<Outcome>),
}

#[derive(Clone)]
pub(crate) struct Introspection {
    inner: Arc<Inner>,
}

struct Inner {
    url: reqwest::Url,
    http: reqwest::Client,
    client_id: String,
    client_secret: String,
    /// How long an "active" answer is trusted.
    ttl: Duration,
    timeout: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    answers: HashMap<Uuid, Entry>,
    /// Portcullis asked us to slow down (429/503 with `Retry-After`).
    quiet_until: Option<SystemTime>,
}

#[derive(serde::Deserialize)]
struct Verdict {
    active: bool,
}

pub(crate) struct IntrospectionSettings {
    pub(crate) url: reqwest::Url,
    pub(crate) http: reqwest::Client,
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) ttl: Duration,
    /// The longest one call may take, whatever the client's own settings.
    pub(crate) timeout: Duration,
}

impl Introspection {
    pub(crate) fn new(settings: IntrospectionSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                url: settings.url,
                http: settings.http,
                client_id: settings.client_id,
                client_secret: settings.client_secret,
                ttl: settings.ttl,
                timeout: settings.timeout,
                state: Mutex::default(),
            }),
        }
    }

    /// Whether the token (already verified; `jti`, `exp` from its claims)
    /// is active. Waits at most `wait` for Portcullis.
    pub(crate) async fn is_active(
        &self,
        token: &str,
        jti: Uuid,
        exp: SystemTime,
        now: SystemTime,
        wait: Duration,
    ) -> Result<bool, VerifyError> {
        let mut outcome = {
            let mut state = self
                .inner
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match state.answers.get(&jti) {
                Some(Entry::Known { active, until }) if now < *until => return Ok(*active),
                Some(Entry::Pending(outcome)) => outcome.clone(),
                _ => {
                    if state.quiet_until.is_some_and(|until| now < until) {
                        return Err(VerifyError::Unavailable(
                            "introspection: backing off as Portcullis asked (Retry-After)".into(),
                        ));
                    }
                    let (tell, outcome) = watch::channel(None);
                    state.answers.insert(jti, Entry::Pending(outcome.clone()));
                    self.start(token.to_string(), jti, exp, now, tell);
                    outcome
                }
            }
        };
        let answer = match tokio::time::timeout(wait, outcome.wait_for(Option::is_some)).await {
            Ok(Ok(answer)) => answer.clone(),
            _ => None,
        };
        match answer {
            Some(Ok(active)) => Ok(active),
            Some(Err(error)) => Err(VerifyError::Unavailable(error)),
            None => Err(VerifyError::Unavailable("introspection: timed out".into())),
        }
    }

    /// The call, in its own task: a verification that gives up waiting does
    /// not leave the entry pending, and neither does a task the runtime
    /// drops half-way (see [`Settle`]).
    fn start(
        &self,
        token: String,
        jti: Uuid,
        exp: SystemTime,
        now: SystemTime,
        tell: watch::Sender<Outcome>,
    ) {
        let settle = Settle {
            inner: Arc::clone(&self.inner),
            jti,
            tell: Some(tell),
        };
        tokio::spawn(async move {
            let mut settle = settle;
            let inner = Arc::clone(&settle.inner);
            let result = match tokio::time::timeout(inner.timeout, inner.call(&token)).await {
                Ok(result) => result,
                Err(_) => Err((
                    VerifyError::Unavailable("introspection: timed out".into()),
                    None,
                )),
            };
            settle.done(result, exp, now);
        });
    }
}

/// Settles one pending call: its answer is cached and told to the waiters;
/// a call that never finished (dropped) removes its entry and tells them so.
struct Settle {
    inner: Arc<Inner>,
    jti: Uuid,
    tell: Option<watch::Sender<Outcome>>,
}

impl Settle {
    fn done(
        &mut self,
        result: Result<bool, (VerifyError, Option<Duration>)>,
        exp: SystemTime,
        now: SystemTime,
    ) {
        let Some(tell) = self.tell.take() else { return };
        let inner = &self.inner;
        let mut state = inner.state.lock().unwrap_or_else(PoisonError::into_inner);
        let outcome = match result {
            Ok(active) => {
                // "active" only for the short ttl, and never past `exp`.
                let ttl = if active { inner.ttl } else { INACTIVE_TTL };
                let until = now.checked_add(ttl).unwrap_or(now).min(exp);
                make_room(&mut state.answers, now);
                state
                    .answers
                    .insert(self.jti, Entry::Known { active, until });
                Ok(active)
            }
            Err((error, backoff)) => {
                tracing::warn!(%error, "introspection failed");
                state.answers.remove(&self.jti);
                if let Some(backoff) = backoff {
                    state.quiet_until = now.checked_add(backoff);
                }
                Err(error.to_string())
            }
        };
        drop(state);
        tell.send_replace(Some(outcome));
    }
}

impl Drop for Settle {
    fn drop(&mut self) {
        let Some(tell) = self.tell.take() else { return };
        let mut state = self
            .inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if matches!(state.answers.get(&self.jti), Some(Entry::Pending(_))) {
            state.answers.remove(&self.jti);
        }
        drop(state);
        tell.send_replace(Some(Err("introspection: the call was dropped".into())));
    }
}

impl Inner {
    /// The verdict; or the error, with how long to stay quiet when
    /// Portcullis asked for that.
    async fn call(&self, token: &str) -> Result<bool, (VerifyError, Option<Duration>)> {
        let response = self
            .http
            .post(self.url.clone())
            .basic_auth(&self.client_id, Some(&self.client_secret))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .map_err(|e| {
                (
                    VerifyError::Unavailable(format!("introspection: {e}")),
                    None,
                )
            })?;
        let backoff = match response.status() {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => Some(
                response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse().ok())
                    .map(Duration::from_secs)
                    .unwrap_or(DEFAULT_BACKOFF)
                    .min(MAX_BACKOFF),
            ),
            _ => None,
        };
        read_json::<Verdict>(response, MAX_BODY, "introspection")
            .await
            .map(|verdict| verdict.active)
            .map_err(|e| (e, backoff))
    }
}

/// Keeps the cache bounded: expired answers go first, then every answer
/// (pending calls stay: their waiters need the entry).
fn make_room(answers: &mut HashMap<Uuid, Entry>, now: SystemTime) {
    if answers.len() < MAX_ENTRIES {
        return;
    }
    answers.retain(|_, entry| match entry {
        Entry::Known { until, .. } => now < *until,
        Entry::Pending(_) => true,
    });
    if answers.len() >= MAX_ENTRIES {
        answers.retain(|_, entry| matches!(entry, Entry::Pending(_)));
    }
}
