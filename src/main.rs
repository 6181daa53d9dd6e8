//! The `capcom` binary: `serve` (default), `migrate`, `export-schema`, `seed`.

use std::process::ExitCode;

use capcom::config::{Config, LogFormat};
use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// A request allocates and frees many small blocks from several threads at once; glibc's allocator spends
/// a measurable share of each request in its arena locks there, mimalloc does not (bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
    /// Fill the database with data to try capcom with (made through the same rules as the API), print the
    /// accounts, their password and API keys once, and exit. Refuses a database with other users unless
    /// --force; running it again with the same profile changes nothing.
    Seed {
        /// `demo`: a small organization to click through; `bench`: the benchmark's data set (200
        /// workspaces, 2 000 deployments, 5 000 users).
        #[arg(long, value_enum, default_value_t = capcom::seed::Profile::Demo)]
        profile: capcom::seed::Profile,
        /// Seed even though the database has users of its own.
        #[arg(long)]
        force: bool,
        /// Password of the accounts made (demo: generated; bench: `capcom-bench-password`).
        #[arg(long, env = "CAPCOM_SEED_PASSWORD", hide_env_values = true)]
        password: Option<String>,
    },
    /// Lift an organization's IP access list, for owners it shuts out (their address changed): run where
    /// the server runs, with its database settings. Records an `organization.ipAccessList.update` audit
    /// event by the operator and prints the list it removed.
    LiftIpAccessList {
        /// The organization's id.
        #[arg(long)]
        organization: uuid::Uuid,
    },
}

fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,tower_http=warn"));
    // Colours only for a person at a terminal: written to a file or a pipe (a service's log), the escape
    // codes are noise, and styling every field of every request's line cost ~3 % of a small request's CPU
    // (bench/README.md, "Results, part 5").
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    // Every line written while a request is served names it (`capcom::request_id::Lines`).
    let lines = tracing_subscriber::fmt::format().with_ansi(ansi);
    match format {
        LogFormat::Json => builder
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(capcom::request_id::Lines::json(lines.json()))
            .init(),
        LogFormat::Text => builder.event_format(capcom::request_id::Lines::text(lines)).init(),
    }
}

fn main() -> ExitCode {
    capcom::without_transparent_huge_pages();
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve);
    if let Command::ExportSchema = command {
        return match capcom::write_out(&capcom::graphql::sdl()) {
            Ok(()) => ExitCode::SUCCESS,
            // A filter's reader took what it wanted (`capcom export-schema | head`): nothing was lost that a
            // second run would not print again. The other commands report the closed output as a failure:
            // what they print (seed's keys, shown once; what lift removed) cannot be printed again.
            Err(capcom::StartError::Output(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => {
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        };
    }
    init_tracing(cli.config.log_format);
    // `CAPCOM_RUNTIMES` shapes serving only (`capcom::runtimes`): the other commands run on one
    // multi-threaded runtime with the whole pool.
    let mut config = cli.config;
    let runtime = match command {
        Command::Serve => capcom::runtimes::runtime(config.runtimes),
        _ => {
            config.runtimes = 0;
            capcom::runtimes::runtime(0)
        }
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the Tokio runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config, command))
}

async fn run(config: Config, command: Command) -> ExitCode {
    let outcome = match command {
        Command::Serve | Command::ExportSchema => capcom::run_server(config).await,
        Command::Migrate => migrate(config).await,
        Command::Seed { profile, force, password } => {
            seed(config, capcom::seed::SeedOptions { profile, force, password }).await
        }
        Command::LiftIpAccessList { organization } => lift_ip_access_list(config, organization).await,
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn seed(config: Config, options: capcom::seed::SeedOptions) -> Result<(), capcom::StartError> {
    let database = capcom::open_database(&config).await?;
    if !config.skip_migrations {
        capcom::db::migrate::run_pending(&database.url).await?;
    }
    let state = capcom::app_state(config, &database.url, capcom::state::Clock::system())?;
    let outcome = capcom::seed::run(&state, options).await;
    drop(state);
    if let Some(server) = database.embedded {
        capcom::stop_private_server(server).await;
    }
    match outcome {
        Ok(report) => capcom::write_out(&report.render()),
        Err(error) => Err(capcom::StartError::Seed(error)),
    }
}

async fn lift_ip_access_list(config: Config, organization: uuid::Uuid) -> Result<(), capcom::StartError> {
    let database = capcom::open_database(&config).await?;
    // Never migrate here: this runs against the database of a live server, which may be older than this
    // binary. A schema this binary does not know is refused instead.
    let state = capcom::app_state(config, &database.url, capcom::state::Clock::system())?;
    let actor = capcom::domain::Actor {
        label: "operator (capcom lift-ip-access-list)".to_owned(),
        request_id: Some(format!("cli-{}", uuid::Uuid::now_v7())),
        ..capcom::domain::Actor::default()
    };
    let outcome = async {
        let mut conn = state.pool.get().await.map_err(capcom::error::ApiError::from)?;
        let applied = capcom::db::migrate::newest_applied(&mut conn).await.ok().flatten().unwrap_or_default();
        if applied != capcom::db::migrate::newest_version() {
            return Err(capcom::error::ApiError::bad_input(
                "database",
                format!(
                    "the database's schema is at migration {applied:?}, this capcom expects {:?}: run this \
                     command with the capcom binary the server runs (or run `capcom migrate` first)",
                    capcom::db::migrate::newest_version()
                ),
            ));
        }
        capcom::domain::ip_access::lift(&mut conn, organization, state.clock.now(), &actor).await
    }
    .await;
    drop(state);
    if let Some(server) = database.embedded {
        capcom::stop_private_server(server).await;
    }
    let before = outcome.map_err(|error| match error {
        capcom::error::ApiError::NotFound => capcom::StartError::Command(capcom::error::ApiError::bad_input(
            "organization",
            format!("no organization has the id {organization}"),
        )),
        other => capcom::StartError::Command(other),
    })?;
    if before.is_empty() {
        capcom::write_out(&format!("organization {organization} has no IP access list; nothing changed\n"))
    } else {
        capcom::write_out(&format!(
            "lifted the IP access list of organization {organization} (it held: {})\n",
            before.join(", ")
        ))
    }
}

async fn migrate(config: Config) -> Result<(), capcom::StartError> {
    let database = capcom::open_database(&config).await?;
    let applied = capcom::db::migrate::run_pending(&database.url).await?;
    capcom::write_out(&format!("applied {} migration(s)\n", applied.len()))
}
