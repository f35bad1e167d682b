//! Prometheus metrics. Each instance counts its own (no cross-instance sums
//! in the process; Prometheus adds instances up). Labels are route
//! templates, methods, status classes and outcomes from closed sets: never
//! a raw path, an address, a user id or anything else a client controls.
//!
//! Served on a listener of its own (`metrics_listen`, off by default; see
//! [`server`]), so that the API port never exposes them.

pub mod server;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The route template (`/v1/sessions/{id}`), or `unmatched`.
    pub route: String,
    pub method: &'static str,
    /// `2xx`, `4xx`, …
    pub status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
    pub method: &'static str,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum SignInMethod {
    password,
    email_code,
    provider,
    passkey,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    success,
    failure,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SignInLabels {
    pub method: SignInMethod,
    pub result: Outcome,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum RefreshResult {
    /// The token was current and was rotated.
    rotated,
    /// Presented again within the reuse window: the same successor.
    reuse_window,
    /// A used token came back: the session was revoked.
    reuse_revoked,
    /// Unknown, expired, or its session ended.
    refused,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefreshLabels {
    pub result: RefreshResult,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    /// The limit's name (`sign_in`, `mail_per_address`, …).
    pub limit: &'static str,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum CodeResult {
    /// A new code was made (and mailed).
    issued,
    /// A code or link was used.
    confirmed,
    /// A wrong, used or expired code or link was refused.
    refused,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabels {
    /// `verify_email`, `sign_in`, `reset_password` or `change_email`.
    pub action: &'static str,
    pub result: CodeResult,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum MailResult {
    sent,
    /// Delivery failed; it will be tried again later.
    retried,
    /// Given up: out of date, or it could not be opened.
    dropped,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MailLabels {
    pub result: MailResult,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum WebhookResult {
    /// A 2xx came back.
    delivered,
    /// The attempt failed; another follows.
    retried,
    /// Given up: retries exhausted, or 410.
    failed,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    pub result: WebhookResult,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum ConnectionState {
    in_use,
    idle,
    waiting,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConnectionLabels {
    pub state: ConnectionState,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum SessionLookup {
    /// Answered from memory.
    remembered,
    /// Read from the database while the lease held (then remembered).
    read,
    /// Read from the database because the lease had lapsed (the counter of
    /// changes not read within it) or the cache is off.
    unleased,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SessionLookupLabels {
    pub result: SessionLookup,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum KeyState {
    /// Published, signing later (the rotation lead).
    pending,
    /// Signing now (the newest of them signs).
    active,
    /// Published until the tokens it signed have expired.
    retired,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KeyLabels {
    pub state: KeyState,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum HashRefusal {
    /// The queue was full (503).
    queue_full,
    /// The client already held its share of the slots (429).
    client_share,
    /// No slot came free within the queue's wait limit (503).
    waited_too_long,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HashRefusalLabels {
    pub reason: HashRefusal,
}

/// What the password hasher reports: how long requests wait for a hashing
/// slot, and how many it refuses.
#[derive(Clone)]
pub struct HashMetrics {
    wait: Histogram,
    refusals: Family<HashRefusalLabels, Counter>,
}

impl HashMetrics {
    pub fn waited(&self, wait: std::time::Duration) {
        self.wait.observe(wait.as_secs_f64());
    }

    pub fn refused(&self, reason: HashRefusal) {
        self.refusals
            .get_or_create(&HashRefusalLabels { reason })
            .inc();
    }
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum FactorKind {
    totp,
    recovery_code,
    passkey,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FactorLabels {
    pub factor: FactorKind,
    pub result: Outcome,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Backlog {
    mail,
    webhooks,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BacklogLabels {
    pub outbox: Backlog,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// Every metric of the instance, and the registry that encodes them.
pub struct Metrics {
    registry: Registry,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<RouteLabels, Histogram>,
    pub sign_ins: Family<SignInLabels, Counter>,
    pub refreshes: Family<RefreshLabels, Counter>,
    pub rate_limited: Family<LimitLabels, Counter>,
    /// Password hashes waiting for a worker, read at each scrape.
    pub hash_queue_depth: Gauge,
    /// 1 while the database is unreachable and requests are refused at once.
    pub db_unreachable: Gauge,
    pub codes: Family<CodeLabels, Counter>,
    pub lockouts: Counter,
    pub mail: Family<MailLabels, Counter>,
    /// Webhook delivery attempts.
    pub webhooks: Family<WebhookLabels, Counter>,
    /// The database pool, read at each scrape.
    pub db_connections: Family<ConnectionLabels, Gauge>,
    /// Published signing keys, read at each scrape.
    pub signing_keys: Family<KeyLabels, Gauge>,
    /// Live-session lookups of authenticated requests, brought up to the
    /// store's own counts at each scrape.
    pub session_lookups: Family<SessionLookupLabels, Counter>,
    /// Refresh rotations written in a group commit, brought up to the
    /// store's own count at each scrape.
    pub grouped_rotations: Counter,
    /// Waits for a hashing slot and refusals (handed to the hasher).
    pub hashing: HashMetrics,
    /// Second-factor checks (sign-in second step and step-up).
    pub second_factors: Family<FactorLabels, Counter>,
    /// Mail and webhook deliveries waiting, read at each scrape.
    pub backlog: Family<BacklogLabels, Gauge>,
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("portcullis");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status class",
            http_requests.clone(),
        );
        let http_duration =
            Family::<RouteLabels, Histogram>::new_with_constructor(duration_histogram as fn() -> _);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method",
            http_duration.clone(),
        );
        let sign_ins = Family::<SignInLabels, Counter>::default();
        registry.register(
            "sign_ins",
            "Sign-ins, by first-factor method and result",
            sign_ins.clone(),
        );
        let refreshes = Family::<RefreshLabels, Counter>::default();
        registry.register(
            "refreshes",
            "Refresh-token exchanges, by result",
            refreshes.clone(),
        );
        let rate_limited = Family::<LimitLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests answered 429, by the limit that was reached",
            rate_limited.clone(),
        );
        let db_unreachable = Gauge::default();
        registry.register(
            "db_unreachable",
            "1 while the database is unreachable and requests needing it get 503 at once",
            db_unreachable.clone(),
        );
        let hash_queue_depth = Gauge::default();
        registry.register(
            "hash_queue_depth",
            "Password hashes waiting for a worker",
            hash_queue_depth.clone(),
        );
        let codes = Family::<CodeLabels, Counter>::default();
        registry.register(
            "codes",
            "Emailed codes and links, by action and result",
            codes.clone(),
        );
        let lockouts = Counter::default();
        registry.register(
            "lockouts",
            "Accounts locked after repeated wrong passwords (each new lock)",
            lockouts.clone(),
        );
        let mail = Family::<MailLabels, Counter>::default();
        registry.register("mail", "Mail from the outbox, by result", mail.clone());
        let webhooks = Family::<WebhookLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Webhook delivery attempts, by result",
            webhooks.clone(),
        );
        let db_connections = Family::<ConnectionLabels, Gauge>::default();
        registry.register(
            "db_connections",
            "Database connections of this instance's pool, by state",
            db_connections.clone(),
        );
        let session_lookups = Family::<SessionLookupLabels, Counter>::default();
        registry.register(
            "session_lookups",
            "Live-session lookups of authenticated requests: remembered, read while the \
             cache's lease held, or read with it lapsed",
            session_lookups.clone(),
        );
        let grouped_rotations = Counter::default();
        registry.register(
            "refresh_grouped_rotations",
            "Refresh rotations written by a group commit on the store's own connections \
             (the rest of portcullis_refreshes_total{result=\"rotated\"} went through the pool)",
            grouped_rotations.clone(),
        );
        let signing_keys = Family::<KeyLabels, Gauge>::default();
        registry.register(
            "signing_keys",
            "Published signing keys, by state",
            signing_keys.clone(),
        );
        let hashing = HashMetrics {
            wait: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            refusals: Family::default(),
        };
        registry.register(
            "hash_wait_seconds",
            "Time a password check waited for a hashing slot (0 when one was free)",
            hashing.wait.clone(),
        );
        registry.register(
            "hash_refusals",
            "Password checks refused without hashing, by reason",
            hashing.refusals.clone(),
        );
        let second_factors = Family::<FactorLabels, Counter>::default();
        registry.register(
            "second_factors",
            "Second-factor checks (second step of a sign-in, step-up), by factor and result",
            second_factors.clone(),
        );
        let backlog = Family::<BacklogLabels, Gauge>::default();
        registry.register(
            "outbox_backlog",
            "Mail and webhook deliveries waiting to go out (all instances share them)",
            backlog.clone(),
        );
        registry.register(
            "build",
            "The running version",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        Self {
            registry,
            http_requests,
            http_duration,
            sign_ins,
            refreshes,
            rate_limited,
            hash_queue_depth,
            db_unreachable,
            codes,
            lockouts,
            mail,
            webhooks,
            db_connections,
            signing_keys,
            session_lookups,
            grouped_rotations,
            hashing,
            second_factors,
            backlog,
        }
    }

    pub fn count_code(&self, action: &'static str, result: CodeResult) {
        self.codes
            .get_or_create(&CodeLabels { action, result })
            .inc();
    }

    pub fn count_mail(&self, result: MailResult) {
        self.mail.get_or_create(&MailLabels { result }).inc();
    }

    /// The Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry);
        text
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// 1 ms to about 16 s: validation is sub-millisecond, a sign-in waits for
/// Argon2 and possibly its queue.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}
