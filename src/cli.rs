//! The command line: `serve` (default), `migrate`, `openapi`.

use crate::clock::SystemClock;
use crate::config::Settings;
use crate::domain::{Email, Password, PasswordPolicy};
use crate::flows::bootstrap;
use crate::hashing::PasswordHasher;
use crate::startup::{self, Application};
use crate::tokens::KeyRing;
use crate::{openapi, store, telemetry};
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser)]
#[command(
    name = "portcullis",
    version,
    about = "A headless JSON REST authentication service"
)]
pub struct Cli {
    /// TOML configuration file; `PORTCULLIS_*` variables override it.
    #[arg(long, short, env = "PORTCULLIS_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations and serve the API (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document as JSON.
    Openapi,
    /// Make a user SUPER-ADMIN, or create one (password read from stdin).
    CreateAdmin {
        #[arg(long)]
        email: String,
        /// Read a password from standard input to create the user if there
        /// is none with this address.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Publish a new signing key now; it signs after `key_rotation_lead_secs`.
    Rotate,
}

pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        println!("{}", openapi::spec().to_pretty_json()?);
        return Ok(());
    }
    let settings = Settings::load(cli.config.as_deref())?;
    let telemetry = telemetry::init(settings.log_format, &settings.log_level)
        .context("cannot start the log writer")?;
    match command {
        Command::Migrate => {
            store::migrate(&settings).await?;
            tracing::info!("migrations applied");
        }
        Command::CreateAdmin {
            email,
            password_stdin,
        } => create_admin(&settings, &email, password_stdin).await?,
        Command::Keys {
            command: KeysCommand::Rotate,
        } => rotate_keys(&settings).await?,
        Command::Serve | Command::Openapi => {
            let stopped = Application::build(settings)
                .await?
                .run_until_stopped()
                .await;
            telemetry.flush().await;
            stopped?
        }
    }
    Ok(())
}

async fn create_admin(
    settings: &Settings,
    email: &str,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let email = Email::parse(email)?;
    let password_hash = if password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        let password = Password::parse(line.trim_end_matches(['\r', '\n']).to_string())?;
        PasswordPolicy::bundled().check(&password, &[email.as_str(), email.local_part()])?;
        let hasher = PasswordHasher::new(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
            settings.argon2_parallelism,
            1,
            1,
            100,
            0,
        )?;
        Some(hasher.hash(None, password.expose()).await?)
    } else {
        None
    };
    let store = store::connect(settings, true).await?;
    let outcome = bootstrap::bootstrap_super_admin(
        store.as_ref(),
        &email,
        password_hash,
        store::Timestamp::now(),
    )
    .await?;
    let message = match outcome {
        bootstrap::Bootstrap::Promoted(_) => "is now a SUPER-ADMIN (their sessions were ended)",
        bootstrap::Bootstrap::Created(_) => "was created as a SUPER-ADMIN",
        bootstrap::Bootstrap::AlreadySuperAdmin(_) => "already is a SUPER-ADMIN",
        bootstrap::Bootstrap::Restored(_) => {
            "is a SUPER-ADMIN who can sign in again (ban lifted, address verified)"
        }
    };
    println!("{email} {message}");
    Ok(())
}

async fn rotate_keys(settings: &Settings) -> anyhow::Result<()> {
    let secret = startup::resolve_secret(settings)?;
    let store = store::connect(settings, true).await?;
    let keys = KeyRing::load_or_create(
        store,
        Arc::new(SystemClock),
        secret.key_cipher(),
        settings.token_acceptance(),
    )
    .await?;
    let rotation = keys.rotate(settings.key_rotation_lead()).await?;
    println!(
        "new key {} published; it signs from {} (unix time); retiring: {}",
        rotation.kid,
        rotation.activates_at.unix_seconds(),
        rotation.retiring.join(", ")
    );
    Ok(())
}
