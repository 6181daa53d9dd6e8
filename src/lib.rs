//! capcom: the GraphQL control-plane API of a managed Apache Airflow platform.
//!
//! Layers, each depending only on the ones after it: [`http`] (transport) → [`graphql`] (schema and
//! resolvers) → [`domain`] (business rules in transactions) → [`db`] (PostgreSQL). [`auth`] and [`rbac`]
//! say who is calling and what they may do.

#![warn(missing_docs)]

pub mod auth;
pub mod bounded;
pub mod config;
pub mod db;
pub mod dns;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod mail;
pub mod metrics;
pub mod rbac;
pub mod request_id;
pub mod runtimes;
pub mod secrets;
pub mod seed;
pub mod state;
pub mod sweeper;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::auth::jwt::{JwtKeys, KeyError};
use crate::config::Config;
use crate::db::embedded_pg::{EmbeddedPgError, EmbeddedPostgres};
use crate::db::migrate::MigrateError;
use crate::state::{AppState, Clock};

pub use crate::http::build_router;

/// Name of the database capcom creates on its private PostgreSQL server.
pub const EMBEDDED_DATABASE: &str = "capcom";

/// Why capcom could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The private PostgreSQL server could not be started.
    #[error(transparent)]
    EmbeddedPostgres(#[from] EmbeddedPgError),
    /// Migrations failed.
    #[error(transparent)]
    Migrate(#[from] MigrateError),
    /// Keys could not be loaded.
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// The secret key is invalid.
    #[error(transparent)]
    SecretKey(#[from] crate::secrets::SecretKeyError),
    /// The roles file is invalid.
    #[error(transparent)]
    Roles(#[from] crate::rbac::matrix::RolesFileError),
    /// The pool could not be built or the database prepared.
    #[error("database: {0}")]
    Database(String),
    /// The mailer could not be set up (`CAPCOM_SMTP_URL`, `CAPCOM_MAIL_FROM`).
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
    /// `capcom seed` stopped.
    #[error("seed: {0}")]
    Seed(#[from] crate::seed::SeedError),
    /// An operator command (such as `capcom lift-ip-access-list`) was refused.
    #[error("{0}")]
    Command(#[from] crate::error::ApiError),
    /// More serving runtimes than pool connections (`CAPCOM_RUNTIMES`, `CAPCOM_POOL_SIZE`).
    #[error(
        "CAPCOM_RUNTIMES ({runtimes}) is larger than CAPCOM_POOL_SIZE ({pool_size}): each runtime needs a database \
         connection of its own"
    )]
    TooManyRuntimes {
        /// `CAPCOM_RUNTIMES`.
        runtimes: usize,
        /// `CAPCOM_POOL_SIZE`.
        pool_size: usize,
    },
    /// Serving stopped with an error (a serving runtime ended early, or a thread could not be started).
    #[error("serving: {0}")]
    Serve(#[source] std::io::Error),
    /// The system refused a thread capcom starts with (the password-hashing threads).
    #[error("cannot start a thread: {0}")]
    Threads(#[source] std::io::Error),
    /// What a command prints could not be written (standard output closed, a full disk).
    #[error("cannot write to standard output: {0}")]
    Output(#[source] std::io::Error),
    /// The listen address could not be bound.
    #[error("cannot listen on {address}: {source}")]
    Listen {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A database to use: the URL and, when capcom started it, the private server (stopped when dropped).
pub struct Database {
    /// Connection URL.
    pub url: String,
    /// The private server, if capcom started one.
    pub embedded: Option<EmbeddedPostgres>,
}

/// Connects to `DATABASE_URL`, or starts the private server under the data folder and creates capcom's
/// database on it.
pub async fn open_database(config: &Config) -> Result<Database, StartError> {
    if let Some(url) = &config.database_url {
        return Ok(Database { url: url.clone(), embedded: None });
    }
    let data_dir = config.data_dir.clone();
    let bin_override = config.pg_bin_dir.clone();
    let server = tokio::task::spawn_blocking(move || {
        let bin_dir = db::embedded_pg::find_bin_dir(bin_override.as_deref())?;
        EmbeddedPostgres::start(&data_dir, &bin_dir)
    })
    .await
    .map_err(|e| StartError::Database(e.to_string()))??;
    db::embedded_pg::create_database_if_missing(&server.url("postgres"), EMBEDDED_DATABASE, None)
        .await
        .map_err(|e| StartError::Database(e.to_string()))?;
    Ok(Database { url: server.url(EMBEDDED_DATABASE), embedded: Some(server) })
}

/// Turns transparent huge pages off for this process, as `MIMALLOC_ALLOW_THP=0` would. mimalloc asks for
/// huge pages on its arenas; a request's memory is then faulted in 2 MiB at a time, each zeroed whole,
/// and what mimalloc purges after a second is faulted in again: on the members bench (`bench/run.sh`),
/// 9 % of capcom's CPU went to zeroing pages, and resident memory was a quarter higher. A private
/// PostgreSQL gets the system's setting back (`db::embedded_pg`). The server and the
/// load benchmark's floor (`bench/floor.rs`) call it first thing.
pub fn without_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes integers only and sets a flag of this process; a kernel without it
    // answers EINVAL, which leaves things as they were.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// Refuses more serving runtimes than pool connections: each runtime checks connections out of a shard of
/// its own ([`db::DbPool`]).
fn check_runtimes(config: &Config) -> Result<(), StartError> {
    if config.runtimes > config.pool_size {
        return Err(StartError::TooManyRuntimes { runtimes: config.runtimes, pool_size: config.pool_size });
    }
    Ok(())
}

/// Builds the application state for a database URL.
pub fn app_state(config: Config, database_url: &str, clock: Clock) -> Result<AppState, StartError> {
    let statements = Arc::new(std::sync::atomic::AtomicU64::new(0));
    // One shard of the pool per serving runtime (`runtimes`), each with a connection at least.
    check_runtimes(&config)?;
    let shards = config.runtimes.max(1);
    let pool = db::build_pool(database_url, config.pool_size, shards, config.statement_timeout_ms, statements.clone())
        .map_err(|e| StartError::Database(e.to_string()))?;
    let keys = JwtKeys::from_config(&config)?;
    let principal_cache_entries = config.principal_cache_entries;
    let secrets = secrets::SecretBox::from_config(config.secret_key.as_deref(), &config.data_dir)?;
    let metrics = Arc::new(metrics::Metrics::new());
    let passwords = auth::password::PasswordHasher::from_config(&config).map_err(StartError::Threads)?;
    let passwords = Arc::new(passwords.counting(metrics.password_hashes()));
    let matrix = match &config.roles_file {
        Some(path) => rbac::Matrix::with_overrides_file(path)?,
        None => rbac::Matrix::default(),
    };
    let routing = match &config.database_read_url {
        Some(read_url) => {
            let standby = db::build_pool(
                read_url,
                config.pool_size,
                shards,
                config.statement_timeout_ms,
                Arc::new(std::sync::atomic::AtomicU64::new(0)),
            )
            .map_err(|e| StartError::Database(e.to_string()))?;
            let window = std::time::Duration::from_millis(config.read_your_writes_ms);
            Some(db::routing::ReadRouting::new(standby, database_url, window))
        }
        None => None,
    };
    Ok(AppState {
        pool,
        config: Arc::new(config),
        keys: Arc::new(keys),
        clock,
        expected_migration: db::migrate::newest_version().into(),
        matrix: Arc::new(matrix),
        secrets: Arc::new(secrets),
        events: Arc::new(db::notify::Events::new(database_url)),
        statements,
        passwords,
        metrics,
        routing,
        dns: Arc::new(dns::SystemResolver::default()),
        principals: Arc::new(auth::bindings::BindingsCache::new(principal_cache_entries)),
        upgraded: Arc::default(),
    })
}

/// Starts the mailer of this process when `CAPCOM_SMTP_URL` is set (see [`mail`]); it runs until the
/// returned value is dropped.
pub fn start_mailer(state: &AppState, database_url: &str) -> Result<Option<mail::Mailer>, StartError> {
    Ok(mail::start(&state.config, state.pool.clone(), state.metrics.clone(), database_url)?)
}

/// Writes `text` to standard output and flushes it. Unlike `print!`, a closed output is an error to
/// handle, not a panic.
///
/// # Errors
/// [`StartError::Output`].
pub fn write_out(text: &str) -> Result<(), StartError> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(StartError::Output)
}

/// `capcom serve`: database, migrations, HTTP server until SIGINT or SIGTERM, then the private
/// PostgreSQL is stopped.
pub async fn run_server(config: Config) -> Result<(), StartError> {
    // Before the private PostgreSQL is started for nothing.
    check_runtimes(&config)?;
    let database = open_database(&config).await?;
    if !config.skip_migrations {
        let applied = db::migrate::run_pending(&database.url).await?;
        if !applied.is_empty() {
            tracing::info!(count = applied.len(), "applied migrations");
        }
    }
    let listen = config.listen;
    let runtime_count = config.runtimes;
    let console = config.console;
    let metrics_listen = config.metrics_listen;
    let times = http::server::ConnectionTimes::from_config(&config);
    let state = app_state(config, &database.url, Clock::system())?;
    let mailer = start_mailer(&state, &database.url)?;
    let sweeper = sweeper::start(state.clone());
    let metrics_server = match metrics_listen {
        Some(address) => {
            let listener = TcpListener::bind(address).await.map_err(|source| StartError::Listen { address, source })?;
            tracing::info!(%address, "serving /metrics");
            Some(tokio::spawn(http::server::serve(
                listener,
                http::metrics_router(state.clone()),
                std::future::pending(),
                times,
                state.upgraded.clone(),
            )))
        }
        None => None,
    };
    let (events, upgraded) = (state.events.clone(), state.upgraded.clone());
    let router = build_router(state);
    // This thread serves as runtime 0; with `CAPCOM_RUNTIMES` above 1, the others share its address.
    let listeners = runtimes::Listeners::bind(listen, runtime_count)
        .map_err(|source| StartError::Listen { address: listen, source })?;
    let address = listeners.address();
    match &database.embedded {
        Some(server) => {
            tracing::info!(cluster = %server.cluster_dir().display(), "using the private PostgreSQL server")
        }
        None => tracing::info!("using the PostgreSQL server of DATABASE_URL"),
    }
    let ready = if console {
        format!(
            "capcom is ready: the console at http://{address}/ and GraphiQL at http://{address}/v1\n(GraphQL POST \
             /v1, WebSocket /ws). Ctrl-C stops it.\n"
        )
    } else {
        format!(
            "capcom is ready: GraphiQL at http://{address}/v1 (GraphQL POST /v1, WebSocket /ws). Ctrl-C stops it.\n"
        )
    };
    // For the person who started it; a closed standard output (a service's) is no reason not to serve.
    if let Err(error) = write_out(&ready) {
        tracing::warn!(%error, "the ready line could not be printed");
    }
    let served = listeners.serve(router, shutdown_signal(), times, upgraded).await;
    tracing::info!("HTTP server stopped");
    if let Some(task) = metrics_server {
        task.abort();
    }
    // Every runtime has drained its connections and its WebSocket sessions (`http::server::serve`):
    // nothing of this process uses the database past this point but the background work stopped here.
    events.stop();
    drop((mailer, sweeper));
    if let Some(server) = database.embedded {
        stop_private_server(server).await;
        tracing::info!("private PostgreSQL server stopped");
    }
    served.map_err(StartError::Serve)
}

/// Stops the private PostgreSQL at the end of a command, on a thread of its own while this runtime keeps
/// running (a connection it is opening must be able to finish, or PostgreSQL's fast shutdown waits for
/// it); when the system refuses the thread, on the calling thread (`spawn_blocking` panicked then).
pub async fn stop_private_server(server: EmbeddedPostgres) {
    let (done, stopped) = tokio::sync::oneshot::channel::<()>();
    // On a refused thread, the closure and the server in it are dropped here, and dropping the server
    // stops it (`EmbeddedPostgres`'s `Drop`).
    let stopping = std::thread::Builder::new().name("capcom-pg-stop".into()).spawn(move || {
        let mut server = server;
        server.stop();
        drop(done);
    });
    if stopping.is_ok() {
        let _ = stopped.await;
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
