//! The `capcom` binary: `serve` (default), `migrate`, `export-schema`.

use std::process::ExitCode;

use capcom::config::{Config, LogFormat};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// capcom — GraphQL control plane for managed Apache Airflow.
///
/// With no DATABASE_URL, capcom starts a private PostgreSQL (from the system's initdb/postgres) under its
/// data folder and stops it on exit.
#[derive(Parser)]
#[command(name = "capcom", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    config: Config,
}

#[derive(Subcommand)]
enum Command {
    /// Start the API server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the GraphQL schema (SDL) and exit.
    ExportSchema,
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::ExportSchema = command {
        print!("{}", capcom::graphql::sdl());
        return ExitCode::SUCCESS;
    }
    init_tracing(cli.config.log_format);
    let outcome = match command {
        Command::Serve | Command::ExportSchema => capcom::run_server(cli.config).await,
        Command::Migrate => migrate(cli.config).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(config: Config) -> Result<(), capcom::StartError> {
    let database = capcom::open_database(&config).await?;
    let applied = capcom::db::migrate::run_pending(&database.url).await?;
    println!("applied {} migration(s)", applied.len());
    Ok(())
}
