//! Migrations embedded in the binary, applied without libpq.

use diesel::connection::SimpleConnection;
use diesel::{Connection, QueryableByName};
use diesel_async::AsyncPgConnection;
use diesel_async::async_connection_wrapper::AsyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

/// The migrations under `migrations/`, compiled in.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Advisory lock key that serializes migration runs of several replicas starting at once.
const MIGRATION_LOCK_KEY: i64 = 0x6361_7063_6f6d; // "capcom"

/// A failed migration run.
#[derive(Debug, thiserror::Error)]
#[error("migrations failed: {0}")]
pub struct MigrateError(String);

type SyncPg = AsyncConnectionWrapper<AsyncPgConnection>;

/// The version of the newest embedded migration (what `/readyz` expects to find applied).
pub fn newest_version() -> String {
    use diesel::migration::MigrationSource;
    let migrations: Vec<_> = MigrationSource::<diesel::pg::Pg>::migrations(&MIGRATIONS).unwrap_or_default();
    migrations.iter().map(|migration| migration.name().version().to_string()).max().unwrap_or_default()
}

/// Applies every pending migration to the database at `url`; returns the versions applied.
pub async fn run_pending(url: &str) -> Result<Vec<String>, MigrateError> {
    with_sync_connection(url, |connection| {
        connection
            .batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
            .map_err(|e| MigrateError(e.to_string()))?;
        let applied = connection
            .run_pending_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| MigrateError(e.to_string()));
        let _ = connection.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"));
        applied
    })
    .await
}

/// Reverts every applied migration (used by the migration round-trip test).
pub async fn revert_all(url: &str) -> Result<Vec<String>, MigrateError> {
    with_sync_connection(url, |connection| {
        connection
            .revert_all_migrations(MIGRATIONS)
            .map(|versions| versions.iter().map(ToString::to_string).collect())
            .map_err(|e| MigrateError(e.to_string()))
    })
    .await
}

async fn with_sync_connection<T: Send + 'static>(
    url: &str,
    work: impl FnOnce(&mut SyncPg) -> Result<T, MigrateError> + Send + 'static,
) -> Result<T, MigrateError> {
    let url = url.to_owned();
    // diesel's migration harness is synchronous: run it on a blocking thread over the async connection.
    tokio::task::spawn_blocking(move || {
        let mut connection = SyncPg::establish(&url).map_err(|e| MigrateError(e.to_string()))?;
        work(&mut connection)
    })
    .await
    .map_err(|e| MigrateError(e.to_string()))?
}

#[derive(QueryableByName)]
struct NewestApplied {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    version: Option<String>,
}

/// The newest applied migration version. Fails when no migration ever ran (the table is missing).
pub async fn newest_applied(connection: &mut AsyncPgConnection) -> Result<Option<String>, diesel::result::Error> {
    use diesel_async::RunQueryDsl;
    let row: NewestApplied = diesel::sql_query("SELECT max(version) AS version FROM __diesel_schema_migrations")
        .get_result(connection)
        .await?;
    Ok(row.version)
}
