//! Shared application state, cheap to clone and passed explicitly.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use chrono::{DateTime, Utc};

use crate::auth::jwt::JwtKeys;
use crate::config::Config;
use crate::db::DbPool;
use crate::rbac::Matrix;

/// A source of the current time. Injected so that expiry can be tested without sleeping.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Clock(Arc::new(Utc::now))
    }

    /// A clock driven by the given function (tests).
    pub fn from_fn(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now))
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// Everything a request handler needs.
#[derive(Clone)]
pub struct AppState {
    /// Pooled PostgreSQL connections.
    pub pool: DbPool,
    /// Configuration, fixed at start.
    pub config: Arc<Config>,
    /// Token signing and verification keys.
    pub keys: Arc<JwtKeys>,
    /// Time source.
    pub clock: Clock,
    /// The newest migration version compiled into this binary, for `/readyz`.
    pub expected_migration: Arc<str>,
    /// The role → permission matrix in force.
    pub matrix: Arc<Matrix>,
    /// Seals secret values at rest.
    pub secrets: Arc<crate::secrets::SecretBox>,
    /// Deployment change events (LISTEN/NOTIFY).
    pub events: Arc<crate::db::notify::Events>,
    /// SQL statements run by this process's pool so far.
    pub statements: Arc<AtomicU64>,
    /// Password hashing, bounded in concurrency and memory.
    pub passwords: Arc<crate::auth::password::PasswordHasher>,
    /// Prometheus instruments of this process.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Read routing to the hot standby, when `DATABASE_READ_URL` is set.
    pub routing: Option<Arc<crate::db::routing::ReadRouting>>,
    /// Answers the DNS questions of managed-domain proofs.
    pub dns: Arc<dyn crate::dns::TxtResolver>,
    /// Principals' decoded bindings, by the version the database last answered (docs/limits.md,
    /// "Principals").
    pub principals: Arc<crate::auth::bindings::BindingsCache>,
    /// The WebSocket sessions of this process, told to close at the stop (`http::server`).
    pub upgraded: Arc<crate::http::server::Upgraded>,
}

impl AppState {
    /// The same state with `pool` as its pool: what one HTTP request runs with (a handle of the database
    /// that serves it, counting the request's statements).
    pub fn with_pool(&self, pool: DbPool) -> AppState {
        AppState { pool, ..self.clone() }
    }
}
