//! `organizations` and the `installation` singleton.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{installation, organizations};

/// An organization row.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = organizations, check_for_backend(diesel::pg::Pg))]
pub struct Organization {
    /// Primary key.
    pub id: Uuid,
    /// Unique (case-insensitive) name.
    pub name: String,
    /// Whether sign-ups join this organization.
    pub is_default: bool,
    /// Billing contact.
    pub billing_email: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Organization {
    /// Inserts the default organization.
    pub async fn insert_default(conn: &mut AsyncPgConnection, name: &str) -> QueryResult<Organization> {
        diesel::insert_into(organizations::table)
            .values((
                organizations::id.eq(Uuid::now_v7()),
                organizations::name.eq(name),
                organizations::is_default.eq(true),
            ))
            .returning(Organization::as_returning())
            .get_result(conn)
            .await
    }

    /// The default organization, locked for update (it guards the "first three members are owners" rule).
    pub async fn default_for_update(conn: &mut AsyncPgConnection) -> QueryResult<Option<Organization>> {
        organizations::table
            .filter(organizations::is_default.eq(true))
            .select(Organization::as_select())
            .for_update()
            .first(conn)
            .await
            .optional()
    }
}

/// Locks the installation singleton row, serializing decisions such as "who is the first user".
pub async fn lock_installation(conn: &mut AsyncPgConnection) -> QueryResult<Option<Uuid>> {
    installation::table.select(installation::first_user_id).for_update().first(conn).await
}

/// Records the first user of the installation.
pub async fn set_first_user(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<()> {
    diesel::update(installation::table).set(installation::first_user_id.eq(user_id)).execute(conn).await.map(|_| ())
}
