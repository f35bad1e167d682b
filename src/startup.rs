//! Building the application from settings and serving it.

use crate::config::{RunMode, Settings};
use crate::crypto::{random_token, ServerSecret};
use crate::domain::PasswordPolicy;
use crate::hashing::{HashError, PasswordHasher};
use crate::http::{render_problems, RequestSpan, RouteTable};
use crate::mail::{MailError, Mailer, Templates};
use crate::oauth::Providers;
use crate::routes::docs::ApiDocs;
use crate::state::AppState;
use crate::store::{self, Store};
use crate::tokens::{AccessTokens, KeyRing, KeyRingError};
use crate::{http, openapi, routes};
use actix_web::dev::Server;
use actix_web::middleware::{from_fn, DefaultHeaders};
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
    store: Arc<dyn Store>,
}

impl Application {
    /// Connects to the database (applying migrations), loads or creates the
    /// signing keys and binds the listener; `listen` with port 0 picks a free
    /// port, see [`Application::port`].
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let secret = resolve_secret(&settings)?;
        let store = store::connect(&settings, true).await?;
        let keys = KeyRing::load_or_create(store.clone(), secret.key_cipher()).await?;
        let tokens = AccessTokens::new(
            Arc::new(keys),
            &settings.public_url,
            &settings.audience,
            settings.access_token_ttl(),
            settings.jwt_leeway_secs,
        );
        let hasher = PasswordHasher::new(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
            settings.argon2_parallelism,
            settings.hash_concurrency,
        )?;
        let state = web::Data::new(AppState {
            store: store.clone(),
            hasher,
            password_policy: Arc::new(PasswordPolicy::bundled()),
            tokens: Arc::new(tokens),
            code_hasher: secret.code_hasher(),
            mailer: Mailer::from_settings(&settings)?,
            templates: Templates::new(&settings.public_url),
            providers: Arc::new(
                Providers::from_settings(&settings.oauth, &settings.public_url)
                    .map_err(StartupError::OAuth)?,
            ),
            provider_cipher: secret.provider_token_cipher(),
            settings: Arc::new(settings.clone()),
        });
        crate::housekeeping::spawn(store.clone(), state.settings.clone());

        let spec = openapi::spec();
        let route_table = web::Data::new(RouteTable::from_openapi(&spec));
        let docs = web::Data::new(ApiDocs {
            spec_json: serde_json::to_string(&spec).unwrap_or_default(),
            page_html: utoipa_scalar::Scalar::new(spec)
                .title("Portcullis API")
                .to_html(),
        });

        let listener = TcpListener::bind(&settings.listen)
            .map_err(io_error(format!("cannot listen on {}", settings.listen)))?;
        let port = listener
            .local_addr()
            .map_err(io_error("no local address"))?
            .port();
        let body_limit = settings.body_limit_bytes;
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
                .wrap(from_fn(render_problems))
                .wrap(
                    DefaultHeaders::new()
                        .add(("X-Content-Type-Options", "nosniff"))
                        .add(("Referrer-Policy", "no-referrer"))
                        .add(("Cache-Control", "no-store")),
                )
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
            "portcullis is listening"
        );
        Ok(Self {
            port,
            server,
            store,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// A handle to stop the server (used by tests).
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until SIGINT/SIGTERM, then drains connections gracefully.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// The configured secret, or in development one generated once and kept in
/// [`DEV_SECRET_FILE`] (production refuses to start without a secret).
fn resolve_secret(settings: &Settings) -> Result<ServerSecret, StartupError> {
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
