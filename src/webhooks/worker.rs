//! Delivery: every instance runs this worker. It leases one endpoint with
//! due deliveries at a time (a conditional update, so no two instances
//! deliver to one endpoint at once), sends that endpoint's due deliveries in
//! event order, records each attempt, and lets the lease go.

use super::{sign, TargetPolicy};
use crate::clock::{Clock, SharedClock};
use crate::config::Settings;
use crate::crypto::{DecryptError, EncryptError, KeyCipher, ServerSecret};
use crate::metrics::{Metrics, WebhookLabels, WebhookResult};
use crate::store::{
    DeliveryAttempt, Store, StoreResult, Timestamp, WebhookDelivery, WebhookEndpoint,
};
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tracing::Instrument;
use uuid::Uuid;

/// Deliveries sent per lease.
const BATCH: i64 = 20;
/// The wait before each retry; after the last one the delivery has failed
/// (about three days after the first attempt, ten attempts in all).
const RETRY_AFTER_SECS: [u64; 9] = [
    5,
    5 * 60,
    30 * 60,
    2 * 3600,
    5 * 3600,
    10 * 3600,
    14 * 3600,
    20 * 3600,
    20 * 3600,
];
/// The start of the receiver's answer that is kept.
const KEPT_RESPONSE_BYTES: usize = 1024;

/// The webhook service: sealing of endpoint secrets, the target policy, the
/// delivery client.
#[derive(Clone)]
pub struct Webhooks {
    cipher: KeyCipher,
    policy: TargetPolicy,
    client: reqwest::Client,
    wake: Arc<Notify>,
}

impl Webhooks {
    pub fn new(secret: &ServerSecret, settings: &Settings) -> Result<Self, String> {
        let https_only = settings.env == crate::config::RunMode::Production;
        let policy = TargetPolicy::new(https_only, settings.webhooks.allowed_nets()?);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(settings.webhooks.timeout_secs))
            .dns_resolver(policy.resolver())
            .user_agent(concat!("Portcullis-Webhooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("webhook client: {e}"))?;
        Ok(Self {
            cipher: secret.webhook_secret_cipher(),
            policy,
            client,
            wake: Arc::default(),
        })
    }

    pub fn policy(&self) -> &TargetPolicy {
        &self.policy
    }

    pub fn seal(&self, endpoint_id: Uuid, secret: &str) -> Result<String, EncryptError> {
        self.cipher
            .encrypt(secret.as_bytes(), &endpoint_id.to_string())
    }

    pub fn open(&self, endpoint_id: Uuid, sealed: &str) -> Result<String, DecryptError> {
        let plain = self.cipher.decrypt(sealed, &endpoint_id.to_string())?;
        String::from_utf8(plain).map_err(|_| DecryptError)
    }

    /// The secrets that sign now: the current one, and the previous one
    /// while its overlap lasts.
    pub fn signing_secrets(
        &self,
        endpoint: &WebhookEndpoint,
        now: Timestamp,
    ) -> Result<Vec<String>, DecryptError> {
        let mut secrets = vec![self.open(endpoint.id, &endpoint.secret_enc)?];
        if let (Some(previous), Some(until)) = (
            &endpoint.previous_secret_enc,
            endpoint.previous_secret_expires_at,
        ) {
            if until > now {
                secrets.push(self.open(endpoint.id, previous)?);
            }
        }
        Ok(secrets)
    }

    /// Looks for due deliveries now rather than at the next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

pub fn spawn_worker(
    store: Arc<dyn Store>,
    (webhooks, metrics): (Webhooks, Arc<Metrics>),
    settings: Arc<Settings>,
    (clock, workers): (SharedClock, &crate::workers::Workers),
) {
    let poll = Duration::from_millis(settings.webhooks.poll_interval_ms);
    workers.spawn(|mut stop| async move {
        while !stop.is_set() {
            let busy = deliver_to_one_endpoint(
                store.as_ref(),
                (&webhooks, &metrics),
                &settings,
                clock.as_ref(),
            )
            .await
            .unwrap_or_else(|error| {
                tracing::warn!(error = ?error, "webhook deliveries unavailable; retrying later");
                false
            });
            if !busy {
                let wake = webhooks.wake.notified();
                stop.idle(async {
                    let _ = tokio::time::timeout(poll, wake).await;
                })
                .await;
            }
        }
    });
}

/// Delivers the due deliveries of one endpoint; false when none was due.
async fn deliver_to_one_endpoint(
    store: &dyn Store,
    (webhooks, metrics): (&Webhooks, &Metrics),
    settings: &Settings,
    clock: &dyn Clock,
) -> StoreResult<bool> {
    let now = clock.now();
    let lease = Duration::from_secs(settings.webhooks.timeout_secs * BATCH as u64 + 30);
    let (endpoint, deliveries) = {
        let mut repo = store.connection().await?;
        let Some(endpoint) = repo.claim_webhook_endpoint(now, now.plus(lease)).await? else {
            return Ok(false);
        };
        let due = repo.due_webhook_deliveries(endpoint.id, now, BATCH).await?;
        (endpoint, due)
    };
    let mut streak = endpoint.failure_streak;
    let mut disable: Option<String> = None;
    let secrets = webhooks.signing_secrets(&endpoint, now);
    for delivery in &deliveries {
        let outcome = match &secrets {
            Ok(secrets) => send(webhooks, &endpoint, secrets, delivery, clock.now()).await,
            Err(_) => Sent::Error("the endpoint's secret cannot be opened".into()),
        };
        let at = clock.now();
        let attempt = judge(outcome, delivery, at, &mut streak, &mut disable, settings);
        let result = match attempt.status {
            "delivered" => WebhookResult::delivered,
            "pending" => WebhookResult::retried,
            _ => WebhookResult::failed,
        };
        metrics
            .webhooks
            .get_or_create(&WebhookLabels { result })
            .inc();
        store
            .connection()
            .await?
            .record_webhook_attempt(delivery.event_id, endpoint.id, &attempt)
            .await?;
        if disable.is_some() {
            break;
        }
    }
    if let Some(reason) = &disable {
        tracing::warn!(endpoint_id = %endpoint.id, reason = %reason, "webhook endpoint switched off");
    }
    store
        .connection()
        .await?
        .release_webhook_endpoint(endpoint.id, streak, disable.as_deref(), clock.now())
        .await?;
    Ok(true)
}

enum Sent {
    Answered { status: u16, body: String },
    Error(String),
}

async fn send(
    webhooks: &Webhooks,
    endpoint: &WebhookEndpoint,
    secrets: &[String],
    delivery: &WebhookDelivery,
    now: Timestamp,
) -> Sent {
    // IP literals never reach the resolver: checked here, every time.
    if let Err(error) = webhooks.policy.check_url(&endpoint.url) {
        return Sent::Error(format!("target refused: {error}"));
    }
    let id = format!("msg_{}", delivery.event_id.simple());
    let timestamp = now.unix_seconds();
    let secrets: Vec<&str> = secrets.iter().map(String::as_str).collect();
    let Ok(signature) = sign(&secrets, &id, timestamp, &delivery.payload) else {
        return Sent::Error("the endpoint's secret is malformed".into());
    };
    let span = crate::telemetry::client_span("POST", &endpoint.url);
    let sent = async {
        webhooks
            .client
            .post(&endpoint.url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .headers(crate::telemetry::outgoing_headers())
            .body(delivery.payload.clone())
            .send()
            .await
    };
    match sent.instrument(span).await {
        Ok(mut response) => {
            let status = response.status().as_u16();
            let mut body = Vec::new();
            while body.len() < KEPT_RESPONSE_BYTES {
                match response.chunk().await {
                    Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                    _ => break,
                }
            }
            body.truncate(KEPT_RESPONSE_BYTES);
            let body = String::from_utf8_lossy(&body).into_owned();
            Sent::Answered { status, body }
        }
        Err(error) => Sent::Error(describe(&error)),
    }
}

/// What went wrong, without the URL (it may carry a token of the receiver).
fn describe(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect (refused, unreachable, or a private address)"
    } else if error.is_redirect() {
        "redirected (redirects are not followed)"
    } else {
        "request failed"
    };
    what.to_string()
}

/// Turns an outcome into the attempt to record, and the endpoint's streak
/// and switch-off into what follows from it.
fn judge(
    sent: Sent,
    delivery: &WebhookDelivery,
    at: Timestamp,
    streak: &mut i64,
    disable: &mut Option<String>,
    settings: &Settings,
) -> DeliveryAttempt {
    let (http_status, response, error) = match sent {
        Sent::Answered { status, body } => (Some(i64::from(status)), Some(body), None),
        Sent::Error(error) => (None, None, Some(error)),
    };
    let ok = http_status.is_some_and(|s| (200..300).contains(&s));
    if ok {
        *streak = 0;
        return DeliveryAttempt {
            at,
            status: "delivered",
            next_attempt_at: None,
            http_status,
            response,
            error,
        };
    }
    *streak += 1;
    if http_status == Some(410) {
        *disable = Some("the receiver answered 410 Gone".into());
    } else if *streak >= settings.webhooks.disable_after_failures {
        *disable = Some(format!("{} failed attempts in a row", *streak));
    }
    let attempts = usize::try_from(delivery.attempts).unwrap_or(0);
    let retry = RETRY_AFTER_SECS
        .get(attempts)
        .filter(|_| http_status != Some(410));
    let (status, next_attempt_at) = match retry {
        Some(secs) => ("pending", Some(at.plus(jittered(*secs)))),
        None => ("failed", None),
    };
    // 3xx: the redirect is not followed; say so.
    let error = error.or_else(|| {
        http_status
            .filter(|s| (300..400).contains(s))
            .map(|_| "redirected (redirects are not followed)".to_string())
    });
    DeliveryAttempt {
        at,
        status,
        next_attempt_at,
        http_status,
        response,
        error,
    }
}

/// ±10 %, so that endpoints that failed together do not retry together.
fn jittered(secs: u64) -> Duration {
    let millis = secs * 1000;
    let spread = millis / 10;
    let jitter = rand::rng().random_range(0..=spread * 2);
    Duration::from_millis(millis - spread + jitter)
}
