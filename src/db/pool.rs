//! The connection pool. Every connection gets `statement_timeout` and `application_name` when it is opened,
//! so no statement can hold a connection (and the locks it took) indefinitely.
//!
//! A checked-out connection ([`DbConn`]) knows whether a statement of its holder is still running. When the
//! holder is dropped mid-statement (the request's deadline passed, or the client went away), the
//! connection is taken out of the pool, a cancel request is sent to PostgreSQL for that statement, and the
//! connection is closed: the statement stops on the server instead of running on to its
//! `statement_timeout`, and no later request can receive a connection in an unknown state. A holder dropped
//! between statements inside a transaction leaves a connection that diesel-async marks broken; the pool
//! discards it and PostgreSQL rolls the transaction back.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use diesel::ConnectionError;
use diesel::connection::InstrumentationEvent;
use diesel_async::pooled_connection::deadpool::{BuildError, Object, Pool, PoolError};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

/// Pool of asynchronous PostgreSQL connections; cheap to clone.
#[derive(Clone)]
pub struct DbPool {
    inner: Pool<AsyncPgConnection>,
    statements: Arc<AtomicU64>,
    /// The statements of one request, when this handle was made for one ([`DbPool::for_request`]).
    request_statements: Option<Arc<AtomicU64>>,
}

impl std::fmt::Debug for DbPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbPool").field("status", &self.inner.status()).finish()
    }
}

impl DbPool {
    /// Checks a connection out, waiting at most the pool's wait timeout (opening one if there is room).
    /// Errors: the database cannot be reached or no connection frees up in time.
    pub async fn get(&self) -> Result<DbConn, PoolError> {
        let mut object = self.inner.get().await?;
        let in_flight = Arc::new(AtomicUsize::new(0));
        let statements = self.statements.clone();
        let request_statements = self.request_statements.clone();
        let running = in_flight.clone();
        // Set per checkout, so that the counter belongs to this holder only.
        object.set_instrumentation(move |event: InstrumentationEvent<'_>| match event {
            InstrumentationEvent::StartQuery { query, .. } => {
                statements.fetch_add(1, Ordering::Relaxed);
                if let Some(request) = &request_statements {
                    request.fetch_add(1, Ordering::Relaxed);
                }
                running.fetch_add(1, Ordering::SeqCst);
                // The SQL text only: bound values can be secrets (an invite's mail body holds its token,
                // password and key hashes, sealed variables), and nothing secret may reach a log.
                if tracing::enabled!(target: "capcom::sql", tracing::Level::TRACE) {
                    let text = query.to_string();
                    let sql = text.rsplit_once(" -- binds: ").map_or(text.as_str(), |(sql, _)| sql);
                    tracing::trace!(target: "capcom::sql", query = %sql, "statement");
                }
            }
            InstrumentationEvent::FinishQuery { .. } => {
                running.fetch_sub(1, Ordering::SeqCst);
            }
            _ => {}
        });
        let cancel = object.cancel_token();
        Ok(DbConn { object: Some(object), in_flight, cancel })
    }

    /// Connections open now, and how many of them are idle.
    pub fn status(&self) -> deadpool::managed::Status {
        self.inner.status()
    }

    /// The same pool, counting every statement run through the returned handle in `request_statements`
    /// too (the statements of one request, for its log line and metrics).
    pub fn for_request(&self, request_statements: Arc<AtomicU64>) -> DbPool {
        DbPool {
            inner: self.inner.clone(),
            statements: self.statements.clone(),
            request_statements: Some(request_statements),
        }
    }

    /// Statements run through this pool since it was built (all handles together).
    pub fn statements(&self) -> &Arc<AtomicU64> {
        &self.statements
    }

    /// The pool's size and use now, for the metrics.
    pub fn usage(&self) -> crate::metrics::PoolUse {
        let status = self.inner.status();
        crate::metrics::PoolUse {
            max: status.max_size,
            open: status.size,
            idle: status.available,
            waiting: status.waiting,
        }
    }
}

/// A connection checked out of [`DbPool`]; dereferences to the connection. See the module documentation
/// for what happens when it is dropped mid-statement.
pub struct DbConn {
    object: Option<Object<AsyncPgConnection>>,
    in_flight: Arc<AtomicUsize>,
    cancel: tokio_postgres::CancelToken,
}

impl Deref for DbConn {
    type Target = AsyncPgConnection;

    fn deref(&self) -> &AsyncPgConnection {
        // Present until `drop`.
        self.object.as_deref().unwrap_or_else(|| unreachable!("a DbConn holds its connection until dropped"))
    }
}

impl DerefMut for DbConn {
    fn deref_mut(&mut self) -> &mut AsyncPgConnection {
        self.object.as_deref_mut().unwrap_or_else(|| unreachable!("a DbConn holds its connection until dropped"))
    }
}

impl Drop for DbConn {
    fn drop(&mut self) {
        if self.in_flight.load(Ordering::SeqCst) == 0 {
            return; // back to the pool as usual
        }
        let Some(object) = self.object.take() else { return };
        // Out of the pool for good: nobody else may ever get this connection.
        let connection = Object::take(object);
        let cancel = self.cancel.clone();
        // The task spawned below serves no request: it takes the request's id along for its lines.
        let request_id = crate::request_id::current();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(error) = cancel.cancel_query(tokio_postgres::NoTls).await {
                    tracing::warn!(%request_id, %error, "could not cancel an abandoned SQL statement");
                } else {
                    tracing::info!(%request_id, "cancelled the SQL statement of an abandoned request");
                }
                drop(connection);
            });
        }
    }
}

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
        Box::pin(async move {
            let mut connection = AsyncPgConnection::establish(&url).await?;
            connection
                .batch_execute(&format!(
                    "SET statement_timeout = {statement_timeout_ms}; SET application_name = 'capcom'"
                ))
                .await
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
            // Statements are counted from the first checkout on (`DbPool::get`): the set-up above belongs to
            // the connection, not to any request.
            Ok(connection)
        })
    });
    let manager = AsyncDieselConnectionManager::new_with_config(url, manager_config);
    let inner = Pool::builder(manager)
        .max_size(max_size)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()?;
    Ok(DbPool { inner, statements, request_statements: None })
}
