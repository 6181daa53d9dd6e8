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
//!
//! With several serving runtimes (`CAPCOM_RUNTIMES`, docs/operations.md "Runtimes") the pool is split in
//! shards, one per runtime: a connection is driven by a task of the runtime that opened it, so a request
//! served by another runtime would hand every statement across threads and wait for that runtime to be
//! free. Each serving thread names its shard once ([`DbPool::serve_this_thread_from`]); every other
//! thread (tests, background work, the default single runtime) uses shard 0.

use std::cell::Cell;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use diesel::ConnectionError;
use diesel::connection::InstrumentationEvent;
use diesel_async::pooled_connection::deadpool::{BuildError, Object, Pool, PoolError};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod};
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};

/// Pool of asynchronous PostgreSQL connections, in one shard per serving runtime; cheap to clone.
#[derive(Clone)]
pub struct DbPool {
    shards: Arc<[Pool<AsyncPgConnection>]>,
    statements: Arc<AtomicU64>,
    /// The statements of one request, when this handle was made for one ([`DbPool::for_request`]).
    request_statements: Option<Arc<AtomicU64>>,
}

impl std::fmt::Debug for DbPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbPool").field("shards", &self.shards.len()).field("usage", &self.usage()).finish()
    }
}

thread_local! {
    /// The shard this thread's checkouts come from ([`DbPool::serve_this_thread_from`]).
    static SHARD: Cell<usize> = const { Cell::new(0) };
}

impl DbPool {
    /// Makes this thread check connections out of shard `index` (taken modulo the number of shards) of
    /// every pool from now on. Called once by each serving runtime's thread, before it serves.
    pub fn serve_this_thread_from(index: usize) {
        SHARD.with(|shard| shard.set(index));
    }

    /// Which of `count` shards (of a pool, or of anything split the same way) this thread uses.
    pub fn this_thread_shard(count: usize) -> usize {
        SHARD.with(Cell::get) % count.max(1)
    }

    fn shard(&self) -> &Pool<AsyncPgConnection> {
        &self.shards[Self::this_thread_shard(self.shards.len())]
    }

    /// Connections open now in this thread's shard (the ones its requests could get without opening one).
    pub fn open_here(&self) -> usize {
        self.shard().status().size
    }

    /// Checks a connection out of this thread's shard, waiting at most the pool's wait timeout (opening
    /// one if there is room). Errors: the database cannot be reached or no connection frees up in time.
    pub async fn get(&self) -> Result<DbConn, PoolError> {
        let mut object = self.shard().get().await?;
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

    /// The same pool, counting every statement run through the returned handle in `request_statements`
    /// too (the statements of one request, for its log line and metrics).
    pub fn for_request(&self, request_statements: Arc<AtomicU64>) -> DbPool {
        DbPool {
            shards: self.shards.clone(),
            statements: self.statements.clone(),
            request_statements: Some(request_statements),
        }
    }

    /// Statements run through this pool since it was built (all handles together).
    pub fn statements(&self) -> &Arc<AtomicU64> {
        &self.statements
    }

    /// The pool's size and use now, all shards together, for the metrics.
    pub fn usage(&self) -> crate::metrics::PoolUse {
        self.shards.iter().map(Pool::status).fold(crate::metrics::PoolUse::default(), |total, status| {
            crate::metrics::PoolUse {
                max: total.max + status.max_size,
                open: total.open + status.size,
                idle: total.idle + status.available,
                waiting: total.waiting + status.waiting,
            }
        })
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

/// `total` split into `parts` (at least one) near-equal shares, the first shares taking the remainder: the
/// size of each shard of a pool, or of each runtime's GraphQL turns.
pub fn split_evenly(total: usize, parts: usize) -> impl Iterator<Item = usize> {
    let parts = parts.max(1);
    (0..parts).map(move |index| total / parts + usize::from(index < total % parts))
}

/// Builds a pool for `url` of `max_size` connections, split over `shards` shards ([`split_evenly`]; a
/// shard has one connection at least, which `capcom serve` guarantees by refusing more runtimes than
/// connections). No connection is opened until one is needed. Every statement any of its
/// connections runs is counted in `statements` (exported as a metric; tests use it to prove that list
/// fields cost a constant number of statements).
pub fn build_pool(
    url: &str,
    max_size: usize,
    shards: usize,
    statement_timeout_ms: u64,
    statements: Arc<AtomicU64>,
) -> Result<DbPool, BuildError> {
    split_evenly(max_size, shards)
        .map(|size| build_shard(url, size.max(1), statement_timeout_ms))
        .collect::<Result<Arc<[_]>, _>>()
        .map(|shards| DbPool { shards, statements, request_statements: None })
}

fn build_shard(url: &str, max_size: usize, statement_timeout_ms: u64) -> Result<Pool<AsyncPgConnection>, BuildError> {
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
    Pool::builder(manager)
        .max_size(max_size)
        .runtime(deadpool::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(10)))
        .create_timeout(Some(Duration::from_secs(5)))
        .recycle_timeout(Some(Duration::from_secs(5)))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_the_first_take_the_remainder() {
        assert_eq!(split_evenly(16, 1).collect::<Vec<_>>(), [16]);
        assert_eq!(split_evenly(16, 2).collect::<Vec<_>>(), [8, 8]);
        assert_eq!(split_evenly(4, 3).collect::<Vec<_>>(), [2, 1, 1]);
        assert_eq!(split_evenly(10, 4).collect::<Vec<_>>(), [3, 3, 2, 2]);
        assert_eq!(split_evenly(5, 0).collect::<Vec<_>>(), [5], "no shard count means one shard");
    }

    #[test]
    fn a_thread_uses_the_shard_it_names() {
        // Threads that name no shard (tests, background work, the multi-threaded runtime) use shard 0.
        assert_eq!(std::thread::spawn(|| DbPool::this_thread_shard(3)).join().ok(), Some(0));
        let named = std::thread::spawn(|| {
            DbPool::serve_this_thread_from(2);
            (DbPool::this_thread_shard(3), DbPool::this_thread_shard(2), DbPool::this_thread_shard(1))
        });
        assert_eq!(named.join().ok(), Some((2, 0, 0)));
    }
}
