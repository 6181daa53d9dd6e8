//! PostgreSQL: connection pool, embedded migrations, the private development server, table models.

pub mod embedded_pg;
pub mod migrate;
pub mod models;
pub mod notify;
pub mod pool;
pub mod schema;

pub use pool::{DbConn, DbPool, build_pool};
