//! DataLoaders: every relation field resolves through one of these, so a list of N objects costs one
//! statement per relation, not N. One loader type with a key newtype per relation.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::Loader;
use uuid::Uuid;

use crate::db::DbPool;
use crate::domain::users::{self, Email, RoleBindingRow};
use crate::error::ApiError;

/// Loads relations from the database. One instance per request.
pub struct DbLoader {
    pool: DbPool,
}

impl DbLoader {
    /// A loader drawing connections from `pool`.
    pub fn new(pool: DbPool) -> Self {
        DbLoader { pool }
    }
}

/// Key: the email addresses of a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EmailsOfUser(pub Uuid);

/// Key: the role bindings a user holds directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RoleBindingsOfUser(pub Uuid);

fn group<K: std::hash::Hash + Eq + Copy, V>(keys: &[K], rows: Vec<V>, key_of: impl Fn(&V) -> K) -> HashMap<K, Vec<V>> {
    let mut grouped: HashMap<K, Vec<V>> = keys.iter().map(|key| (*key, Vec::new())).collect();
    for row in rows {
        grouped.entry(key_of(&row)).or_default().push(row);
    }
    grouped
}

impl Loader<EmailsOfUser> for DbLoader {
    type Value = Vec<Email>;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[EmailsOfUser]) -> Result<HashMap<EmailsOfUser, Self::Value>, Self::Error> {
        let mut conn = self.pool.get().await.map_err(|e| Arc::new(ApiError::from(e)))?;
        let ids: Vec<Uuid> = keys.iter().map(|key| key.0).collect();
        let rows = users::emails_of(&mut conn, &ids).await.map_err(Arc::new)?;
        Ok(group(keys, rows, |row| EmailsOfUser(row.user_id)))
    }
}

impl Loader<RoleBindingsOfUser> for DbLoader {
    type Value = Vec<RoleBindingRow>;
    type Error = Arc<ApiError>;

    async fn load(&self, keys: &[RoleBindingsOfUser]) -> Result<HashMap<RoleBindingsOfUser, Self::Value>, Self::Error> {
        let mut conn = self.pool.get().await.map_err(|e| Arc::new(ApiError::from(e)))?;
        let ids: Vec<Uuid> = keys.iter().map(|key| key.0).collect();
        let rows = users::role_bindings_of(&mut conn, &ids).await.map_err(Arc::new)?;
        Ok(group(keys, rows, |row| RoleBindingsOfUser(row.user_id.unwrap_or_default())))
    }
}
