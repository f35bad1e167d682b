use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    match portcullis::cli::run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // The chain of causes, one per line; never secrets (config values
            // are redacted in their Debug output and not part of messages).
            eprintln!("portcullis: {error:#}");
            ExitCode::FAILURE
        }
    }
}
