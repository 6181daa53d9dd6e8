//! `service_accounts`: non-human principals with one role at one scope and an API key.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::service_accounts;

/// A service account row. `key_hash` is the only form of the key that is stored.
#[derive(Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = service_accounts, check_for_backend(diesel::pg::Pg))]
pub struct ServiceAccountRow {
    /// Primary key.
    pub id: Uuid,
    /// Label, unique within its scope object.
    pub label: String,
    /// Free-form category.
    pub category: Option<String>,
    /// `SYSTEM`, `ORGANIZATION`, `WORKSPACE` or `DEPLOYMENT`.
    pub scope: String,
    /// Organization of an organization key.
    pub organization_id: Option<Uuid>,
    /// Workspace of a workspace key.
    pub workspace_id: Option<Uuid>,
    /// Deployment of a deployment key.
    pub deployment_id: Option<Uuid>,
    /// Public prefix of the key.
    pub key_prefix: String,
    /// SHA-256 of the key.
    pub key_hash: Vec<u8>,
    /// Whether the key is accepted.
    pub active: bool,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last use (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Creator.
    pub created_by: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl std::fmt::Debug for ServiceAccountRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The hash is not secret in the way the key is, but it has no business in logs either.
        f.debug_struct("ServiceAccountRow")
            .field("id", &self.id)
            .field("label", &self.label)
            .field("scope", &self.scope)
            .finish()
    }
}

/// Insert form of [`ServiceAccountRow`].
#[derive(Insertable)]
#[diesel(table_name = service_accounts)]
pub struct NewServiceAccount {
    /// Primary key.
    pub id: Uuid,
    /// Label.
    pub label: String,
    /// Category.
    pub category: Option<String>,
    /// Scope name.
    pub scope: &'static str,
    /// Organization.
    pub organization_id: Option<Uuid>,
    /// Workspace.
    pub workspace_id: Option<Uuid>,
    /// Deployment.
    pub deployment_id: Option<Uuid>,
    /// Public key prefix.
    pub key_prefix: String,
    /// SHA-256 of the key.
    pub key_hash: Vec<u8>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Creator.
    pub created_by: Option<Uuid>,
}

/// Update form of [`ServiceAccountRow`].
#[derive(Default, AsChangeset)]
#[diesel(table_name = service_accounts)]
pub struct ServiceAccountChanges {
    /// Label.
    pub label: Option<String>,
    /// Category (`Some(None)` clears it).
    pub category: Option<Option<String>>,
    /// Active flag.
    pub active: Option<bool>,
    /// New key prefix (rotation).
    pub key_prefix: Option<String>,
    /// New key hash (rotation).
    pub key_hash: Option<Vec<u8>>,
    /// Set on every change.
    pub updated_at: Option<DateTime<Utc>>,
}

impl ServiceAccountRow {
    /// Inserts a service account.
    pub async fn insert(conn: &mut AsyncPgConnection, new: &NewServiceAccount) -> QueryResult<ServiceAccountRow> {
        diesel::insert_into(service_accounts::table)
            .values(new)
            .returning(ServiceAccountRow::as_returning())
            .get_result(conn)
            .await
    }

    /// The service account with this id, locked.
    pub async fn find_for_update(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<ServiceAccountRow>> {
        service_accounts::table
            .find(id)
            .select(ServiceAccountRow::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()
    }

    /// Service accounts of one scope object (`None` with scope SYSTEM), by label.
    pub async fn in_scope(
        conn: &mut AsyncPgConnection,
        scope: &str,
        target: Option<Uuid>,
    ) -> QueryResult<Vec<ServiceAccountRow>> {
        let mut query = service_accounts::table
            .filter(service_accounts::scope.eq(scope.to_owned()))
            .order((service_accounts::label, service_accounts::id))
            .select(ServiceAccountRow::as_select())
            .into_boxed();
        if let Some(id) = target {
            query = query.filter(
                service_accounts::workspace_id
                    .eq(id)
                    .or(service_accounts::deployment_id.eq(id))
                    .or(service_accounts::organization_id.eq(id)),
            );
        }
        query.load(conn).await
    }

    /// Applies `changes`.
    pub async fn update(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        changes: &ServiceAccountChanges,
    ) -> QueryResult<ServiceAccountRow> {
        diesel::update(service_accounts::table.find(id))
            .set(changes)
            .returning(ServiceAccountRow::as_returning())
            .get_result(conn)
            .await
    }

    /// Deletes a service account (its binding goes with it).
    pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
        diesel::delete(service_accounts::table.find(id)).execute(conn).await
    }

    /// The service account whose key has this public prefix.
    pub async fn find_by_prefix(conn: &mut AsyncPgConnection, prefix: &str) -> QueryResult<Option<ServiceAccountRow>> {
        service_accounts::table
            .filter(service_accounts::key_prefix.eq(prefix))
            .select(ServiceAccountRow::as_select())
            .first(conn)
            .await
            .optional()
    }

    /// Records a use of the key.
    pub async fn touch(conn: &mut AsyncPgConnection, id: Uuid, now: DateTime<Utc>) -> QueryResult<()> {
        diesel::update(service_accounts::table.find(id))
            .set(service_accounts::last_used_at.eq(now))
            .execute(conn)
            .await
            .map(|_| ())
    }

    /// The service accounts with these ids.
    pub async fn find_many(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<ServiceAccountRow>> {
        service_accounts::table
            .filter(service_accounts::id.eq_any(ids))
            .select(ServiceAccountRow::as_select())
            .load(conn)
            .await
    }
}
