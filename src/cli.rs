//! The command line: `serve` (default), `migrate`, `openapi`.

use crate::config::Settings;
use crate::startup::Application;
use crate::{openapi, store, telemetry};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

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
}

pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::Openapi = command {
        println!("{}", openapi::spec().to_pretty_json()?);
        return Ok(());
    }
    let settings = Settings::load(cli.config.as_deref())?;
    telemetry::init(settings.log_format, &settings.log_level);
    match command {
        Command::Migrate => {
            store::migrate(&settings).await?;
            tracing::info!("migrations applied");
        }
        _ => {
            Application::build(settings)
                .await?
                .run_until_stopped()
                .await?
        }
    }
    Ok(())
}
