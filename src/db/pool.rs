//! The connection pool. Every connection gets `statement_timeout` and `application_name` when it is opened,
//! so no statement can hold a connection (and the locks it took) indefinitely.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::ConnectionError;
use diesel::connection::InstrumentationEvent;
use diesel_async::pooled_connection::deadpool::{BuildError, Object, Pool};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

/// Pool of asynchronous PostgreSQL connections.
pub type DbPool = Pool<AsyncPgConnection>;
/// A connection checked out of [`DbPool`].
pub type DbConn = Object<AsyncPgConnection>;

/// Builds a pool for `url`. No connection is opened until one is needed. Every statement any of its
/// connections runs is counted in `statements` (exported as a metric; tests use it to prove that list
/// fields cost a constant number of statements).
pub fn build_pool(
    url: &str,
    max_size: usize,
    statement_timeout_ms: u64,
    statements: Arc<AtomicU64>,
) -> Result<DbPool, BuildError> {
    let mut manager_config = ManagerConfig::<AsyncPgConnection>::default();
    // `Fast` recycling skips the `SELECT 1` that `Verified` sends on every checkout: a request then costs
    // exactly the statements it makes. Broken connections are still detected (diesel-async marks them) and
    // discarded.
    manager_config.recycling_method = RecyclingMethod::Fast;
    manager_config.custom_setup = Box::new(move |url| {
        let url = url.to_owned();
        let statements = statements.clone();
        Box::pin(async move {
            let mut connection = AsyncPgConnection::establish(&url).await?;
            connection
                .batch_execute(&format!(
                    "SET statement_timeout = {statement_timeout_ms}; SET application_name = 'capcom'"
                ))
                .await
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
            // Counted from here on: the set-up above belongs to the connection, not to any request.
            connection.set_instrumentation(move |event: InstrumentationEvent<'_>| {
                if let InstrumentationEvent::StartQuery { query, .. } = event {
                    statements.fetch_add(1, Ordering::Relaxed);
                    tracing::trace!(target: "capcom::sql", %query, "statement");
                }
            });
            Ok(connection)
        })
    });
    let manager = AsyncDieselConnectionManager::new_with_config(url, manager_config);
    Pool::builder(manager)
        .max_size(max_size)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(5)))
        .build()
}
