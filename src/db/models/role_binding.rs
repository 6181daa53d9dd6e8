//! `role_bindings`: (principal, scope object, role).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{role_bindings, team_members};

/// A role binding row.
#[derive(Debug, Clone, Queryable, Selectable, Identifiable)]
#[diesel(table_name = role_bindings, check_for_backend(diesel::pg::Pg))]
pub struct RoleBindingRow {
    /// Primary key.
    pub id: Uuid,
    /// Role name (`WORKSPACE_ADMIN`, …).
    pub role: String,
    /// Principal: a user…
    pub user_id: Option<Uuid>,
    /// …or a team…
    pub team_id: Option<Uuid>,
    /// …or a service account.
    pub service_account_id: Option<Uuid>,
    /// `SYSTEM`, `ORGANIZATION`, `WORKSPACE` or `DEPLOYMENT`.
    pub scope: String,
    /// Scope object for organization bindings.
    pub organization_id: Option<Uuid>,
    /// Scope object for workspace bindings.
    pub workspace_id: Option<Uuid>,
    /// Scope object for deployment bindings.
    pub deployment_id: Option<Uuid>,
    /// Who granted it.
    pub created_by: Option<Uuid>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Insert form of [`RoleBindingRow`].
#[derive(Debug, Insertable)]
#[diesel(table_name = role_bindings)]
pub struct NewRoleBinding<'a> {
    /// Primary key.
    pub id: Uuid,
    /// Role name.
    pub role: &'a str,
    /// User principal.
    pub user_id: Option<Uuid>,
    /// Team principal.
    pub team_id: Option<Uuid>,
    /// Service-account principal.
    pub service_account_id: Option<Uuid>,
    /// Scope name.
    pub scope: &'a str,
    /// Organization scope object.
    pub organization_id: Option<Uuid>,
    /// Workspace scope object.
    pub workspace_id: Option<Uuid>,
    /// Deployment scope object.
    pub deployment_id: Option<Uuid>,
    /// Granting user.
    pub created_by: Option<Uuid>,
}

impl RoleBindingRow {
    /// Inserts a binding.
    pub async fn insert(conn: &mut AsyncPgConnection, new: &NewRoleBinding<'_>) -> QueryResult<RoleBindingRow> {
        diesel::insert_into(role_bindings::table)
            .values(new)
            .returning(RoleBindingRow::as_returning())
            .get_result(conn)
            .await
    }

    /// The bindings a user holds directly or through any team it belongs to: one statement.
    pub async fn effective_for_user(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<Vec<RoleBindingRow>> {
        let teams = team_members::table.filter(team_members::user_id.eq(user_id)).select(team_members::team_id);
        role_bindings::table
            .filter(role_bindings::user_id.eq(user_id).or(role_bindings::team_id.eq_any(teams.nullable())))
            .select(RoleBindingRow::as_select())
            .load(conn)
            .await
    }

    /// Bindings held directly by the given users (for `User.roleBindings`).
    pub async fn direct_for_users(conn: &mut AsyncPgConnection, user_ids: &[Uuid]) -> QueryResult<Vec<RoleBindingRow>> {
        role_bindings::table
            .filter(role_bindings::user_id.eq_any(user_ids))
            .order(role_bindings::created_at)
            .select(RoleBindingRow::as_select())
            .load(conn)
            .await
    }

    /// Number of bindings with this role at organization `organization_id`.
    pub async fn count_in_organization(
        conn: &mut AsyncPgConnection,
        organization_id: Uuid,
        role: &str,
    ) -> QueryResult<i64> {
        role_bindings::table
            .filter(role_bindings::organization_id.eq(organization_id))
            .filter(role_bindings::role.eq(role))
            .count()
            .get_result(conn)
            .await
    }
}
