//! Building the application from settings and serving it.

use crate::clock::{SharedClock, SystemClock};
use crate::config::{RunMode, Settings};
use crate::crypto::{random_token, ServerSecret};
use crate::domain::PasswordPolicy;
use crate::hashing::{HashError, PasswordHasher};
use crate::http::{render_problems, RequestSpan, RouteTable};
use crate::mail::{MailError, Outbox, Templates};
use crate::metrics::Metrics;
use crate::oauth::Providers;
use crate::pwned::PwnedPasswords;
use crate::routes::docs::ApiDocs;
use crate::state::AppState;
use crate::store::{self, Store};
use crate::tokens::{AccessTokens, KeyRing, KeyRingError};
use crate::{http, openapi, routes};
use actix_cors::Cors;
use actix_web::dev::Server;
use actix_web::http::{header, Method};
use actix_web::middleware::{from_fn, Condition, DefaultHeaders};
use actix_web::{web, App, HttpServer};
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;
use tracing_actix_web::TracingLogger;
use utoipa_actix_web::AppExt;

/// Where a development instance keeps the secret it generated for itself.
pub const DEV_SECRET_FILE: &str = "portcullis.secret";

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Store(#[from] store::ConnectError),
    #[error(transparent)]
    Keys(#[from] KeyRingError),
    #[error(transparent)]
    Hashing(#[from] HashError),
    #[error(transparent)]
    Mail(#[from] MailError),
    #[error("social sign-in: {0}")]
    OAuth(String),
    #[error("{0}")]
    Protections(String),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StartupError {
    let context = context.into();
    move |source| StartupError::Io { context, source }
}

pub struct Application {
    port: u16,
    server: Server,
    /// The metrics listener's port and server, when `metrics_listen` is set.
    metrics: Option<(u16, Server)>,
    store: Arc<dyn Store>,
    /// Stopped once the server has drained (see `run_until_stopped`).
    workers: crate::workers::Workers,
    /// How long the workers may take to finish their round at shutdown.
    drain: std::time::Duration,
}

impl Application {
    /// Connects to the database (applying migrations), loads or creates the
    /// signing keys and binds the listener; `listen` with port 0 picks a free
    /// port, see [`Application::port`].
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    /// [`Application::build`] with the given clock (tests move time).
    pub async fn build_with_clock(
        settings: Settings,
        clock: SharedClock,
    ) -> Result<Self, StartupError> {
        let secret = resolve_secret(&settings)?;
        let store = store::connect(&settings, true).await?;
        if let Some(email) = &settings.bootstrap_admin_email {
            bootstrap_admin(store.as_ref(), email, clock.now()).await;
        }
        let keys = Arc::new(
            KeyRing::load_or_create(
                store.clone(),
                clock.clone(),
                secret.key_cipher(),
                settings.token_acceptance(),
            )
            .await?,
        );
        let refresh_every = (settings.key_rotation_lead() / 2).clamp(
            std::time::Duration::from_secs(1),
            std::time::Duration::from_secs(60),
        );
        keys.keep_fresh(refresh_every);
        let tokens = AccessTokens::new(
            keys,
            clock.clone(),
            &settings.public_url,
            &settings.audience,
            settings.access_token_ttl(),
            settings.jwt_leeway_secs,
        );
        let metrics = Arc::new(Metrics::new());
        let hasher = PasswordHasher::new(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
            settings.argon2_parallelism,
            settings.hash_concurrency,
            settings.hash_queue_limit,
            settings.hash_client_share_percent,
            settings.hash_thread_nice,
        )?;
        let hasher = hasher
            .with_queue_wait(std::time::Duration::from_millis(
                settings.hash_queue_wait_ms,
            ))
            .with_metrics(metrics.hashing.clone());
        let outbox = Outbox::new(secret.mail_cipher());
        let passkeys = crate::passkeys::Passkeys::new(&settings.passkeys, &secret)
            .map_err(StartupError::Protections)?;
        let webhooks = crate::webhooks::Webhooks::new(&secret, &settings)
            .map_err(StartupError::Protections)?;
        let workers = crate::workers::Workers::new();
        crate::webhooks::spawn_worker(
            store.clone(),
            (webhooks.clone(), metrics.clone()),
            Arc::new(settings.clone()),
            (clock.clone(), &workers),
        );
        crate::mail::spawn_worker(
            store.clone(),
            crate::mail::transport(&settings)?,
            (outbox.clone(), metrics.clone()),
            Arc::new(settings.clone()),
            (clock.clone(), &workers),
        );
        let state = web::Data::new(AppState {
            clock: clock.clone(),
            store: store.clone(),
            hasher,
            password_policy: Arc::new(PasswordPolicy::bundled()),
            tokens: Arc::new(tokens),
            code_hasher: secret.code_hasher(),
            code_cipher: secret.code_cipher(),
            refresh_chain: secret.refresh_chain(),
            outbox: outbox.clone(),
            templates: Templates::load(
                &settings.public_url,
                settings.mail_templates_dir.as_deref(),
            )?,
            providers: Arc::new(
                Providers::from_settings(&settings.oauth, &settings.public_url)
                    .map_err(StartupError::OAuth)?,
            ),
            provider_cipher: secret.provider_token_cipher(),
            factors: crate::mfa::SecondFactors::new(&secret, &settings.mfa.totp_issuer),
            webhooks,
            passkeys,
            trusted_proxies: settings
                .trusted_proxy_nets()
                .map_err(|e| StartupError::Protections(e.to_string()))?,
            refused_clients: Default::default(),
            pwned: PwnedPasswords::new(&settings.pwned_passwords)
                .map_err(StartupError::Protections)?,
            settings: Arc::new(settings.clone()),
            metrics,
        });
        crate::housekeeping::renew_liveness(store.clone(), &workers);
        crate::housekeeping::spawn(
            store.clone(),
            state.settings.clone(),
            (clock.clone(), &workers),
        );

        let metrics = match &settings.metrics_listen {
            Some(address) => {
                let listener = TcpListener::bind(address)
                    .map_err(io_error(format!("cannot listen on {address} for metrics")))?;
                let port = listener
                    .local_addr()
                    .map_err(io_error("no local address"))?
                    .port();
                let server = crate::metrics::server::serve(listener, state.clone())
                    .map_err(io_error("cannot start the metrics server"))?;
                tracing::info!(port, "metrics at /metrics");
                Some((port, server))
            }
            None => None,
        };

        let spec = openapi::spec();
        let route_table = web::Data::new(RouteTable::from_openapi(&spec));
        let docs = web::Data::new(ApiDocs::new(&spec));

        let listener = TcpListener::bind(&settings.listen)
            .map_err(io_error(format!("cannot listen on {}", settings.listen)))?;
        let port = listener
            .local_addr()
            .map_err(io_error("no local address"))?
            .port();
        let body_limit = settings.body_limit_bytes;
        let origins = settings.cors_allowed_origins.clone();
        let cors_methods = spec_methods(&spec);
        let hsts = settings.public_url.starts_with("https://");
        let server = HttpServer::new(move || {
            App::new()
                .into_utoipa_app()
                .configure(routes::configure)
                .into_app()
                .default_service(web::to(RouteTable::fallback))
                .app_data(state.clone())
                .app_data(route_table.clone())
                .app_data(docs.clone())
                .app_data(web::PayloadConfig::new(body_limit))
                .app_data(http::BodyLimit(body_limit))
                // Innermost first: the admin API checks the role before
                // anything else; a literal path's own route decides its
                // methods; HEAD is routed as GET; CORS answers
                // preflights and adds its headers to every answer, problems
                // included.
                .wrap(from_fn(http::admin_gate))
                .wrap(from_fn(http::literal_paths_first))
                .wrap(from_fn(http::head_as_get))
                .wrap(Condition::new(
                    !origins.is_empty(),
                    cors(&origins, &cors_methods),
                ))
                .wrap(from_fn(render_problems))
                .wrap(security_headers(hsts))
                .wrap(from_fn(http::count_requests))
                .wrap(TracingLogger::<RequestSpan>::new())
        })
        .listen(listener)
        .map_err(io_error("cannot start the HTTP server"))?;
        let server = if settings.workers > 0 {
            server.workers(settings.workers)
        } else {
            server
        };
        let server = server.shutdown_timeout(10).run();
        tracing::info!(
            port,
            backend = store.backend_name(),
            public_url = %settings.public_url,
            "portcullis is listening"
        );
        // A round sends at most one batch, each send bounded by its timeout.
        let drain = std::time::Duration::from_secs(
            (settings.smtp_timeout_secs * 2).max(settings.webhooks.timeout_secs * 2) + 5,
        );
        Ok(Self {
            port,
            server,
            metrics,
            store,
            workers,
            drain,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The metrics listener's port, when `metrics_listen` is set.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics.as_ref().map(|(port, _)| *port)
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// A handle to stop the server (used by tests).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM, then drains connections gracefully.
    /// Serves until a stop signal (SIGTERM, SIGINT): the server stops
    /// accepting, finishes the requests it has, then the workers finish
    /// their round and the metrics listener stops.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = match self.metrics {
            Some((_, metrics)) => {
                // The API decides when the process ends; metrics stop with it.
                let handle = metrics.handle();
                let metrics = tokio::spawn(metrics);
                let served = self.server.await;
                handle.stop(true).await;
                let _ = metrics.await;
                served
            }
            None => self.server.await,
        };
        self.workers.stop(self.drain).await;
        tracing::info!("stopped");
        served
    }
}

/// `bootstrap_admin_email`: while there is no active SUPER-ADMIN, the user
/// with this address (who signed up the usual way) becomes one.
async fn bootstrap_admin(store: &dyn Store, email: &str, now: crate::store::Timestamp) {
    let Ok(email) = crate::domain::Email::parse(email) else {
        tracing::warn!("bootstrap_admin_email is not a valid address; ignored");
        return;
    };
    let none_yet = async {
        let mut repo = store.connection().await?;
        let count = repo.count_active_super_admins(now).await?;
        Ok::<_, store::StoreError>(count == 0)
    };
    match none_yet.await {
        Ok(true) => {
            match crate::flows::bootstrap::bootstrap_super_admin(store, &email, None, now).await {
                Ok(outcome) => tracing::info!(
                    ?outcome,
                    "bootstrap: the configured user is a SUPER-ADMIN who can sign in"
                ),
                Err(error) => tracing::warn!(error = %error, "bootstrap: no SUPER-ADMIN made"),
            }
        }
        Ok(false) => {}
        Err(error) => {
            tracing::warn!(error = ?error, "bootstrap: could not check for a SUPER-ADMIN")
        }
    }
}

/// Every method the OpenAPI document uses, so that a browser may send each
/// of them cross-origin (a route added with a new method cannot be missed).
fn spec_methods(spec: &utoipa::openapi::OpenApi) -> Vec<Method> {
    let mut methods: Vec<Method> = Vec::new();
    for item in spec.paths.paths.values() {
        let used = [
            (Method::GET, &item.get),
            (Method::POST, &item.post),
            (Method::PUT, &item.put),
            (Method::PATCH, &item.patch),
            (Method::DELETE, &item.delete),
            (Method::HEAD, &item.head),
            (Method::OPTIONS, &item.options),
            (Method::TRACE, &item.trace),
        ];
        let query = item
            .query
            .as_ref()
            .and_then(|_| Method::from_bytes(b"QUERY").ok());
        let others = item
            .additional_operations
            .keys()
            .filter_map(|name| Method::from_bytes(name.to_ascii_uppercase().as_bytes()).ok());
        let present = used
            .into_iter()
            .filter_map(|(method, operation)| operation.as_ref().map(|_| method));
        for method in present.chain(query).chain(others) {
            if !methods.contains(&method) {
                methods.push(method);
            }
        }
    }
    methods
}

/// Cross-origin access for the configured browser origins only, with every
/// method of the API (`methods`, see [`spec_methods`]). Requests carry
/// bearer tokens, not cookies, so credentials are never allowed.
fn cors(origins: &[String], methods: &[Method]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods(methods.iter().cloned())
        .allowed_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT])
        .expose_headers([
            header::RETRY_AFTER,
            header::WWW_AUTHENTICATE,
            header::HeaderName::from_static("portcullis-refresh-replayed"),
        ])
        .max_age(3600)
        // Other origins get no CORS headers (their browsers then refuse to
        // read the answer) rather than an error for every request.
        .block_on_origin_mismatch(false)
}

/// Added to every response that does not set its own.
fn security_headers(hsts: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        .add(("X-Content-Type-Options", "nosniff"))
        .add(("Referrer-Policy", "no-referrer"))
        .add(("Cache-Control", "no-store"))
        .add(("X-Frame-Options", "DENY"))
        .add((
            "Content-Security-Policy",
            "default-src 'none'; frame-ancestors 'none'",
        ));
    if hsts {
        headers.add((
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ))
    } else {
        headers
    }
}

/// The configured secret, or in development one generated once and kept in
/// [`DEV_SECRET_FILE`] (production refuses to start without a secret).
pub fn resolve_secret(settings: &Settings) -> Result<ServerSecret, StartupError> {
    if let Some(secret) = &settings.secret {
        return Ok(ServerSecret::new(secret.expose()));
    }
    debug_assert_eq!(settings.env, RunMode::Development);
    let path = Path::new(DEV_SECRET_FILE);
    if path.exists() {
        let secret =
            std::fs::read_to_string(path).map_err(io_error("cannot read portcullis.secret"))?;
        return Ok(ServerSecret::new(secret.trim()));
    }
    let secret = random_token();
    write_private_file(path, &secret).map_err(io_error("cannot write portcullis.secret"))?;
    tracing::warn!(
        file = DEV_SECRET_FILE,
        "no PORTCULLIS_SECRET set: generated a development secret; set one in production"
    );
    Ok(ServerSecret::new(&secret))
}

fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}
