//! `organizations` and the `installation` singleton.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{installation, organization_removals, organizations};

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
    /// Description.
    pub description: String,
    /// Company named on invoices.
    pub billing_company: Option<String>,
    /// Billing plan.
    pub billing_plan: Option<String>,
}

/// Update form of [`Organization`]: `None` leaves a column unchanged, `Some(None)` clears it.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = organizations)]
pub struct OrganizationChanges {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New billing contact.
    pub billing_email: Option<Option<String>>,
    /// New billing company.
    pub billing_company: Option<Option<String>>,
    /// New billing plan.
    pub billing_plan: Option<Option<String>>,
    /// Set on every change.
    pub updated_at: Option<DateTime<Utc>>,
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

    /// Inserts an organization.
    pub async fn insert(conn: &mut AsyncPgConnection, name: &str, description: &str) -> QueryResult<Organization> {
        diesel::insert_into(organizations::table)
            .values((
                organizations::id.eq(Uuid::now_v7()),
                organizations::name.eq(name),
                organizations::description.eq(description),
            ))
            .returning(Organization::as_returning())
            .get_result(conn)
            .await
    }

    /// The organization with this id.
    pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Organization>> {
        organizations::table.find(id).select(Organization::as_select()).first(conn).await.optional()
    }

    /// The organization with this id, locked: it guards its membership invariants (three founding owners,
    /// at least one owner).
    pub async fn find_for_update(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Organization>> {
        organizations::table.find(id).select(Organization::as_select()).for_update().first(conn).await.optional()
    }

    /// The organization's IP access list (canonical CIDR texts; empty: from anywhere); `None` when there is
    /// no such organization.
    pub async fn ip_access_list(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Vec<String>>> {
        organizations::table.find(id).select(organizations::ip_access_list).first(conn).await.optional()
    }

    /// Replaces the organization's IP access list (the caller holds the row's lock).
    pub async fn set_ip_access_list(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        list: &[String],
        now: chrono::DateTime<chrono::Utc>,
    ) -> QueryResult<usize> {
        diesel::update(organizations::table.find(id))
            .set((organizations::ip_access_list.eq(list), organizations::updated_at.eq(now)))
            .execute(conn)
            .await
    }

    /// The organizations with these ids (all when `None`), by name, at most `limit`.
    pub async fn list(
        conn: &mut AsyncPgConnection,
        ids: Option<&[Uuid]>,
        limit: i64,
    ) -> QueryResult<Vec<Organization>> {
        let mut query = organizations::table
            .select(Organization::as_select())
            .order((organizations::name, organizations::id))
            .limit(limit)
            .into_boxed();
        if let Some(ids) = ids {
            query = query.filter(organizations::id.eq_any(ids.to_vec()));
        }
        query.load(conn).await
    }

    /// Applies `changes`.
    pub async fn update(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        changes: &OrganizationChanges,
    ) -> QueryResult<Organization> {
        diesel::update(organizations::table.find(id))
            .set(changes)
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

impl Organization {
    /// Counts one more join of the organization (SPEC §2: the founders' rule counts joins, not members)
    /// and returns how many joins there were before this one. The caller holds the organization's lock.
    pub async fn count_join(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<i64> {
        Self::count_joins(conn, id, 1).await
    }

    /// Counts `n` more joins (a bulk import); returns how many there were before.
    pub async fn count_joins(conn: &mut AsyncPgConnection, id: Uuid, n: i64) -> QueryResult<i64> {
        diesel::update(organizations::table.find(id))
            .set(organizations::joins.eq(organizations::joins + n))
            .returning(organizations::joins - n)
            .get_result(conn)
            .await
    }

    /// Records that `user_id` was removed from the organization (SPEC §2: removals stick).
    pub async fn record_removal(conn: &mut AsyncPgConnection, id: Uuid, user_id: Uuid) -> QueryResult<()> {
        diesel::insert_into(organization_removals::table)
            .values((organization_removals::organization_id.eq(id), organization_removals::user_id.eq(user_id)))
            .on_conflict((organization_removals::organization_id, organization_removals::user_id))
            .do_update()
            .set(organization_removals::removed_at.eq(diesel::dsl::now))
            .execute(conn)
            .await
            .map(|_| ())
    }

    /// Forgets a removal: an explicit add or an accepted invite brings the person back.
    pub async fn clear_removal(conn: &mut AsyncPgConnection, id: Uuid, user_id: Uuid) -> QueryResult<()> {
        diesel::delete(
            organization_removals::table
                .filter(organization_removals::organization_id.eq(id))
                .filter(organization_removals::user_id.eq(user_id)),
        )
        .execute(conn)
        .await
        .map(|_| ())
    }

    /// Whether `user_id` was removed from the organization and not brought back since.
    pub async fn was_removed(conn: &mut AsyncPgConnection, id: Uuid, user_id: Uuid) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(
            organization_removals::table
                .filter(organization_removals::organization_id.eq(id))
                .filter(organization_removals::user_id.eq(user_id)),
        ))
        .get_result(conn)
        .await
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
