//! System role bindings and removing users. Invariant: the installation keeps at least one user holding
//! SYSTEM_ADMIN; changes that could break it lock the installation row first.

use chrono::{DateTime, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde_json::json;
use uuid::Uuid;

use crate::db::models::organization::lock_installation;
use crate::db::models::role_binding::RoleBindingRow;
use crate::db::models::user::User;
use crate::db::models::workspace::Workspace;
use crate::domain::audit::{self, Change};
use crate::domain::users::snapshot;
use crate::domain::{Actor, Authority, user_binding};
use crate::error::{ApiError, ApiResult};
use crate::rbac::{Role, Scope, ScopeRef};

fn system_role(role: Role) -> ApiResult<Role> {
    if role.scope() == Some(Scope::System) {
        Ok(role)
    } else {
        Err(ApiError::bad_input(
            "role",
            format!("{role} is not a system role (SYSTEM_ADMIN, SYSTEM_EDITOR or SYSTEM_VIEWER)"),
        ))
    }
}

async fn keep_one_system_admin(tx: &mut AsyncPgConnection) -> ApiResult<()> {
    let admins = RoleBindingRow::count_users_with_system_role(tx, Role::SystemAdmin.as_str()).await?;
    if admins <= 1 {
        return Err(ApiError::conflict("The installation must keep at least one SYSTEM_ADMIN"));
    }
    Ok(())
}

/// Gives `user_id` the system role `role`. A user holds at most one system role; granting another
/// replaces it.
pub async fn grant(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    role: Role,
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<RoleBindingRow> {
    let role = system_role(role)?;
    authority.require_grantable(conn, role, ScopeRef::System).await?;
    conn.transaction(async |tx| {
        lock_installation(tx).await?;
        User::find(tx, user_id).await?.ok_or(ApiError::NotFound)?;
        // One system binding per user (unique index): replace it, or add one.
        let (binding, before) = match RoleBindingRow::user_system_binding_for_update(tx, user_id).await? {
            Some(row) => {
                let held: Role = row.role.parse().map_err(ApiError::internal)?;
                if held == role {
                    return Err(ApiError::conflict(format!("The user already holds {role}")));
                }
                authority.require_grantable(tx, held, ScopeRef::System).await?;
                if held == Role::SystemAdmin {
                    keep_one_system_admin(tx).await?;
                }
                (RoleBindingRow::set_role(tx, row.id, role.as_str()).await?, Some(held))
            }
            None => (RoleBindingRow::insert(tx, &user_binding(role, user_id, None, actor.user_id)).await?, None),
        };
        audit::record(
            tx,
            actor,
            Change {
                action: "systemRole.grant",
                target_type: "user",
                target_id: Some(user_id),
                before: before.map(|r| json!({"role": r.as_str()})),
                after: Some(json!({"role": role.as_str()})),
                ..Change::default()
            },
        )
        .await?;
        Ok(binding)
    })
    .await
}

/// Takes the system role `role` from `user_id`.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    role: Role,
    authority: &Authority,
    actor: &Actor,
) -> ApiResult<RoleBindingRow> {
    let role = system_role(role)?;
    authority.require_grantable(conn, role, ScopeRef::System).await?;
    conn.transaction(async |tx| {
        lock_installation(tx).await?;
        let row =
            RoleBindingRow::user_system_role_for_update(tx, user_id, role.as_str()).await?.ok_or(ApiError::NotFound)?;
        if role == Role::SystemAdmin {
            keep_one_system_admin(tx).await?;
        }
        RoleBindingRow::delete(tx, row.id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "systemRole.revoke",
                target_type: "user",
                target_id: Some(user_id),
                before: Some(json!({"role": role.as_str()})),
                ..Change::default()
            },
        )
        .await?;
        Ok(row)
    })
    .await
}

/// Deletes a user. Refused (CONFLICT) when it is the last SYSTEM_ADMIN, the only user holding
/// WORKSPACE_ADMIN of a workspace, or the only one holding ORGANIZATION_OWNER of an organization.
pub async fn remove_user(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    _now: DateTime<Utc>,
    actor: &Actor,
) -> ApiResult<User> {
    conn.transaction(async |tx| {
        lock_installation(tx).await?;
        let user = User::find_for_update(tx, user_id).await?.ok_or(ApiError::NotFound)?;
        if RoleBindingRow::user_system_role_for_update(tx, user_id, Role::SystemAdmin.as_str()).await?.is_some() {
            keep_one_system_admin(tx).await?;
        }
        // Lock the workspaces this user administers (in id order, so concurrent removals cannot deadlock),
        // then re-count their admins.
        let mut administered = RoleBindingRow::workspaces_where_sole_admin(tx, user_id).await?;
        administered.sort();
        for workspace_id in &administered {
            Workspace::find_for_update(tx, *workspace_id).await?;
        }
        let sole = RoleBindingRow::workspaces_where_sole_admin(tx, user_id).await?;
        if !sole.is_empty() {
            return Err(ApiError::conflict(format!(
                "The user is the only WORKSPACE_ADMIN of {} workspace(s); make someone else admin first",
                sole.len()
            )));
        }
        // The same for the organizations they own (SPEC §1: an organization always keeps an owner).
        let mut owned = RoleBindingRow::organizations_where_sole_owner(tx, user_id).await?;
        owned.sort();
        for organization_id in &owned {
            crate::db::models::organization::Organization::find_for_update(tx, *organization_id).await?;
        }
        let sole_owner = RoleBindingRow::organizations_where_sole_owner(tx, user_id).await?;
        if !sole_owner.is_empty() {
            return Err(ApiError::conflict(format!(
                "The user is the only ORGANIZATION_OWNER of {} organization(s); make someone else owner first",
                sole_owner.len()
            )));
        }
        User::delete(tx, user_id).await?;
        audit::record(
            tx,
            actor,
            Change {
                action: "user.delete",
                target_type: "user",
                target_id: Some(user_id),
                before: Some(snapshot(&user)),
                ..Change::default()
            },
        )
        .await?;
        Ok(user)
    })
    .await
}
