//! `custom_roles`: an organization's own workspace and deployment roles (docs/custom-roles.md).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{custom_roles, deployments, role_bindings};

/// A custom role row.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = custom_roles, check_for_backend(diesel::pg::Pg))]
pub struct CustomRoleRow {
    /// Primary key.
    pub id: Uuid,
    /// The organization that defined it (and the only one where it can be held).
    pub organization_id: Uuid,
    /// `WORKSPACE` or `DEPLOYMENT`.
    pub scope: String,
    /// Name, unique per organization and scope (case-insensitively).
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Permission strings, all of the role's scope.
    pub permissions: Vec<String>,
    /// Who defined it.
    pub created_by: Option<Uuid>,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Insert form of [`CustomRoleRow`].
#[derive(Debug, Insertable)]
#[diesel(table_name = custom_roles)]
pub struct NewCustomRole<'a> {
    /// Primary key.
    pub id: Uuid,
    /// Organization.
    pub organization_id: Uuid,
    /// Scope name.
    pub scope: &'a str,
    /// Name.
    pub name: &'a str,
    /// Description.
    pub description: Option<&'a str>,
    /// Permission strings.
    pub permissions: &'a [String],
    /// Creator.
    pub created_by: Option<Uuid>,
}

/// Change form of [`CustomRoleRow`]: `None` leaves a field as it is.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = custom_roles)]
pub struct CustomRoleChanges {
    /// New name.
    pub name: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// New permissions.
    pub permissions: Option<Vec<String>>,
    /// When.
    pub updated_at: Option<DateTime<Utc>>,
}

impl CustomRoleRow {
    /// Inserts a role; `None` when the organization has a role of that scope and name already.
    pub async fn insert(conn: &mut AsyncPgConnection, new: &NewCustomRole<'_>) -> QueryResult<Option<CustomRoleRow>> {
        diesel::insert_into(custom_roles::table)
            .values(new)
            .on_conflict_do_nothing()
            .returning(CustomRoleRow::as_returning())
            .get_result(conn)
            .await
            .optional()
    }

    /// The roles with these ids.
    pub async fn find_many(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<CustomRoleRow>> {
        custom_roles::table.filter(custom_roles::id.eq_any(ids)).select(CustomRoleRow::as_select()).load(conn).await
    }

    /// A role, locked for change or deletion (`FOR UPDATE`).
    pub async fn find_for_update(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<CustomRoleRow>> {
        custom_roles::table.find(id).select(CustomRoleRow::as_select()).for_update().first(conn).await.optional()
    }

    /// A role, locked against change and deletion while a binding to it is written (`FOR SHARE`):
    /// concurrent grants of one role do not wait for each other, a deletion waits for them (and then sees
    /// their bindings).
    pub async fn find_for_share(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<CustomRoleRow>> {
        custom_roles::table.find(id).select(CustomRoleRow::as_select()).for_share().first(conn).await.optional()
    }

    /// The roles with these ids, each locked `FOR SHARE` (as [`CustomRoleRow::find_for_share`]), in id
    /// order: every transaction that locks several roles at once takes them in the same order.
    pub async fn find_many_for_share(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<CustomRoleRow>> {
        custom_roles::table
            .filter(custom_roles::id.eq_any(ids))
            .order(custom_roles::id)
            .select(CustomRoleRow::as_select())
            .for_share()
            .load(conn)
            .await
    }

    /// An organization's roles, by scope then name.
    pub async fn of_organization(
        conn: &mut AsyncPgConnection,
        organization_id: Uuid,
        limit: i64,
    ) -> QueryResult<Vec<CustomRoleRow>> {
        custom_roles::table
            .filter(custom_roles::organization_id.eq(organization_id))
            .order((custom_roles::scope.desc(), custom_roles::name, custom_roles::id))
            .limit(limit)
            .select(CustomRoleRow::as_select())
            .load(conn)
            .await
    }

    /// Applies `changes`; `None` when the new name is taken in the organization and scope.
    pub async fn update(
        conn: &mut AsyncPgConnection,
        id: Uuid,
        changes: &CustomRoleChanges,
    ) -> QueryResult<Option<CustomRoleRow>> {
        match diesel::update(custom_roles::table.find(id))
            .set(changes)
            .returning(CustomRoleRow::as_returning())
            .get_result(conn)
            .await
        {
            Ok(row) => Ok(Some(row)),
            Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
                Ok(None)
            }
            Err(other) => Err(other),
        }
    }

    /// Deletes a role.
    pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
        diesel::delete(custom_roles::table.find(id)).execute(conn).await
    }

    /// How many role bindings and pending invites hold role `id`. Bindings on deleted deployments do not
    /// count: nobody can use them or give their holders another role ([`CustomRoleRow::drop_leftovers`]).
    pub async fn uses(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<(i64, i64)> {
        let live = deployments::table.filter(deployments::deleted_at.is_null()).select(deployments::id);
        let bindings: i64 = role_bindings::table
            .filter(role_bindings::custom_role_id.eq(id))
            .filter(role_bindings::deployment_id.is_null().or(role_bindings::deployment_id.eq_any(live.nullable())))
            .count()
            .get_result(conn)
            .await?;
        // An invite holds it as its workspace role, or as a deployment role it carries
        // (`[{"deploymentId", "role", "customRoleId"}]`) on a live deployment: entries on deleted
        // deployments grant nothing when the invite is accepted, as bindings on them are not counted.
        #[derive(QueryableByName)]
        struct Count {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let pending = diesel::sql_query(
            "SELECT count(*) AS n FROM invites i \
             WHERE i.custom_role_id = $1 \
                OR (i.deployment_roles @> jsonb_build_array(jsonb_build_object('customRoleId', $1::text)) \
                    AND EXISTS (SELECT 1 FROM jsonb_array_elements(i.deployment_roles) e \
                                JOIN deployments d ON d.id::text = e->>'deploymentId' AND d.deleted_at IS NULL \
                                WHERE e->>'customRoleId' = $1::text))",
        )
        .bind::<diesel::sql_types::Uuid, _>(id)
        .get_result::<Count>(conn)
        .await?
        .n;
        Ok((bindings, pending))
    }

    /// Deletes the bindings of role `id` left on deleted deployments (before the role itself goes); the
    /// number deleted.
    pub async fn drop_leftovers(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<usize> {
        let deleted = deployments::table.filter(deployments::deleted_at.is_not_null()).select(deployments::id);
        diesel::delete(
            role_bindings::table
                .filter(role_bindings::custom_role_id.eq(id))
                .filter(role_bindings::deployment_id.eq_any(deleted.nullable())),
        )
        .execute(conn)
        .await
    }
}
